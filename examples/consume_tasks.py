#!/usr/bin/env python3
"""Claim host_stub's new tasks exactly once, shaped like the agent's ActionableItem.

host_stub writes every task to the pa_tasks table of the agent's database
(docs/TASKS.md, schema_version 1). A consumer claims undelivered rows by
setting delivered_at in one transaction, so two consumers never get the same
task: on SQLite UPDATE ... RETURNING under BEGIN IMMEDIATE, on PostgreSQL
UPDATE ... RETURNING over rows locked FOR UPDATE SKIP LOCKED.

For exactly-once delivery into tables of the same database, claim inside the
transaction that stores them, and keep it short (it holds SQLite's write lock;
the agent itself takes tasks through pa_plugins' claims instead):

    conn = connect("agent.db")
    with claimed_tasks(conn) as items:      # BEGIN IMMEDIATE ... COMMIT
        for item in items:
            store_in_agent(conn, item)      # same connection, same transaction

If anything raises inside the block, the transaction rolls back and the tasks
stay undelivered for the next call. As a command it prints each claimed task
as one JSON line and commits:

    consume_tasks.py --db agent.db [--limit 100] [--until-empty]
    consume_tasks.py --db postgresql://... [--until-empty] [--listen SECONDS]

On PostgreSQL host_stub announces new tasks with NOTIFY pa_tasks at commit;
--listen waits for that (up to SECONDS) instead of polling when nothing is
left. SQLite: the standard library only (Python 3.8+, SQLite 3.35+ for
RETURNING). PostgreSQL: psycopg2 (Debian: python3-psycopg2).
"""
import argparse
import contextlib
import datetime
import json
import select
import sqlite3
import sys

SCHEMA_VERSION = 1
COLUMNS = ("id", "plugin", "instance", "type", "title", "description", "priority", "source",
           "source_reference", "account_id", "due_date", "tags", "metadata", "created_at")


def is_postgres(db):
    return db.startswith(("postgresql://", "postgres://", "postgresql+"))


def connect(db, timeout=30.0):
    """A connection in autocommit mode: transactions are explicit."""
    if is_postgres(db):
        import psycopg2  # only a PostgreSQL consumer needs it
        url = "postgresql://" + db.split("://", 1)[1]  # SQLAlchemy's +driver dropped
        conn = psycopg2.connect(url, connect_timeout=int(timeout), application_name="consume_tasks")
        conn.autocommit = True
        return conn
    conn = sqlite3.connect(db, timeout=timeout, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = %d" % int(timeout * 1000))
    return conn


def _pg(conn):
    return not isinstance(conn, sqlite3.Connection)


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
    if _pg(conn):
        cur = conn.cursor()
        cur.execute("BEGIN")
        claim = ("UPDATE pa_tasks SET delivered_at = %(now)s WHERE id IN (SELECT id FROM"
                 " pa_tasks WHERE delivered_at IS NULL AND (claim_until IS NULL OR"
                 " claim_until <= %(now)s) ORDER BY id LIMIT %(limit)s FOR UPDATE SKIP LOCKED)"
                 " RETURNING ")
    else:
        cur = conn
        cur.execute("BEGIN IMMEDIATE")
        claim = ("UPDATE pa_tasks SET delivered_at = :now WHERE id IN (SELECT id FROM pa_tasks"
                 " WHERE delivered_at IS NULL AND (claim_until IS NULL OR claim_until <= :now)"
                 " ORDER BY id LIMIT :limit) RETURNING ")
    try:
        # Tasks a claim holds (docs/TASKS.md, "Claims") are skipped until it ends.
        rows = cur.execute(claim + ", ".join(COLUMNS), {"now": now, "limit": limit})
        rows = (cur if _pg(conn) else rows).fetchall()
        rows.sort(key=lambda r: r[0])
        yield [as_actionable_item(r) for r in rows]
    except BaseException:
        cur.execute("ROLLBACK")
        raise
    cur.execute("COMMIT")


def wait_for_tasks(conn, seconds):
    """PostgreSQL: waits up to seconds for host_stub's NOTIFY pa_tasks; True if one came."""
    cur = conn.cursor()
    cur.execute("LISTEN pa_tasks")
    if select.select([conn], [], [], seconds) == ([], [], []):
        return False
    conn.poll()
    del conn.notifies[:]
    return True


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True,
                        help="the database host_stub writes: a SQLite file or a postgresql:// URL")
    parser.add_argument("--limit", type=int, default=100, help="tasks per transaction")
    parser.add_argument("--until-empty", action="store_true",
                        help="keep claiming until no undelivered task is left")
    parser.add_argument("--listen", type=float, metavar="SECONDS",
                        help="PostgreSQL: when nothing is left, wait this long for NOTIFY pa_tasks")
    args = parser.parse_args(argv)
    if args.limit < 1:
        parser.error("--limit must be at least 1")
    if args.listen is not None and not is_postgres(args.db):
        parser.error("--listen needs a PostgreSQL database")
    try:
        conn = connect(args.db)
    except Exception as e:  # sqlite3.Error or psycopg2.Error: the message says which
        print("consume_tasks: cannot connect: %s" % str(e).strip(), file=sys.stderr)
        return 1
    try:
        while True:
            with claimed_tasks(conn, args.limit) as items:
                for item in items:
                    print(json.dumps(item, ensure_ascii=False))
            sys.stdout.flush()
            if items and args.until_empty:
                continue
            if not items and args.listen is not None and wait_for_tasks(conn, args.listen):
                continue
            return 0
    except Exception as e:
        print("consume_tasks: %s" % str(e).strip(), file=sys.stderr)
        return 1
    finally:
        conn.close()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
