"""The agent's side: host_stub's tasks as an integration of the agent's poll loop.

``PluginTasksIntegration(config, account_id)`` is constructed exactly as the
agent constructs its ``GranolaIntegration`` (one per workspace, with the
workspace's config dict and its id), so registering it is a change of import
(contrib/personal-assistant/manager.patch). Its ``poll()`` returns the agent's
own ``ActionableItem`` objects, claimed from ``pa_tasks`` through the agent's
own ``get_db_session``: each step a short transaction on the agent's own
connections, never a second connection's lock held while the agent works.

Delivery into the agent loses nothing (docs/TASKS.md, "Claims"):

* A claim is a lease with a visibility timeout, not a delivery. An item is
  acknowledged when the agent says it finished with it: for Granola, the
  agent's loop calls ``mark_note_processed`` for each note once its tasks
  exist, and that acknowledges the note's task (in the same transaction as
  the ``tasks_created_count`` it records). Sources without such a call are
  acknowledged at the next ``poll()``, when the agent's cycle that received
  them has ended; ``ack()`` does it at once.
* A Granola item the agent did not mark by the next ``poll()`` (its cycle
  failed) is released and handed out again; so is everything a killed agent
  held, once the visibility timeout passes.
* Handed out again only if the agent made nothing of it: an item whose
  ``source_reference`` is on a row of the agent's ``tasks`` or
  ``pending_suggestions`` is acknowledged instead (pa_plugins.tasks).
"""

from __future__ import annotations

import datetime
import logging
import os
from contextlib import contextmanager
from typing import Any, Iterator

from sqlalchemy import inspect, text

from .agent_types import (
    ActionableItem,
    ActionableItemType,
    AuthenticationError,
    BaseIntegration,
    IntegrationType,
)
from .tasks import SessionScope, TaskQueue, engine_scope, utc_stamp

log = logging.getLogger("pa_plugins")

#: How long a claimed item stays invisible to other consumers (config key visibility_timeout_seconds).
DEFAULT_VISIBILITY_TIMEOUT = datetime.timedelta(minutes=15)

# host_stub's priorities to the agent's (its TaskPriority has critical, not urgent).
PRIORITIES = {"urgent": "critical", "high": "high", "medium": "medium", "low": "low"}


def agent_session_scope() -> SessionScope:
    """The agent's own get_db_session, looked up when first used (the agent's config is loaded)."""

    @contextmanager
    def scope() -> Iterator[Any]:
        try:
            from src.models.database import get_db_session  # type: ignore[import-not-found]
        except ImportError as e:
            raise RuntimeError(
                "pa_plugins: the agent's src.models.database is not importable; run inside the "
                "agent, or pass database_url=") from e
        with get_db_session() as session:
            yield session

    return scope


def _parse_time(value: str | None) -> datetime.datetime | None:
    """An ISO 8601 due date as the agent's naive-UTC datetime; None when absent or unreadable."""
    if not value:
        return None
    try:
        when = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        log.warning("pa_plugins: unreadable due_date %r ignored", value)
        return None
    if when.tzinfo is not None:
        when = when.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return when


def _setting(config: dict[str, Any], key: str) -> Any:
    """config[key], else the environment's PA_PLUGINS_<KEY>.

    The agent hands an integration only the keys its own workspace model
    declares, so inside the agent these settings come from the environment.
    """
    value = config.get(key)
    return value if value is not None else os.environ.get("PA_PLUGINS_" + key.upper()) or None


class PluginTasksIntegration(BaseIntegration):
    """One plugin instance's tasks (one source, one account) as an integration of the agent.

    config: the agent's workspace dict (workspace_id, enabled, ...), plus
    optionally ``source`` (the plugin's source; default "granola"),
    ``visibility_timeout_seconds`` (default 900) and ``max_deliveries``
    (default 5); inside the agent, whose config model drops keys it does not
    declare, the last two come from PA_PLUGINS_VISIBILITY_TIMEOUT_SECONDS and
    PA_PLUGINS_MAX_DELIVERIES. account_id: the workspace id, as the agent
    passes it.
    database_url: a database of one's own; without it the agent's
    get_db_session is used.
    """

    def __init__(self, config: dict[str, Any], account_id: str | None = None, *,
                 database_url: str | None = None, session_scope: SessionScope | None = None):
        super().__init__(config, account_id)
        self.account_id = account_id or config.get("workspace_id") or "default"
        self.workspace_id = config.get("workspace_id", "default")
        self._type = IntegrationType(config.get("source", "granola"))
        self._scope = session_scope or (engine_scope(database_url) if database_url
                                        else agent_session_scope())
        timeout = _setting(config, "visibility_timeout_seconds")
        self._queue = TaskQueue(
            self._scope, source=self._type.value, account_id=self.account_id,
            visibility_timeout=(datetime.timedelta(seconds=float(timeout)) if timeout
                                else DEFAULT_VISIBILITY_TIMEOUT),
            max_deliveries=int(_setting(config, "max_deliveries") or 5))
        self._token: str | None = None
        self._outstanding: dict[str, list[int]] = {}  # source_reference -> its task ids

    @property
    def integration_type(self) -> IntegrationType:
        """The plugin's source: IntegrationType.GRANOLA for granola."""
        return self._type

    async def authenticate(self) -> bool:
        """True when host_stub's instance for this account is running and its last poll worked.

        Raises the agent's AuthenticationError with host_stub's own words otherwise.
        """
        status = self.host_status()
        name = "%s/%s" % (self._type.value, self.account_id)
        if status is None:
            raise AuthenticationError(
                "host_stub has no instance %s in this database: is the workspace in its "
                "configuration, and has host_stub run?" % name)
        if not status["running"]:
            raise AuthenticationError("host_stub's instance %s is not running (as of %s)"
                                      % (name, status["updated_at"]))
        if status["failures"]:
            raise AuthenticationError("host_stub's instance %s is failing (%d in a row): %s"
                                      % (name, status["failures"], status["last_error"]))
        return True

    def host_status(self) -> dict[str, Any] | None:
        """host_stub's last status of this instance (pa_instances), or None."""
        with self._scope() as session:
            if not inspect(session.get_bind()).has_table("pa_instances"):
                return None
            row = session.execute(text(
                "SELECT running, last_success_at, last_failure_at, last_error, failures,"
                " updated_at FROM pa_instances WHERE plugin = :plugin AND instance = :instance"),
                {"plugin": self._type.value, "instance": self.account_id}).fetchone()
        if row is None:
            return None
        keys = ("running", "last_success_at", "last_failure_at", "last_error", "failures",
                "updated_at")
        return dict(zip(keys, tuple(row)))

    async def poll(self) -> list[ActionableItem]:
        """Ends the last cycle's deliveries, then claims what is new as the agent's items."""
        self._settle_last_cycle()
        self._token, tasks = self._queue.claim()
        self._outstanding = {}
        items = []
        for task in tasks:
            self._outstanding.setdefault(task["source_reference"], []).append(task["id"])
            items.append(self._item(task))
        self._update_last_poll()
        if items:
            log.info("pa_plugins: %d item(s) from %s/%s", len(items), self._type.value,
                     self.account_id)
        return items

    def ack(self, items: list[Any] | None = None) -> int:
        """Acknowledges delivered items now (the given ones, by source_reference; else all)."""
        ids = self._take([getattr(i, "source_reference", None) for i in items]
                         if items is not None else None)
        return self._queue.ack(self._token, ids) if self._token and ids else 0

    def mark_note_processed(self, note_id: str, note_title: str,
                            note_created_at: datetime.datetime | None, tasks_created: int) -> None:
        """The agent finished a note: its task is acknowledged and its count recorded, at once."""
        ids = self._take([note_id])
        with self._scope() as session:
            if self._token and ids:
                self._queue.ack(self._token, ids, session=session)
            if self._type is IntegrationType.GRANOLA:
                self._record_note(session, note_id, note_title, note_created_at, tasks_created)

    # ---- inside ------------------------------------------------------------------------

    def _take(self, references: list[str | None] | None) -> list[int]:
        """The outstanding task ids of references (all when None), no longer outstanding."""
        if references is None:
            references = list(self._outstanding)
        ids: list[int] = []
        for ref in references:
            ids.extend(self._outstanding.pop(ref, []) if ref is not None else [])
        return ids

    def _settle_last_cycle(self) -> None:
        ids = self._take(None)
        if not self._token or not ids:
            return
        if self._type is IntegrationType.GRANOLA:
            released = self._queue.release(self._token, ids)
            log.warning("pa_plugins: %d Granola item(s) were not marked processed in the last "
                        "cycle; handed out again unless the agent made something of them",
                        released)
        else:
            self._queue.ack(self._token, ids)

    def _item(self, task: dict) -> ActionableItem:
        try:
            kind = ActionableItemType(task["type"])
        except ValueError:
            kind = ActionableItemType.TASK
        metadata = dict(task["metadata"] or {})
        metadata.setdefault("pa_task_id", task["id"])
        return ActionableItem(
            type=kind, title=task["title"], description=task["description"],
            source=self._type, source_reference=task["source_reference"],
            due_date=_parse_time(task["due_date"]),
            priority=PRIORITIES.get(task["priority"], "medium"), tags=list(task["tags"]),
            metadata=metadata, account_id=task["account_id"])

    def _record_note(self, session: Any, note_id: str, title: str,
                     created_at: datetime.datetime | None, tasks_created: int) -> None:
        """tasks_created_count for the note; the row the agent would write when there is none."""
        updated = session.execute(text(
            "UPDATE processed_granola_notes SET tasks_created_count = :n"
            " WHERE note_id = :note AND account_id = :account"),
            {"n": int(tasks_created), "note": note_id, "account": self.account_id})
        if updated.rowcount:
            return
        postgres = session.get_bind().dialect.name == "postgresql"
        now = datetime.datetime.now(datetime.timezone.utc)
        created = created_at or now
        if created.tzinfo is None:
            created = created.replace(tzinfo=datetime.timezone.utc)
        session.execute(text(
            "INSERT INTO processed_granola_notes (note_id, workspace_id, account_id, note_title,"
            " note_created_at, processed_at, tasks_created_count)"
            " VALUES (:note, :workspace, :account, :title, :created, :processed, :n)"
            " ON CONFLICT (note_id, account_id) DO NOTHING"),
            {"note": note_id, "workspace": self.workspace_id, "account": self.account_id,
             "title": title[:500], "n": int(tasks_created),
             # As SQLAlchemy writes the agent's DateTime columns: aware on PostgreSQL,
             # naive UTC text with microseconds on SQLite.
             "created": created if postgres else _sqlalchemy_text(created),
             "processed": now if postgres else _sqlalchemy_text(now)})


def _sqlalchemy_text(when: datetime.datetime) -> str:
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


__all__ = ["PluginTasksIntegration", "DEFAULT_VISIBILITY_TIMEOUT", "utc_stamp"]
