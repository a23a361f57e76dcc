"""PluginTasksIntegration inside the (stand-in) agent: its types, its session, its loop's calls."""

import asyncio
import json
import os
import subprocess
import sys

import pytest
from sqlalchemy.orm import sessionmaker

from conftest import HERE
from pa_plugins.agent import PluginTasksIntegration
from pa_plugins.agent_types import AGENT_IMPORTED


def agent_scope(db):
    """The agent's get_db_session, pointed at this test's database."""
    import src.models.database as agent_db

    agent_db.reset_engine()
    agent_db._engine = db.engine
    agent_db._SessionLocal = sessionmaker(autocommit=False, autoflush=False, bind=db.engine)
    return agent_db.get_db_session


def integration(db, **config):
    config.setdefault("workspace_id", "work")
    agent_scope(db)
    return PluginTasksIntegration(config, account_id=config["workspace_id"])


def poll(i):
    return asyncio.run(i.poll())


def test_poll_returns_the_agents_own_items(database):
    from src.integrations.base import ActionableItem, ActionableItemType, BaseIntegration
    from src.integrations.base import IntegrationType

    assert AGENT_IMPORTED
    database.add_task("m-1", title="Review meeting: Standup")
    i = integration(database)
    assert isinstance(i, BaseIntegration)
    assert i.integration_type is IntegrationType.GRANOLA
    [item] = poll(i)
    assert isinstance(item, ActionableItem)
    assert item.type is ActionableItemType.DOCUMENT_REVIEW
    assert item.source is IntegrationType.GRANOLA
    assert (item.title, item.description, item.priority) == ("Review meeting: Standup", "notes",
                                                             "medium")
    assert item.source_reference == "m-1" and item.account_id == "work"
    assert item.tags == ["meeting-notes", "granola"]
    assert item.metadata["note_id"] == "m-1"
    assert i.last_poll is not None


def test_mark_note_processed_acknowledges_and_records_the_count(database):
    database.add_task("m-1")
    database.add_task("m-2")
    # The plugin recorded m-1 when it emitted it (tasks_created_count 1); m-2 it did not.
    database.execute("INSERT INTO processed_granola_notes (note_id, workspace_id, account_id,"
                     " note_title, note_created_at, processed_at, tasks_created_count)"
                     " VALUES ('m-1', 'work', 'work', 'Standup', :t, :t, 1)",
                     t="2026-12-01 10:00:00.000000")
    i = integration(database)
    items = poll(i)
    assert len(items) == 2
    i.mark_note_processed(note_id="m-1", note_title="Standup", note_created_at=None,
                          tasks_created=3)
    i.mark_note_processed(note_id="m-2", note_title="Retro", note_created_at=None,
                          tasks_created=0)
    assert database.scalar("SELECT count(*) FROM pa_tasks WHERE delivered_at IS NOT NULL") == 2
    assert database.scalar("SELECT tasks_created_count FROM processed_granola_notes"
                           " WHERE note_id = 'm-1'") == 3
    # The row written for m-2 reads back through the agent's own model.
    from src.models.database import get_db_session
    from src.models.processed_granola_note import ProcessedGranolaNote

    with get_db_session() as db:
        row = db.query(ProcessedGranolaNote).filter_by(note_id="m-2", account_id="work").one()
        assert row.tasks_created_count == 0 and row.note_title == "Retro"
        assert row.note_created_at.year >= 2026
    assert poll(i) == []


def test_an_unmarked_granola_item_comes_back_unless_the_agent_made_something(database):
    database.add_task("m-made")
    database.add_task("m-failed")
    i = integration(database)
    assert len(poll(i)) == 2
    # The agent's cycle made a task from one, then failed before marking either.
    database.execute("INSERT INTO tasks (title, status, priority, source, priority_score,"
                     " source_reference) VALUES ('t', 'PENDING', 'MEDIUM', 'AGENT', 50, 'm-made')")
    again = poll(i)
    assert [x.source_reference for x in again] == ["m-failed"]
    assert database.scalar("SELECT claims FROM pa_tasks WHERE source_reference = 'm-failed'") == 2


def test_other_sources_are_acknowledged_at_the_next_poll(database):
    database.add_task("C1:1700000000.1", source="slack")
    i = integration(database, source="slack")
    assert [x.source_reference for x in poll(i)] == ["C1:1700000000.1"]
    assert database.scalar("SELECT count(*) FROM pa_tasks WHERE delivered_at IS NULL") == 1
    assert poll(i) == []
    assert database.scalar("SELECT count(*) FROM pa_tasks WHERE delivered_at IS NULL") == 0


def test_ack_acknowledges_at_once(database):
    database.add_task("m-1")
    i = integration(database)
    items = poll(i)
    assert i.ack(items) == 1
    assert i.ack() == 0
    assert database.scalar("SELECT count(*) FROM pa_tasks WHERE delivered_at IS NULL") == 0


def test_authenticate_reports_host_stubs_last_status(database):
    from src.integrations.base import AuthenticationError

    i = integration(database)
    with pytest.raises(AuthenticationError, match="has no instance granola/work"):
        asyncio.run(i.authenticate())
    assert asyncio.run(i.test_connection()) is False
    # host_stub's own row: granola.so without a token fails its poll, then host_stub stops.
    granola_dir = os.path.dirname(os.environ.get("PA_GRANOLA_SO", ""))
    if not granola_dir:
        pytest.fail("PA_GRANOLA_SO is not set (ctest sets it)")
    home = database.workdir / "home"
    home.mkdir()
    done = subprocess.run(
        [os.environ["PA_HOST_STUB"], "--plugins", granola_dir, "--agent-config", str(write_agent_config(database.workdir)), "--db", database.url,
         "--allow-shared-db", "--polls", "1"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ, HOME=str(home)))
    assert "no Granola token" in done.stderr, done.stderr
    with pytest.raises(AuthenticationError, match="granola/work is not running"):
        asyncio.run(i.authenticate())
    assert database.scalar("SELECT failures FROM pa_instances WHERE instance = 'work'") == 1
    database.execute("UPDATE pa_instances SET running = 1")
    with pytest.raises(AuthenticationError, match="failing .1 in a row.: no Granola token"):
        asyncio.run(i.authenticate())
    database.execute("UPDATE pa_instances SET failures = 0")
    assert asyncio.run(i.authenticate()) is True
    assert asyncio.run(i.test_connection()) is True


def write_agent_config(directory):
    path = directory / "config.yaml"
    path.write_text("granola:\n  enabled: true\n  workspaces:\n    - workspace_id: Work\n")
    return path


def test_outside_the_agent_it_is_duck_typed(database):
    """Without the agent's code importable: stand-ins of its types, a database URL of its own."""
    database.add_task("m-1")
    code = (
        "import asyncio, json\n"
        "from pa_plugins.agent import PluginTasksIntegration\n"
        "from pa_plugins.agent_types import AGENT_IMPORTED, ActionableItem\n"
        "i = PluginTasksIntegration({'workspace_id': 'work'}, 'work', database_url=%r)\n"
        "items = asyncio.run(i.poll())\n"
        "print(json.dumps([AGENT_IMPORTED, type(items[0]).__module__, items[0].title,"
        " i.integration_type.value]))\n" % database.url)
    env = dict(os.environ, PYTHONPATH=str(HERE.parent), PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=str(database.workdir), timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [False, "pa_plugins.agent_types", "Review meeting: m-1",
                                       "granola"]


def test_an_unknown_source_is_refused():
    with pytest.raises(ValueError):
        PluginTasksIntegration({"workspace_id": "w", "source": "fax"}, "w",
                               database_url="sqlite://")
