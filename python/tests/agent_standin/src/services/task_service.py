"""Stand-in of the agent's TaskService.create_task (tags stored comma-separated)."""

from src.models.task import Task, TaskPriority, TaskSource


class TaskService:
    def __init__(self, db):
        self.db = db

    def create_task(self, title, description=None, priority=TaskPriority.MEDIUM,
                    source=TaskSource.MANUAL, source_reference=None, account_id=None,
                    due_date=None, tags=None, document_links=None):
        task = Task(title=title, description=description, priority=priority, source=source,
                    source_reference=source_reference, account_id=account_id, due_date=due_date,
                    tags=",".join(tags or []), priority_score=50.0)
        self.db.add(task)
        self.db.flush()
        return task
