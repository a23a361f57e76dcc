"""Stand-in of the agent's src/models package."""

from src.models.database import Base, get_db_session, init_db
from src.models.pending_suggestion import PendingSuggestionModel
from src.models.processed_granola_note import ProcessedGranolaNote
from src.models.task import Task, TaskPriority, TaskSource, TaskStatus

__all__ = ["Base", "PendingSuggestionModel", "ProcessedGranolaNote", "Task", "TaskPriority",
           "TaskSource", "TaskStatus", "get_db_session", "init_db"]
