"""Stand-in of the agent's ProcessedGranolaNote model."""

from sqlalchemy import Column, DateTime, Integer, String, UniqueConstraint, func

from src.models.database import Base


class ProcessedGranolaNote(Base):
    __tablename__ = "processed_granola_notes"

    id = Column(Integer, primary_key=True, autoincrement=True)
    note_id = Column(String(200), nullable=False, index=True)
    workspace_id = Column(String(200), nullable=False)
    account_id = Column(String(100), nullable=False, index=True)
    note_title = Column(String(500), nullable=False)
    note_created_at = Column(DateTime(timezone=True), nullable=False)
    processed_at = Column(DateTime(timezone=True), server_default=func.now(), nullable=False)
    tasks_created_count = Column(Integer, default=0, nullable=False)

    __table_args__ = (UniqueConstraint("note_id", "account_id", name="uix_note_account"),)
