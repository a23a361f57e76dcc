"""Stand-in of the agent's Task model: its columns, and enums stored by member name."""

import enum

from sqlalchemy import Column, DateTime, Enum, Float, Integer, String, Text, func

from src.models.database import Base


class TaskStatus(str, enum.Enum):
    PENDING = "pending"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    DEFERRED = "deferred"
    CANCELLED = "cancelled"


class TaskPriority(str, enum.Enum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


class TaskSource(str, enum.Enum):
    MANUAL = "manual"
    EMAIL = "email"
    SLACK = "slack"
    CALENDAR = "calendar"
    MEETING_NOTES = "meeting_notes"
    AGENT = "agent"
    VOICE = "voice"
    GRANOLA = "granola"


class Task(Base):
    __tablename__ = "tasks"

    id = Column(Integer, primary_key=True, autoincrement=True)
    title = Column(String(500), nullable=False)
    description = Column(Text, nullable=True)
    status = Column(Enum(TaskStatus), default=TaskStatus.PENDING, nullable=False)
    priority = Column(Enum(TaskPriority), default=TaskPriority.MEDIUM, nullable=False)
    source = Column(Enum(TaskSource), default=TaskSource.MANUAL, nullable=False)
    priority_score = Column(Float, default=50.0, nullable=False)
    due_date = Column(DateTime, nullable=True)
    created_at = Column(DateTime, server_default=func.now(), nullable=False)
    updated_at = Column(DateTime, server_default=func.now(), nullable=False)
    completed_at = Column(DateTime, nullable=True)
    source_reference = Column(String(500), nullable=True)
    account_id = Column(String(100), nullable=True)
    tags = Column(String(500), nullable=True)
    document_links = Column(String(5000), nullable=True)
