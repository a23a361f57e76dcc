#!/usr/bin/env python3
"""Runs the stand-in agent as the agent runs: in its working directory, ./config.yaml, N cycles.

    agent.py [--cycles N] [--init-db] [--check-connections]

prints one line per cycle: "cycle K: created T task(s)".
"""

import argparse
import asyncio
import sys


def main(argv):
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=1)
    parser.add_argument("--init-db", action="store_true")
    parser.add_argument("--check-connections", action="store_true")
    args = parser.parse_args(argv)
    from src.agent.core import poll_cycle
    from src.integrations.manager import IntegrationManager
    from src.models.database import init_db
    from src.utils.config import get_config

    if args.init_db:
        init_db()
    manager = IntegrationManager(get_config())
    if args.check_connections:
        for key, ok in asyncio.run(manager.test_connections()).items():
            print("connection %s: %s" % (key, "ok" if ok else "failing"))
    for k in range(args.cycles):
        created = asyncio.run(poll_cycle(manager))
        print("cycle %d: created %d task(s)" % (k + 1, len(created)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
