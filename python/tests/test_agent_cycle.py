"""The stand-in agent's poll loop, patched, in its own processes: one task per item, and kills."""

import os
import subprocess
import sys
import time

import pytest

from conftest import AGENT_TREE, HERE, run_agent


def agent_config(db, workdir, workspaces=("work",)):
    lines = ["database:", "  url: %s" % db.url, "granola:", "  enabled: true", "  workspaces:"]
    for ws in workspaces:
        lines.append("    - workspace_id: %s" % ws)
    (workdir / "config.yaml").write_text("\n".join(lines) + "\n")


def agent_tasks(db):
    return db.scalar("SELECT count(*) FROM tasks"), db.scalar(
        "SELECT count(DISTINCT source_reference) FROM tasks")


def cycle(db, *args, crash=None, timeout_seconds=None):
    env = {"PA_PLUGINS_VISIBILITY_TIMEOUT_SECONDS": str(timeout_seconds)} if timeout_seconds else {}
    done = run_agent(AGENT_TREE, db.workdir, "--cycles", "1", *args, crash=crash, env=env)
    if crash:
        assert done.returncode == 9, done.stderr
    else:
        assert done.returncode == 0, done.stderr
    return done.stdout


def test_each_new_item_becomes_one_agent_task(database):
    for i in range(3):
        database.add_task("note-%d" % i)
    agent_config(database, database.workdir)
    assert "cycle 1: created 3 task(s)" in cycle(database)
    assert agent_tasks(database) == (3, 3)
    assert database.scalar("SELECT count(*) FROM pa_tasks WHERE delivered_at IS NULL") == 0
    assert "cycle 1: created 0 task(s)" in cycle(database)
    assert agent_tasks(database) == (3, 3)


@pytest.mark.parametrize("crash", ["after_poll", "after_first_task"])
def test_a_kill_between_claim_and_acknowledgement_loses_nothing(database, crash):
    for i in range(3):
        database.add_task("note-%d" % i)
    agent_config(database, database.workdir)
    cycle(database, crash=crash, timeout_seconds=2)  # claimed, then killed
    made = 0 if crash == "after_poll" else 1
    assert agent_tasks(database) == (made, made)
    # Within the visibility timeout nothing is handed out again, to this agent or another.
    assert "created 0 task(s)" in cycle(database, timeout_seconds=2)
    time.sleep(2.2)
    assert "created %d task(s)" % (3 - made) in cycle(database, timeout_seconds=2)
    assert agent_tasks(database) == (3, 3)  # one per note: none lost, none twice
    assert database.scalar("SELECT count(*) FROM pa_tasks WHERE delivered_at IS NULL") == 0


def test_two_agents_on_one_database_make_each_task_once(database):
    total = 40
    for i in range(total):
        database.add_task("note-%02d" % i)
    agent_config(database, database.workdir)
    env = {"PYTHONPATH": "%s:%s" % (AGENT_TREE, HERE.parent)}
    procs = [subprocess.Popen([sys.executable, str(AGENT_TREE / "agent.py"), "--cycles", "3"],
                              cwd=database.workdir, env=dict(os.environ, **env),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    assert agent_tasks(database) == (total, total)
