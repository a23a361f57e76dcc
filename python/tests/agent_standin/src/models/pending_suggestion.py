"""Stand-in of the agent's PendingSuggestionModel (the columns a delivery check reads)."""

from sqlalchemy import Column, DateTime, Integer, String, Text, func

from src.models.database import Base


class PendingSuggestionModel(Base):
    __tablename__ = "pending_suggestions"

    id = Column(Integer, primary_key=True, autoincrement=True)
    title = Column(String(500), nullable=False)
    description = Column(Text, nullable=True)
    source = Column(String(50), nullable=True)
    source_reference = Column(String(500), nullable=True)
    created_at = Column(DateTime, server_default=func.now(), nullable=False)
