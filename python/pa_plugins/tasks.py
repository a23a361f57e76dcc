"""Claiming host_stub's tasks with a visibility timeout, through any SQLAlchemy session.

host_stub writes each task a plugin makes into ``pa_tasks`` (docs/TASKS.md,
host schema version 2). A consumer takes them in three steps, each a short
transaction of its own, so no lock is held while the consumer works:

claim
    Up to ``limit`` visible tasks of one source and account get this claim's
    token in ``claimed_by``, ``claim_until = now + visibility_timeout`` and
    ``claims + 1``. A task is visible when it is not delivered and nobody's
    claim on it is running. On PostgreSQL the rows are taken ``FOR UPDATE
    SKIP LOCKED``; on SQLite the claim's UPDATE holds the write lock for that
    one statement. Two consumers never hold the same task at once.
ack
    ``delivered_at`` is set, for this claim's token only: a claim that
    expired and was taken over cannot be acknowledged by its first holder.
release
    The claim ends now (``claim_until = now``), so the task is visible again.

Redelivery never duplicates what the agent already made. Before claiming,
every task whose claim expired (its consumer died, or released it) is checked
against the agent's own tables: if a row of ``tasks`` or
``pending_suggestions`` carries its ``source_reference``, the agent made
something of it, and it is acknowledged instead of handed out again, in the
same transaction. A task handed out ``max_deliveries`` times without that is
acknowledged too, with an error logged naming it: it is never handed out for
ever. (The agent files tasks extracted from a note under source AGENT and
without account_id, so the check is by ``source_reference`` alone; plugin
references, e.g. Granola's meeting ids, are unique.)

Times are UTC ISO 8601 text with microseconds, as every ``pa_`` column holds
them; consumers on several machines must agree on the clock to within the
visibility timeout.
"""

from __future__ import annotations

import datetime
import json
import logging
import uuid
from contextlib import contextmanager
from typing import Any, Callable, ContextManager, Iterator

from sqlalchemy import inspect, text

log = logging.getLogger("pa_plugins")

#: The host schema version whose claim columns this module uses.
HOST_SCHEMA_VERSION = 2

COLUMNS = ("id", "plugin", "instance", "type", "title", "description", "priority", "source",
           "source_reference", "account_id", "due_date", "tags", "metadata", "created_at")

SessionScope = Callable[[], ContextManager[Any]]


def utc_stamp(when: datetime.datetime | None = None) -> str:
    """A time as the pa_ tables hold it: 2026-02-12T12:00:00.000000Z."""
    when = when or datetime.datetime.now(datetime.timezone.utc)
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class HostTablesMissing(RuntimeError):
    """pa_tasks is absent or older than host schema version 2: run host_stub on this database."""


class TaskQueue:
    """The tasks of one source and account in pa_tasks, claimed, acknowledged, released.

    ``session_scope`` is a callable returning a context manager that yields a
    SQLAlchemy ``Session`` and commits on a clean exit (the agent's own
    ``get_db_session``), so every step is one short transaction on the
    agent's own connections.
    """

    def __init__(self, session_scope: SessionScope, *, source: str, account_id: str,
                 visibility_timeout: datetime.timedelta = datetime.timedelta(minutes=15),
                 max_deliveries: int = 5, limit: int = 100):
        if visibility_timeout.total_seconds() <= 0:
            raise ValueError("visibility_timeout must be positive")
        if max_deliveries < 1 or limit < 1:
            raise ValueError("max_deliveries and limit must be at least 1")
        self._scope = session_scope
        self.source = source
        self.account_id = account_id
        self.visibility_timeout = visibility_timeout
        self.max_deliveries = max_deliveries
        self.limit = limit
        self._checked_tables: tuple[str, ...] | None = None
        self._host_tables_ok = False

    # ---- the three steps ---------------------------------------------------------------

    def claim(self) -> tuple[str, list[dict]]:
        """Claims visible tasks; returns this claim's token and the tasks as dicts (by id)."""
        token = "%s" % uuid.uuid4()
        now = datetime.datetime.now(datetime.timezone.utc)
        with self._scope() as session:
            self._require_host_tables(session)
            self._settle_expired(session, utc_stamp(now))
            postgres = session.get_bind().dialect.name == "postgresql"
            lock = " FOR UPDATE SKIP LOCKED" if postgres else ""
            session.execute(text(
                "UPDATE pa_tasks SET claimed_by = :token, claim_until = :until,"
                " claims = claims + 1 WHERE id IN (SELECT id FROM pa_tasks"
                " WHERE delivered_at IS NULL AND source = :source AND account_id = :account"
                " AND (claim_until IS NULL OR claim_until <= :now)"
                " ORDER BY id LIMIT :limit" + lock + ")"),
                {"token": token, "until": utc_stamp(now + self.visibility_timeout),
                 "source": self.source, "account": self.account_id, "now": utc_stamp(now),
                 "limit": self.limit})
            rows = session.execute(text(
                "SELECT " + ", ".join(COLUMNS) + " FROM pa_tasks WHERE claimed_by = :token"
                " AND delivered_at IS NULL ORDER BY id"), {"token": token}).fetchall()
        return token, [as_dict(r) for r in rows]

    def ack(self, token: str, ids: list[int] | None = None, session: Any = None) -> int:
        """Acknowledges the claim's tasks (those in ids; all when None); returns how many.

        With session, inside that transaction (so it commits with what the
        caller stores there); else in one of its own.
        """
        return self._end(token, ids, "delivered_at", session)

    def release(self, token: str, ids: list[int] | None = None) -> int:
        """Ends the claim now, so the tasks are visible again (after the duplicate check)."""
        return self._end(token, ids, "claim_until", None)

    # ---- inside ------------------------------------------------------------------------

    def _end(self, token: str, ids: list[int] | None, column: str, session: Any) -> int:
        if ids is not None and not ids:
            return 0
        params: dict[str, Any] = {"token": token, "now": utc_stamp()}
        only = ""
        if ids is not None:
            names = []
            for i, task_id in enumerate(ids):
                params["id%d" % i] = int(task_id)
                names.append(":id%d" % i)
            only = " AND id IN (%s)" % ", ".join(names)
        statement = text("UPDATE pa_tasks SET " + column + " = :now WHERE claimed_by = :token"
                         " AND delivered_at IS NULL" + only)
        if session is not None:
            return int(session.execute(statement, params).rowcount or 0)
        with self._scope() as own:
            return int(own.execute(statement, params).rowcount or 0)

    def _settle_expired(self, session: Any, now: str) -> None:
        """Expired claims: acknowledged when the agent made something of them, or gave up."""
        scope = {"source": self.source, "account": self.account_id, "now": now}
        expired = ("delivered_at IS NULL AND source = :source AND account_id = :account"
                   " AND claims > 0 AND claim_until <= :now")
        made = self._agent_made_something(session)
        if made:
            done = session.execute(text(
                "UPDATE pa_tasks SET delivered_at = :now WHERE " + expired + " AND (" + made + ")"),
                scope)
            if done.rowcount:
                log.info("pa_plugins: %d task(s) of %s/%s were made by the agent before its "
                         "claim expired; acknowledged, not delivered again",
                         done.rowcount, self.source, self.account_id)
        spent = session.execute(text(
            "SELECT id, source_reference, claims FROM pa_tasks WHERE " + expired +
            " AND claims >= :max"), dict(scope, max=self.max_deliveries)).fetchall()
        for task_id, reference, claims in spent:
            log.error("pa_plugins: task %s (%s %s) was handed to the agent %s times without "
                      "its processing finishing; acknowledged without delivery",
                      task_id, self.source, reference, claims)
        if spent:
            session.execute(text(
                "UPDATE pa_tasks SET delivered_at = :now WHERE " + expired + " AND claims >= :max"),
                dict(scope, max=self.max_deliveries))

    def _agent_made_something(self, session: Any) -> str:
        """SQL true for a pa_tasks row some agent row refers to; "" when the agent has none."""
        if self._checked_tables is None:
            names = set(inspect(session.get_bind()).get_table_names())
            self._checked_tables = tuple(t for t in ("tasks", "pending_suggestions") if t in names)
        return " OR ".join(
            "EXISTS (SELECT 1 FROM %s a WHERE a.source_reference = pa_tasks.source_reference)" % t
            for t in self._checked_tables)

    def _require_host_tables(self, session: Any) -> None:
        if self._host_tables_ok:
            return
        version = None
        if inspect(session.get_bind()).has_table("pa_schema"):
            version = session.execute(text(
                "SELECT version FROM pa_schema WHERE component = 'host'")).scalar()
        if version is None or int(version) < HOST_SCHEMA_VERSION:
            raise HostTablesMissing(
                "this database has no host_stub tables at schema version %d or later (found %s);"
                " start host_stub on it once (docs/MIGRATING.md)"
                % (HOST_SCHEMA_VERSION, "none" if version is None else version))
        self._host_tables_ok = True


def as_dict(row: Any) -> dict:
    """One pa_tasks row (COLUMNS) as a dict, tags and metadata decoded."""
    task = dict(zip(COLUMNS, tuple(row)))
    task["tags"] = json.loads(task["tags"]) if task["tags"] else []
    task["metadata"] = json.loads(task["metadata"]) if task["metadata"] else {}
    return task


def engine_scope(database_url: str) -> SessionScope:
    """A session scope over a database URL of one's own (outside the agent's process)."""
    from sqlalchemy import create_engine

    return bind_scope(create_engine(database_url))


def bind_scope(bind: Any) -> SessionScope:
    """A session scope over an engine or connection: one session per use, commit on a clean exit."""
    from sqlalchemy.orm import sessionmaker

    factory = sessionmaker(bind=bind)

    @contextmanager
    def scope() -> Iterator[Any]:
        session = factory()
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()

    return scope
