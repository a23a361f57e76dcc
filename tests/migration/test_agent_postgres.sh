#!/usr/bin/env bash
# The agent's production deployment (docs/OPERATIONS.md, "PostgreSQL"): its
# database on PostgreSQL, its schema made by its own SQLAlchemy models
# (timestamptz, native enums, uix_note_account; a stand-in written to
# ../shared/GRANOLA.md), a note it already processed. host_stub and
# granola.so get nothing but PA_DATABASE__URL, as the agent's container
# would give them. Checks: exactly the new notes become tasks, once; the
# agent's SQLAlchemy reads every row the plugin wrote and finds the
# plugin's notes processed; the agent's own rows are untouched; no host
# connection is left after each run.
#
#   test_agent_postgres.sh BUILD_DIR SOURCE_DIR   (the server: BUILD_DIR/pg/url)
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
admin=$(cat "$build/pg/url")
name="pa_agent_$$"
work=$(mktemp -d /tmp/pa-agent-pg.XXXXXX)
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
    psql -q "$admin" -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "agent_postgres: FAILED: $*" >&2; exit 1; }
chmod 0755 "$work"
psql -q "$admin" -c "CREATE DATABASE $name"
url="${admin%/*}/$name"
# As the agent's config spells it: SQLAlchemy's URL with its driver.
agent_url="postgresql+psycopg2://${url#postgresql://}"
py=/usr/bin/python3 # Debian's, with python3-sqlalchemy and python3-psycopg2

cat >"$work/agent_models.py" <<'PY'
"""A stand-in for the agent's models (../shared/GRANOLA.md), SQLAlchemy 1.4 and 2.0."""
import enum
from sqlalchemy import (Column, DateTime, Enum, Float, Integer, String, Text,
                        UniqueConstraint, func)
from sqlalchemy.orm import declarative_base

Base = declarative_base()

class TaskStatus(enum.Enum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"

class TaskPriority(enum.Enum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"

class TaskSource(enum.Enum):
    MANUAL = "manual"
    GMAIL = "gmail"
    GRANOLA = "granola"

class Task(Base):
    __tablename__ = "tasks"
    id = Column(Integer, primary_key=True)
    title = Column(String(500), nullable=False)
    description = Column(Text)
    status = Column(Enum(TaskStatus), nullable=False, default=TaskStatus.PENDING)
    priority = Column(Enum(TaskPriority), nullable=False)
    source = Column(Enum(TaskSource), nullable=False)
    priority_score = Column(Float, nullable=False, default=0.0)
    due_date = Column(DateTime)
    created_at = Column(DateTime, server_default=func.current_timestamp(), nullable=False)
    updated_at = Column(DateTime, server_default=func.current_timestamp(), nullable=False)
    source_reference = Column(String(500))
    account_id = Column(String(100))
    tags = Column(String(500))

class ProcessedGranolaNote(Base):
    __tablename__ = "processed_granola_notes"
    __table_args__ = (UniqueConstraint("note_id", "account_id", name="uix_note_account"),)
    id = Column(Integer, primary_key=True)
    note_id = Column(String(200), nullable=False)
    workspace_id = Column(String(200), nullable=False)
    account_id = Column(String(100), nullable=False)
    note_title = Column(String(500), nullable=False)
    note_created_at = Column(DateTime(timezone=True), nullable=False)
    processed_at = Column(DateTime(timezone=True), server_default=func.current_timestamp(),
                          nullable=False)
    tasks_created_count = Column(Integer, nullable=False)
PY

# ---- the agent's world --------------------------------------------------------
PYTHONPATH="$work" "$py" - "$agent_url" <<'PY' || fail "creating the agent's schema"
import datetime, sys
from sqlalchemy import create_engine
from sqlalchemy.orm import Session
from agent_models import Base, ProcessedGranolaNote, Task, TaskPriority, TaskSource
engine = create_engine(sys.argv[1])
Base.metadata.create_all(engine)
utc = datetime.timezone.utc
with Session(engine) as s:
    s.add(Task(title="Review meeting: Q3 roadmap review", priority=TaskPriority.MEDIUM,
               source=TaskSource.GRANOLA, source_reference="9f1c2a7e-demo-0001",
               account_id="work", tags="meeting-notes,granola"))
    s.add(ProcessedGranolaNote(note_id="9f1c2a7e-demo-0001", workspace_id="work",
                               account_id="work", note_title="Q3 roadmap review",
                               note_created_at=datetime.datetime(2026, 11, 26, 10, tzinfo=utc),
                               tasks_created_count=1))
    s.commit()
PY
"$build/tests/fake_granola/fake_granola" --era dual \
    --fixture "$src/tests/fake_granola/sample_fixture.json" >"$work/server.out" &
server_pid=$!
for _ in $(seq 50); do grep -q listening "$work/server.out" 2>/dev/null && break; sleep 0.1; done
port=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/server.out")
[ -n "$port" ] || fail "fake Granola server did not start"
umask 077
printf '{"access_token": "agent-token", "expires_at": "2099-01-01T00:00:00.000000+00:00"}\n' \
    >"$work/token.json"
umask 022
mkdir -m 0755 "$work/plugins"
install -m 0755 "$build/plugins/granola.so" "$work/plugins/"
cat >"$work/host.json" <<JSON
{ "plugins": { "granola": { "instances": [
    { "id": "work", "workspace_id": "work", "lookback_days": 7,
      "token_path": "$work/token.json", "server_url": "http://127.0.0.1:$port/mcp" } ] } } }
JSON

host_connections() {
    psql -At "$admin" -c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$name'
                          AND application_name LIKE 'host_stub/%'"
}
for run in 1 2; do
    PA_DATABASE__URL="$agent_url" "$build/host_stub/host_stub" --plugins "$work/plugins" \
        --config "$work/host.json" --polls 1 >"$work/tasks$run.jsonl" 2>"$work/host$run.log" ||
        { cat "$work/host$run.log" >&2; fail "host_stub run $run"; }
    [ "$(host_connections)" = 0 ] || fail "run $run left $(host_connections) connection(s)"
    "$py" "$src/examples/consume_tasks.py" --db "$agent_url" --until-empty >"$work/claimed$run.jsonl" ||
        fail "consume_tasks run $run"
done
grep -q "database: PostgreSQL postgresql+psycopg2://pa@127.0.0.1:.* (from PA_DATABASE__URL)" \
    "$work/host1.log" || fail "the database was not the agent's: $(head -3 "$work/host1.log")"
! grep -q "poll failed" "$work"/host*.log || fail "a poll failed: $(grep 'poll failed' "$work"/host*.log)"

# ---- the agent reads what the plugin wrote ------------------------------------
cd "$work"
PYTHONPATH="$work" "$py" - "$agent_url" <<'PY' || fail "checks"
import datetime, json, sys
from sqlalchemy import create_engine, inspect
from sqlalchemy.orm import Session
from agent_models import ProcessedGranolaNote, Task
def lines(path):
    return [json.loads(l) for l in open(path) if l.strip()]
t1, t2, c1, c2 = (lines(p) for p in ("tasks1.jsonl", "tasks2.jsonl", "claimed1.jsonl", "claimed2.jsonl"))
refs = sorted(t["source_reference"] for t in t1)
assert "9f1c2a7e-demo-0001" not in refs, "the note the agent processed was emitted again"
assert len(refs) == len(set(refs)) == 3, refs
assert sorted(i["source_reference"] for i in c1) == refs, "claimed != emitted"
assert t2 == [] and c2 == [], "the second run emitted or delivered something"
engine = create_engine(sys.argv[1])
cols = {c["name"]: str(c["type"]) for c in inspect(engine).get_columns("processed_granola_notes")}
assert cols["note_created_at"] == "TIMESTAMP" and cols["processed_at"] == "TIMESTAMP", cols
with Session(engine) as s:
    notes = s.query(ProcessedGranolaNote).order_by(ProcessedGranolaNote.id).all()
    assert len(notes) == 4, [n.note_id for n in notes]
    for n in notes:
        assert n.note_created_at.tzinfo is not None and n.processed_at.tzinfo is not None, n.note_id
        assert n.note_title and n.tasks_created_count == 1, n.note_id
    # The agent's own check before it processes a note: the plugin's are found.
    for ref in refs:
        assert s.query(ProcessedGranolaNote).filter_by(note_id=ref, account_id="work").first()
    agent_tasks = s.query(Task).all()
    assert len(agent_tasks) == 1 and agent_tasks[0].source.name == "GRANOLA", agent_tasks
print("agent_postgres: 3 new notes emitted once, the agent's note skipped, every row read "
      "back by the agent's SQLAlchemy (timestamptz), no host connection left")
PY
