"""pa_plugins.tasks.TaskQueue on host_stub's own tables, on SQLite and PostgreSQL."""

import datetime
import logging
import threading

import pytest

from pa_plugins.tasks import HostTablesMissing, TaskQueue, bind_scope

SECOND = datetime.timedelta(seconds=1)


def queue(db, **kw):
    kw.setdefault("visibility_timeout", datetime.timedelta(minutes=5))
    return TaskQueue(bind_scope(db.engine), source="granola", account_id="work", **kw)


def expire_claims(db):
    """Every running claim ends, as the visibility timeout passing would end it."""
    db.execute("UPDATE pa_tasks SET claim_until = '2000-01-01T00:00:00.000000Z'"
               " WHERE claim_until IS NOT NULL")


def test_claims_its_own_source_and_account_in_order_then_acknowledges(database):
    ids = [database.add_task("n-%d" % i) for i in range(3)]
    database.add_task("other-account", account="home")
    database.add_task("other-source", source="slack")
    q = queue(database)
    token, tasks = q.claim()
    assert [t["id"] for t in tasks] == ids
    assert tasks[0]["tags"] == ["meeting-notes", "granola"]
    assert tasks[0]["metadata"] == {"note_id": "n-0"}
    assert queue(database).claim()[1] == []  # claimed: invisible to everyone else
    assert q.ack(token) == 3
    assert database.scalar("SELECT count(*) FROM pa_tasks WHERE delivered_at IS NOT NULL") == 3
    assert database.scalar("SELECT max(claims) FROM pa_tasks") == 1
    assert q.claim()[1] == []


def test_a_claim_that_expires_is_handed_out_again(database):
    database.add_task("n-1")
    q = queue(database, visibility_timeout=SECOND)
    first, tasks = q.claim()
    assert len(tasks) == 1
    assert q.claim()[1] == []
    expire_claims(database)
    second, again = q.claim()
    assert [t["id"] for t in again] == [tasks[0]["id"]]
    assert q.ack(first) == 0  # the first holder's claim was taken over: its ack does nothing
    assert q.ack(second) == 1
    assert database.scalar("SELECT claims FROM pa_tasks") == 2


def test_release_makes_a_task_visible_at_once(database):
    database.add_task("n-1")
    q = queue(database)
    token, tasks = q.claim()
    assert q.release(token, [tasks[0]["id"]]) == 1
    assert len(q.claim()[1]) == 1


def test_what_the_agent_made_something_of_is_not_handed_out_again(database):
    made, suggested, untouched = (database.add_task(r) for r in ("n-made", "n-sugg", "n-none"))
    q = queue(database)
    q.claim()
    # The agent created a task from one (source AGENT, no account: as it files them) and a
    # suggestion from another, then died before acknowledging.
    database.execute("INSERT INTO tasks (title, status, priority, source, priority_score,"
                     " source_reference) VALUES ('t', 'PENDING', 'MEDIUM', 'AGENT', 50, 'n-made')")
    database.execute("INSERT INTO pending_suggestions (title, source, source_reference)"
                     " VALUES ('s', 'granola', 'n-sugg')")
    expire_claims(database)
    token, again = q.claim()
    assert [t["id"] for t in again] == [untouched]
    for task_id in (made, suggested):
        assert database.scalar("SELECT count(*) FROM pa_tasks WHERE id = :i"
                               " AND delivered_at IS NOT NULL", i=task_id) == 1


def test_a_task_is_given_up_after_max_deliveries_and_said_so(database, caplog):
    task_id = database.add_task("n-poison")
    q = queue(database, max_deliveries=2)
    for _ in range(2):
        assert len(q.claim()[1]) == 1
        expire_claims(database)
    with caplog.at_level(logging.ERROR, logger="pa_plugins"):
        assert q.claim()[1] == []
    assert "task %d (granola n-poison) was handed to the agent 2 times" % task_id in caplog.text
    assert database.scalar("SELECT count(*) FROM pa_tasks WHERE delivered_at IS NOT NULL") == 1


def test_two_consumers_never_hold_the_same_task(database):
    total = 60
    for i in range(total):
        database.add_task("n-%03d" % i)
    got = {0: [], 1: []}
    errors = []

    def consume(k):
        try:
            q = queue(database, limit=3)
            while True:
                token, tasks = q.claim()
                if not tasks:
                    return
                got[k].extend(t["id"] for t in tasks)
                assert q.ack(token) == len(tasks)
        except Exception as e:  # reported below, in the test's own thread
            errors.append(e)

    threads = [threading.Thread(target=consume, args=(k,)) for k in got]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors
    assert sorted(got[0] + got[1]) == sorted(set(got[0] + got[1]))
    assert len(got[0]) + len(got[1]) == total


def test_a_database_without_host_tables_is_named(tmp_path):
    from sqlalchemy import create_engine

    engine = create_engine("sqlite:///%s" % (tmp_path / "empty.db"))

    class Db:
        pass

    db = Db()
    db.engine = engine
    with pytest.raises(HostTablesMissing, match="start host_stub on it once"):
        queue(db).claim()
    engine.dispose()


def test_arguments_are_checked():
    with pytest.raises(ValueError):
        TaskQueue(lambda: None, source="granola", account_id="w",
                  visibility_timeout=datetime.timedelta(0))
    with pytest.raises(ValueError):
        TaskQueue(lambda: None, source="granola", account_id="w", limit=0)


def test_the_one_transaction_consumer_skips_what_a_claim_holds(database):
    """examples/consume_tasks.py and the claims share pa_tasks without taking each other's."""
    import json
    import os
    import subprocess
    import sys

    from conftest import REPO

    held, free = database.add_task("n-held"), database.add_task("n-free")
    q = queue(database)
    q.limit = 1
    token, tasks = q.claim()
    assert [t["id"] for t in tasks] == [held]

    def consume():
        url = database.url if database.kind == "postgresql" else database.url[len("sqlite:///"):]
        done = subprocess.run([sys.executable, str(REPO / "examples" / "consume_tasks.py"), "--db",
                               url, "--until-empty"], capture_output=True, text=True, timeout=60,
                              env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
        assert done.returncode == 0, done.stderr
        return [json.loads(line)["task_id"] for line in done.stdout.splitlines()]

    assert consume() == [free]
    assert q.release(token) == 1
    assert consume() == [held]
    assert q.ack(token) == 0  # delivered by the other consumer meanwhile
