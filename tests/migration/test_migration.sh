#!/usr/bin/env bash
# docs/MIGRATING.md, performed: a user of the agent's Python Granola
# integration switches to granola.so. First the world such a user has (the
# agent's database from its own DDL, a note it already processed, a task of
# its own, its token file), then the guide's steps exactly as written, twice,
# then the checks: no note emitted twice, no token or task lost.
#
#   test_migration.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
work=$(mktemp -d /tmp/pa-migration.XXXXXX)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "migration: FAILED: $*" >&2; exit 1; }
chmod 0755 "$work"
export HOME="$work/home"          # so ~/.personal-assistant is this test's
mkdir -p "$HOME"
db="$HOME/.personal-assistant/agent.db"

# ---- the agent's world before the switch -------------------------------------
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

/usr/bin/env python3 - "$db" "$HOME/.personal-assistant/token.granola.json" <<'PY'
import datetime, json, sys, sqlite3
db, token_path = sys.argv[1], sys.argv[2]
# The token file as the agent writes it: the token endpoint's reply plus
# expires_at (isoformat), no token_endpoint; five minutes from expiry.
t = json.load(open(token_path))
expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=60)
agent = {"access_token": t["access_token"], "token_type": "Bearer", "expires_in": 3600,
         "refresh_token": t["refresh_token"], "scope": "mcp offline_access",
         "client_id": t["client_id"], "expires_at": expires.isoformat()}
with open(token_path, "w") as f:
    json.dump(agent, f)
# The agent's tables from its SQLAlchemy DDL (../shared/GRANOLA.md), one task
# of its own and one note it already turned into a task.
conn = sqlite3.connect(db)
conn.executescript("""
CREATE TABLE processed_granola_notes (
	id INTEGER NOT NULL, note_id VARCHAR(200) NOT NULL,
	workspace_id VARCHAR(200) NOT NULL, account_id VARCHAR(100) NOT NULL,
	note_title VARCHAR(500) NOT NULL, note_created_at DATETIME NOT NULL,
	processed_at DATETIME DEFAULT (CURRENT_TIMESTAMP) NOT NULL,
	tasks_created_count INTEGER NOT NULL, PRIMARY KEY (id),
	CONSTRAINT uix_note_account UNIQUE (note_id, account_id));
CREATE TABLE tasks (
	id INTEGER NOT NULL, title VARCHAR(500) NOT NULL, description TEXT,
	status VARCHAR(11) NOT NULL, priority VARCHAR(8) NOT NULL,
	source VARCHAR(13) NOT NULL, priority_score FLOAT NOT NULL,
	due_date DATETIME, created_at DATETIME DEFAULT (CURRENT_TIMESTAMP) NOT NULL,
	updated_at DATETIME DEFAULT (CURRENT_TIMESTAMP) NOT NULL, completed_at DATETIME,
	source_reference VARCHAR(500), account_id VARCHAR(100), tags VARCHAR(500),
	document_links VARCHAR(5000), initiative_id INTEGER, PRIMARY KEY (id),
	FOREIGN KEY(initiative_id) REFERENCES initiatives (id) ON DELETE SET NULL);
INSERT INTO tasks (title, description, status, priority, source, priority_score,
    created_at, updated_at, source_reference, account_id, tags)
  VALUES ('Review meeting: Q3 roadmap review', 'from the agent', 'PENDING', 'MEDIUM',
    'GRANOLA', 50.0, '2026-11-27 12:37:36.000000', '2026-11-27 12:37:36.000000',
    '9f1c2a7e-demo-0001', 'work', 'meeting-notes,granola');
INSERT INTO processed_granola_notes (note_id, workspace_id, account_id, note_title,
    note_created_at, processed_at, tasks_created_count)
  VALUES ('9f1c2a7e-demo-0001', 'work', 'work', 'Q3 roadmap review',
    '2026-11-26 10:00:00.000000', '2026-11-27 12:37:36.000000', 1);
""")
conn.commit()
PY
chmod 0600 "$HOME/.personal-assistant/token.granola.json"
cp "$db" "$work/agent-before.db"

# ---- docs/MIGRATING.md, steps 1, 3 and 4 (step 2 is the agent's own setting) ----
mkdir -m 0755 "$work/plugins"
install -m 0755 "$build/plugins/granola.so" "$work/plugins/"
cd "$work"
# Step 1, as in the guide; server_url names the fake server instead of Granola.
cat >host.json <<JSON
{ "poll_interval_seconds": 900,
  "plugins": { "granola": { "instances": [
    { "id": "work", "workspace_id": "work", "lookback_days": 7,
      "token_path": "~/.personal-assistant/token.granola.json",
      "server_url": "$server" } ] } } }
JSON
for run in 1 2; do
    # Step 3 (--polls 1 ends the run; the guide's host_stub runs until stopped).
    "$build/host_stub/host_stub" --plugins "$work/plugins" --config host.json --db "$db" \
        --polls 1 >"tasks$run.jsonl" 2>"host$run.log" || { cat "host$run.log" >&2; fail "host_stub run $run"; }
    # Step 4.
    python3 "$src/examples/consume_tasks.py" --db "$db" --until-empty >"claimed$run.jsonl" ||
        fail "consume_tasks run $run"
done

# ---- checks ------------------------------------------------------------------
grep -q "discovered the token endpoint for renewal" host1.log || fail "no endpoint discovery"
grep -q "renewed the Granola token (it expires soon)" host1.log || fail "no renewal"
! grep -q "poll failed" host1.log host2.log || fail "a poll failed: $(grep 'poll failed' host*.log)"
python3 - "$db" "$work/agent-before.db" "$HOME/.personal-assistant/token.granola.json" <<'PY' || fail "checks"
import json, re, sqlite3, sys
db, before, token_path = sys.argv[1:4]
def lines(path):
    return [json.loads(l) for l in open(path) if l.strip()]
t1, t2, c1, c2 = (lines(p) for p in ("tasks1.jsonl", "tasks2.jsonl", "claimed1.jsonl", "claimed2.jsonl"))
refs = sorted(t["source_reference"] for t in t1)
assert "9f1c2a7e-demo-0001" not in refs, "the note the agent processed was emitted again"
assert len(refs) == len(set(refs)) == 3, refs
assert sorted(i["source_reference"] for i in c1) == refs, "claimed != emitted"
assert t2 == [] and c2 == [], "the second run emitted or delivered something"
conn = sqlite3.connect(db)
assert conn.execute("SELECT count(*) FROM pa_tasks WHERE delivered_at IS NULL").fetchone()[0] == 0
assert conn.execute("SELECT count(*) FROM pa_tasks").fetchone()[0] == 3
old = sqlite3.connect(before)
q = "SELECT * FROM tasks ORDER BY id"
assert conn.execute(q).fetchall() == old.execute(q).fetchall(), "the agent's tasks changed"
q = "SELECT sql FROM sqlite_master WHERE name IN ('tasks', 'processed_granola_notes') ORDER BY name"
assert conn.execute(q).fetchall() == old.execute(q).fetchall(), "the agent's tables changed"
fmt = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$")
rows = conn.execute("SELECT note_id, note_title, note_created_at, processed_at FROM processed_granola_notes").fetchall()
assert len(rows) == 4, rows
for note, title, created, processed in rows:
    assert title and fmt.match(created) and fmt.match(processed), (note, created, processed)
tok = json.load(open(token_path))
assert tok["token_type"] == "Bearer" and tok["scope"], tok.keys()
assert tok["token_endpoint"].endswith("/oauth2/token")
assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$", tok["expires_at"]), tok["expires_at"]
print("migration: 3 notes emitted once, the agent's note skipped, tasks delivered once, "
      "token renewed and kept in the agent's format")
PY
