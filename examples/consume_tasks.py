#!/usr/bin/env python3
"""Claim host_stub's new tasks exactly once, shaped like the agent's ActionableItem.

host_stub writes every task to the pa_tasks table of the agent's database
(docs/TASKS.md, schema_version 1). A consumer claims undelivered rows by
setting delivered_at in one transaction (UPDATE ... RETURNING under BEGIN
IMMEDIATE), so two consumers never get the same task.

For exactly-once delivery into the agent's own tables, claim inside the
transaction that stores them:

    conn = connect("agent.db")
    with claimed_tasks(conn) as items:      # BEGIN IMMEDIATE ... COMMIT
        for item in items:
            store_in_agent(conn, item)      # same connection, same transaction

If anything raises inside the block, the transaction rolls back and the tasks
stay undelivered for the next call. As a command it prints each claimed task
as one JSON line and commits:

    consume_tasks.py --db agent.db [--limit 100] [--until-empty]

Standard library only (Python 3.8+, SQLite 3.35+ for RETURNING).
"""
import argparse
import contextlib
import datetime
import json
import sqlite3
import sys

SCHEMA_VERSION = 1
COLUMNS = ("id", "plugin", "instance", "type", "title", "description", "priority", "source",
           "source_reference", "account_id", "due_date", "tags", "metadata", "created_at")


def connect(path, timeout=30.0):
    """A connection in autocommit mode: transactions are explicit."""
    conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = %d" % int(timeout * 1000))
    return conn


def as_actionable_item(row):
    """One pa_tasks row as a dict shaped like the agent's ActionableItem."""
    task = dict(zip(COLUMNS, row))
    return {
        "type": task["type"],
        "title": task["title"],
        "description": task["description"] or "",
        "priority": task["priority"],
        "source": task["source"],
        "source_reference": task["source_reference"],
        "account_id": task["account_id"],
        "due_date": task["due_date"],
        "tags": json.loads(task["tags"]),
        "metadata": json.loads(task["metadata"]) if task["metadata"] else {},
        "task_id": task["id"],
        "plugin": task["plugin"],
        "instance": task["instance"],
        "created_at": task["created_at"],
    }


@contextlib.contextmanager
def claimed_tasks(conn, limit=100):
    """Claims up to limit undelivered tasks; commits on a clean exit, else rolls back."""
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    conn.execute("BEGIN IMMEDIATE")
    try:
        rows = conn.execute(
            "UPDATE pa_tasks SET delivered_at = ? WHERE id IN (SELECT id FROM pa_tasks"
            " WHERE delivered_at IS NULL ORDER BY id LIMIT ?) RETURNING " + ", ".join(COLUMNS),
            (now, limit)).fetchall()
        rows.sort(key=lambda r: r[0])
        yield [as_actionable_item(r) for r in rows]
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True, help="the SQLite database host_stub writes")
    parser.add_argument("--limit", type=int, default=100, help="tasks per transaction")
    parser.add_argument("--until-empty", action="store_true",
                        help="keep claiming until no undelivered task is left")
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error("--limit must be at least 1")
    conn = connect(args.db)
    try:
        while True:
            with claimed_tasks(conn, args.limit) as items:
                for item in items:
                    print(json.dumps(item, ensure_ascii=False))
            sys.stdout.flush()
            if not args.until_empty or not items:
                return 0
    except sqlite3.Error as e:
        print("consume_tasks: %s: %s" % (args.db, e), file=sys.stderr)
        return 1
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
