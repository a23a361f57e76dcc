"""Stand-in of one cycle of the agent's _poll_cycle (src/agent/core.py).

poll_all(); then, per integration type, each item is "extracted" into one task
(the LLM's place), created and committed on its own, filed as the agent files
extracted tasks (source AGENT, the item's source_reference, no account); then,
for Granola, mark_note_processed per item on the integration registered under
(GRANOLA, item.account_id). No hook after the cycle, as in the agent.

STANDIN_CRASH=after_poll or after_first_task ends the process there with
os._exit(9), as a kill -9 would: nothing after it runs.
"""

import os
from collections import defaultdict
from datetime import datetime, timezone

from src.integrations.base import IntegrationType
from src.integrations.manager import IntegrationKey
from src.models.database import get_db_session
from src.models.task import TaskPriority, TaskSource
from src.services.task_service import TaskService


def _crash_point(name):
    if os.environ.get("STANDIN_CRASH") == name:
        os._exit(9)


def _create_task(item):
    with get_db_session() as db:
        task = TaskService(db).create_task(
            title=item.title.replace("Review meeting: ", "Follow up: "),
            description=item.description, priority=TaskPriority.MEDIUM,
            source=TaskSource.AGENT, source_reference=item.source_reference,
            tags=item.tags or [])
        return task.id


async def poll_cycle(manager):
    """One cycle; returns the ids of the tasks it created."""
    items = await manager.poll_all()
    _crash_point("after_poll")
    by_type = defaultdict(list)
    for item in items:
        by_type[item.source].append(item)
    created = []
    for kind, group in by_type.items():
        made = []
        for item in group:
            made.append(_create_task(item))
            _crash_point("after_first_task")
        created.extend(made)
        if kind == IntegrationType.GRANOLA:
            for item in group:
                integration = manager.integrations.get(
                    IntegrationKey(IntegrationType.GRANOLA, item.account_id))
                integration.mark_note_processed(
                    note_id=item.source_reference,
                    note_title=item.title.replace("Review meeting: ", ""),
                    note_created_at=datetime.now(timezone.utc),
                    tasks_created=len(made) // len(group))
    return created
