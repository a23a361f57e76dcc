"""Keeps the agent's alembic autogenerate away from host_stub's tables.

The agent manages its schema with ``alembic revision --autogenerate``, which
plans ``drop_table`` for every table its models do not declare: host_stub's
``pa_tasks``, ``pa_outbox``, ``pa_schema`` and ``pa_instances`` among them.
host_stub creates and migrates those itself (their version is in
``pa_schema``), so the agent's migrations must never touch them. In the
agent's ``alembic/env.py``::

    from pa_plugins.alembic import include_object       # 1: the import
    context.configure(..., include_object=include_object)  # 2: in run_migrations_online

(docs/MIGRATING.md, step 5.) A table of the agent's own whose name starts
with ``pa_`` would be hidden as well; the agent has none.

On SQLite, host_stub's AUTOINCREMENT keys make SQLite create its internal
``sqlite_sequence`` table, which alembic does not skip by itself (it would
plan a drop that SQLite refuses: "table sqlite_sequence may not be dropped");
it is hidden too.
"""

from __future__ import annotations

from typing import Any

#: The prefix of every table, index and sequence host_stub owns.
PREFIX = "pa_"


#: SQLite's own table, there because host_stub's tables use AUTOINCREMENT.
SQLITE_INTERNAL = "sqlite_sequence"


def _owned_by_host(name: str | None) -> bool:
    return bool(name) and (str(name).startswith(PREFIX) or name == SQLITE_INTERNAL)


def include_object(obj: Any, name: str | None, type_: str, reflected: bool,
                   compare_to: Any) -> bool:
    """alembic's include_object hook: False for host_stub's tables and what hangs off them."""
    if type_ == "table":
        return not _owned_by_host(name)
    table = getattr(obj, "table", None)
    if table is not None and _owned_by_host(getattr(table, "name", None)):
        return False  # its columns, indexes, constraints
    return not (type_ == "index" and _owned_by_host(name))


def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
    """alembic's include_name hook (alembic 1.5+): host_stub's tables are never even reflected."""
    if type_ == "table":
        return not _owned_by_host(name)
    return not _owned_by_host(parent_names.get("table_name"))
