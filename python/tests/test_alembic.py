"""The agent's alembic autogenerate, with and without pa_plugins.alembic, on a switched database."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from conftest import agent_models_metadata
from pa_plugins.alembic import include_name, include_object


def plan(db, **opts):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=dict(compare_type=True, **opts))
        return compare_metadata(context, agent_models_metadata())


def test_autogenerate_plans_nothing_for_host_stubs_tables(database):
    removed = {d[1].name for d in plan(database) if d[0] == "remove_table"}
    # Without the filter, the agent's autogenerate would drop host_stub's tables.
    assert {"pa_tasks", "pa_outbox", "pa_schema", "pa_instances"} <= removed
    assert plan(database, include_object=include_object) == []
    assert plan(database, include_name=include_name) == []


def test_the_filter_keeps_the_agents_own_tables(database):
    database.execute("CREATE TABLE leftover (id INTEGER PRIMARY KEY)")
    diffs = plan(database, include_object=include_object)
    assert [(d[0], d[1].name) for d in diffs] == [("remove_table", "leftover")]
