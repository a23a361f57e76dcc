#!/usr/bin/env bash
# docs/MIGRATING.md, performed: a user of the agent's own Granola integration
# switches to host_stub + granola.so. First the world such a user has: the
# agent's checkout and working directory (a stand-in of its code,
# python/tests/agent_standin, with its own manager.py and alembic files from
# tests/agent_pinned), its config.yaml (its own example file, a workspace
# added), the database its init_db makes, a task of its own, a note it
# already processed, its token file. Then the guide's steps as written,
# including a kill of the agent between claim and task creation. Then the
# checks: one agent task per new note, none lost or made twice; the agent's
# rows and tables untouched; its alembic autogenerate plans nothing; the token
# renewed in the agent's format.
#
#   test_migration.sh BUILD_DIR SOURCE_DIR [postgresql]
#   (postgresql: the agent's database on the tests' server, BUILD_DIR/pg/url)
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
engine=${3:-sqlite}
python=/usr/bin/python3 # Debian's: SQLAlchemy, alembic, psycopg2, yaml
work=$(mktemp -d /tmp/pa-migration.XXXXXX)
server_pid= host_pid= pg_name=
cleanup() {
    [ -n "$host_pid" ] && kill "$host_pid" 2>/dev/null && wait "$host_pid" 2>/dev/null
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    [ -n "$pg_name" ] && psql -q "$(cat "$build/pg/url")" \
        -c "DROP DATABASE IF EXISTS $pg_name WITH (FORCE)" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "migration ($engine): FAILED: $*" >&2; exit 1; }
chmod 0755 "$work"
export HOME="$work/home" # so ~/.personal-assistant is this test's
mkdir -p "$HOME"
agent="$work/personal-assistant" # the agent's checkout, and the directory it runs in
export PYTHONDONTWRITEBYTECODE=1 PIP_ROOT_USER_ACTION=ignore

# ---- the agent's world before the switch -------------------------------------
mkdir -p "$agent/alembic/versions"
cp -r "$src/python/tests/agent_standin/." "$agent/"
cp "$src/tests/agent_pinned/manager.py" "$agent/src/integrations/manager.py"
cp "$src/tests/agent_pinned/alembic.ini" "$agent/"
cp "$src/tests/agent_pinned/alembic/env.py" "$src/tests/agent_pinned/alembic/script.py.mako" \
    "$agent/alembic/"
if [ "$engine" = postgresql ]; then
    admin=$(cat "$build/pg/url")
    pg_name="pa_migration_$$"
    psql -q "$admin" -c "CREATE DATABASE $pg_name"
    db_url="postgresql+psycopg2://${admin#postgresql://}"
    db_url="${db_url%/*}/$pg_name"
else
    db_url="sqlite:///personal_assistant.db" # the agent's default, in its working directory
fi
# config.yaml: the agent's own example, with a workspace of the user's (spelt "Work": the
# agent lowercases it) in place of its "all".
"$python" - "$src/tests/agent_pinned/config.example.yaml" "$agent/config.yaml" "$db_url" <<'PY'
import sys, yaml
example, out, url = sys.argv[1:4]
config = yaml.safe_load(open(example))
config["database"]["url"] = url
config["granola"]["workspaces"] = [{"workspace_id": "Work", "display_name": "Work notes",
                                    "enabled": True, "lookback_days": 7,
                                    "polling_interval_minutes": 15}]
yaml.safe_dump(config, open(out, "w"), sort_keys=False)
PY

"$build/tests/fake_granola/fake_granola" --era dual --oauth \
    --fixture "$src/tests/fake_granola/sample_fixture.json" >"$work/server.out" &
server_pid=$!
for _ in $(seq 50); do grep -q listening "$work/server.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/server.out")
[ -n "$port" ] || fail "fake Granola server did not start"
server="http://127.0.0.1:$port/mcp"

# The agent logged in once; its login is played by granola_login, a browser by curl.
cat >"$work/login.json" <<JSON
{ "plugins": { "granola": { "instances": [ { "id": "work", "server_url": "$server" } ] } } }
JSON
BROWSER="curl -s -L -o /dev/null" "$build/plugin/granola/granola_login" --instance work \
    --config "$work/login.json" --port 0 --timeout 30 >"$work/login.out" 2>&1 ||
    { cat "$work/login.out" >&2; fail "the agent's login"; }

# The agent's database as its init_db makes it, then a task of its own and a note it processed.
(cd "$agent" && PYTHONPATH="$agent" "$python" agent.py --init-db --cycles 0) ||
    fail "the agent's init_db"
"$python" - "$agent" "$HOME/.personal-assistant/token.granola.json" <<'PY'
import datetime, json, os, sys
agent, token_path = sys.argv[1:3]
os.chdir(agent)
sys.path.insert(0, agent)
from src.models.database import get_db_session
from src.models import ProcessedGranolaNote, Task, TaskPriority, TaskSource
# The token file as the agent writes it: the token endpoint's reply plus expires_at
# (isoformat), no token_endpoint; a minute from expiry.
t = json.load(open(token_path))
expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=60)
json.dump({"access_token": t["access_token"], "token_type": "Bearer", "expires_in": 3600,
           "refresh_token": t["refresh_token"], "scope": "mcp offline_access",
           "client_id": t["client_id"], "expires_at": expires.isoformat()}, open(token_path, "w"))
with get_db_session() as db:
    db.add(Task(title="Review meeting: Q3 roadmap review", description="from the agent",
                priority=TaskPriority.MEDIUM, source=TaskSource.GRANOLA, priority_score=50.0,
                source_reference="9f1c2a7e-demo-0001", account_id="work",
                tags="meeting-notes,granola"))
    db.add(ProcessedGranolaNote(note_id="9f1c2a7e-demo-0001", workspace_id="work",
                                account_id="work", note_title="Q3 roadmap review",
                                note_created_at=datetime.datetime(2026, 11, 26, 10, 0,
                                                                  tzinfo=datetime.timezone.utc),
                                tasks_created_count=1))
PY
chmod 0600 "$HOME/.personal-assistant/token.granola.json"
# What the agent's rows were, to compare after; and its alembic, which has nothing to do.
snapshot() { # $1: output file. The agent's own rows, every column, in order.
    (cd "$agent" && PYTHONPATH="$agent" "$python" - "$1" <<'PY'
import json, sys
from sqlalchemy import inspect, text
from src.models.database import get_engine
with get_engine().connect() as c:
    rows = {t: [list(map(str, r)) for r in c.execute(text("SELECT * FROM %s ORDER BY id" % t))]
            for t in ("tasks", "processed_granola_notes")}
    rows["columns"] = {t: [col["name"] for col in inspect(c).get_columns(t)]
                       for t in ("tasks", "processed_granola_notes")}
json.dump(rows, open(sys.argv[1], "w"))
PY
    )
}
# The agent's autogenerate, its plan (upgrade()'s body) into $work/plan-$1. Debian's alembic
# (1.8) reports server-default differences on SQLite that the agent's own (1.18) does not, so
# the check is that the switch adds nothing to the plan, and that no pa_ table is in it.
autogenerate() { # $1: before or after
    local out
    (cd "$agent" && PYTHONPATH="$agent:${site:-}" "$python" -m alembic revision --autogenerate \
        -m "$1" >"$work/alembic-$1.log" 2>&1) || { cat "$work/alembic-$1.log" >&2; fail "alembic $1"; }
    out=$(ls "$agent"/alembic/versions/*"$1"*.py)
    sed -n '/^def upgrade/,/^def downgrade/p' "$out" | grep -v '^def ' >"$work/plan-$1"
    rm -f "$out"
}
if [ "$engine" = sqlite ]; then autogenerate before; fi
snapshot "$work/agent-before.json"

# ---- docs/MIGRATING.md ---------------------------------------------------------
cd "$agent"
# Step 0: a backup that is whole, WAL or not.
if [ "$engine" = sqlite ]; then
    sqlite3 personal_assistant.db ".backup 'personal_assistant.backup.db'"
    [ "$(sqlite3 personal_assistant.backup.db 'SELECT count(*) FROM tasks')" = 1 ] || fail "backup"
fi
# Step 1: install host_stub and granola.so, and pa_plugins into the agent's environment
# (here: a prefix and a site directory; offline, the build backend is the installed one).
cmake --install "$build" --prefix "$work/prefix" >"$work/install.log" || fail "cmake --install"
plugins=$(dirname "$(find "$work/prefix" -name granola.so | head -n 1)")
host_stub="$work/prefix/bin/host_stub"
site="$work/site"
cp -r "$src/python" "$work/pa_plugins-source"
"$python" -m pip install --quiet --no-index --no-build-isolation --no-deps --target "$site" \
    "$work/pa_plugins-source" || fail "pip install"
# Step 2: wire the agent.
patch -p1 <"$src/contrib/personal-assistant/manager.patch" >/dev/null || fail "manager.patch"
patch -p1 <"$src/contrib/personal-assistant/alembic-env.patch" >/dev/null || fail "alembic-env.patch"
# Step 3: host_stub on the agent's config.yaml, in its working directory. The test adds a
# host.json naming its fake Granola server instead of Granola's.
cat >"$work/host.json" <<JSON
{ "plugins": { "granola": { "instances": [ { "id": "work", "server_url": "$server" } ] } } }
JSON
"$host_stub" --plugins "$plugins" --agent-config --config "$work/host.json" --check-config \
    >"$work/check.out" || { cat "$work/check.out" >&2; fail "--check-config"; }
grep -q "1 instance(s) checked, 0 problem(s)" "$work/check.out" || fail "check-config: $(cat "$work/check.out")"
"$host_stub" --plugins "$plugins" --agent-config --config "$work/host.json" \
    >"$work/tasks.jsonl" 2>"$work/host.log" &
host_pid=$!
for _ in $(seq 300); do grep -q "created 3 task(s)" "$work/host.log" && break; sleep 0.1; done
grep -q "created 3 task(s)" "$work/host.log" || { cat "$work/host.log" >&2; fail "host_stub made no tasks"; }
# Step 4: the agent's poll loop, as it always runs. First killed between its claim and its
# tasks (a crash, a deploy, kill -9): nothing may be lost.
agent_run() { PYTHONPATH="$agent:$site" PA_PLUGINS_VISIBILITY_TIMEOUT_SECONDS=3 \
    "$python" agent.py "$@"; }
STANDIN_CRASH=after_poll agent_run --cycles 1 >"$work/agent-killed.out" 2>&1 &&
    fail "the agent was not killed"
agent_run --cycles 1 --check-connections >"$work/agent1.out" 2>&1 || fail "agent: $(cat "$work/agent1.out")"
grep -q "connection granola:work: ok" "$work/agent1.out" || fail "connection: $(cat "$work/agent1.out")"
grep -q "cycle 1: created 0 task(s)" "$work/agent1.out" || fail "handed out while claimed: $(cat "$work/agent1.out")"
sleep 3.2 # the visibility timeout of the killed agent's claim
agent_run --cycles 2 >"$work/agent2.out" 2>&1 || fail "agent: $(cat "$work/agent2.out")"
grep -q "cycle 1: created 3 task(s)" "$work/agent2.out" || fail "not redelivered: $(cat "$work/agent2.out")"
grep -q "cycle 2: created 0 task(s)" "$work/agent2.out" || fail "delivered twice: $(cat "$work/agent2.out")"
kill -TERM "$host_pid"
wait "$host_pid" || fail "host_stub exited $? on SIGTERM"
host_pid=
# Step 5: the agent's alembic has nothing to do on the switched database that it did not
# have before.
if [ "$engine" = sqlite ]; then
    autogenerate after
    ! grep -q "pa_\|sqlite_sequence" "$work/plan-after" || fail "alembic plans for pa_ tables: $(cat "$work/plan-after")"
    cmp -s "$work/plan-before" "$work/plan-after" ||
        fail "the switch changed the agent's autogenerate plan: $(diff "$work/plan-before" "$work/plan-after")"
fi

# ---- checks ------------------------------------------------------------------
grep -q "database: .*personal_assistant.db (from config.yaml database.url, relative to config.yaml's directory" \
    "$work/host.log" || [ "$engine" = postgresql ] || fail "the database's origin was not logged"
grep -q "discovered the token endpoint for renewal" "$work/host.log" || fail "no endpoint discovery"
grep -q "renewed the Granola token (it expires soon)" "$work/host.log" || fail "no renewal"
! grep -q "poll failed" "$work/host.log" || fail "a poll failed: $(grep 'poll failed' "$work/host.log")"
snapshot "$work/agent-after.json"
PYTHONPATH="$agent" "$python" - "$work" "$HOME/.personal-assistant/token.granola.json" <<'PY' || fail "checks"
import json, re, sys
from sqlalchemy import text
from src.models.database import get_engine
work, token_path = sys.argv[1:3]
emitted = [json.loads(l) for l in open(work + "/tasks.jsonl") if l.strip()]
refs = sorted(t["source_reference"] for t in emitted)
assert "9f1c2a7e-demo-0001" not in refs, "the note the agent processed was emitted again"
assert len(refs) == len(set(refs)) == 3, refs
assert all(t["account_id"] == "work" for t in emitted), "account not the lowercased workspace"
before, after = (json.load(open(work + p)) for p in ("/agent-before.json", "/agent-after.json"))
assert after["columns"] == before["columns"], "the agent's tables changed"
assert after["tasks"][:1] == before["tasks"], "the agent's own task changed"
with get_engine().connect() as c:
    q = lambda sql: c.execute(text(sql)).fetchall()
    made = q("SELECT source_reference, count(*) FROM tasks WHERE id > 1"
             " GROUP BY source_reference ORDER BY source_reference")
    assert [(r, n) for r, n in made] == [(r, 1) for r in refs], made  # one each: none lost, none twice
    assert q("SELECT count(*) FROM pa_tasks WHERE delivered_at IS NULL")[0][0] == 0
    counts = dict(q("SELECT note_id, tasks_created_count FROM processed_granola_notes"))
    assert all(counts[r] == 1 for r in refs) and counts["9f1c2a7e-demo-0001"] == 1, counts
    status = q("SELECT plugin, instance, running, failures FROM pa_instances")
    assert status == [("granola", "work", 0, 0)], status
# Every processed_granola_notes row reads through the agent's own model.
from src.models.database import get_db_session
from src.models import ProcessedGranolaNote
with get_db_session() as db:
    assert len([n.note_created_at for n in db.query(ProcessedGranolaNote).all()]) == 4
tok = json.load(open(token_path))
assert tok["token_type"] == "Bearer" and tok["scope"], tok.keys()
assert tok["token_endpoint"].endswith("/oauth2/token")
assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$", tok["expires_at"]), tok["expires_at"]
print("3 new notes, 3 agent tasks (one each, after a kill between claim and tasks);"
      " the agent's note skipped, its rows and tables unchanged; token renewed in its format")
PY
echo "migration ($engine): docs/MIGRATING.md performed"
