# host_stub and the Granola plugin, in a container beside the agent's
# (docs/OPERATIONS.md, "In a container"; contrib/docker-compose.yml).
# Built on Debian, run on Debian slim as a non-root user. The build steps are
# scripts/container-build.sh, which CI runs on the host (ctest
# container_image, with scripts/container-smoke.sh), since no machine here
# has a docker daemon: this file itself has not been built here.
FROM debian:bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        build-essential cmake pkg-config ca-certificates \
        libsqlite3-dev libpq-dev libcurl4-openssl-dev libssl-dev libcjson-dev libyaml-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN scripts/container-build.sh /opt/pa-plugins /tmp/build

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        ca-certificates libsqlite3-0 libpq5 libcurl4 libcjson1 libyaml-0-2 libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --create-home --home-dir /home/assistant --uid 10001 assistant \
    && install -d -o assistant -g assistant -m 0700 /run/pa-plugins /data /home/assistant/.personal-assistant
COPY --from=build /opt/pa-plugins /opt/pa-plugins
ENV PATH=/opt/pa-plugins/bin:$PATH \
    HOME=/home/assistant \
    PA_CONTROL_SOCKET=/run/pa-plugins/control.sock
USER assistant
WORKDIR /data
VOLUME ["/data", "/home/assistant/.personal-assistant"]
# host_stub's own answer: 0 only when every instance is healthy (docs/OPERATIONS.md, exit codes).
HEALTHCHECK --interval=60s --timeout=15s --start-period=120s \
    CMD ["host_stub", "status", "--quiet", "--timeout", "10"]
ENTRYPOINT ["pa-plugins-entrypoint"]
# The agent's config.yaml (its Granola workspaces, its database) mounted at /config.
CMD ["--agent-config", "/config/config.yaml", "--log-format", "text"]
