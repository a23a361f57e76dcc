"""Stand-in of the agent's src/integrations/base.py: its names, fields and values."""

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import Any, Optional


class IntegrationType(str, Enum):
    GMAIL = "gmail"
    CALENDAR = "calendar"
    SLACK = "slack"
    DRIVE = "drive"
    GRANOLA = "granola"


class ActionableItemType(str, Enum):
    TASK = "task"
    EMAIL_REPLY_NEEDED = "email_reply_needed"
    DOCUMENT_REVIEW = "document_review"
    MEETING_PREP = "meeting_prep"
    SLACK_RESPONSE = "slack_response"


@dataclass
class ActionableItem:
    type: ActionableItemType
    title: str
    description: Optional[str] = None
    source: Optional[IntegrationType] = None
    source_reference: Optional[str] = None
    due_date: Optional[datetime] = None
    priority: str = "medium"
    tags: Optional[list] = None
    metadata: Optional[dict] = None
    account_id: Optional[str] = None


class BaseIntegration(ABC):
    def __init__(self, config: dict, account_id: Optional[str] = None):
        self.config = config
        self.account_id = account_id
        self.enabled = config.get("enabled", True)
        self._last_poll: Optional[datetime] = None
        self._http_log_callback = None

    def set_http_log_callback(self, callback: Any) -> None:
        self._http_log_callback = callback

    @property
    @abstractmethod
    def integration_type(self) -> IntegrationType:
        ...

    @abstractmethod
    async def authenticate(self) -> bool:
        ...

    @abstractmethod
    async def poll(self) -> list:
        ...

    async def test_connection(self) -> bool:
        try:
            return await self.authenticate()
        except Exception:
            return False

    @property
    def last_poll(self) -> Optional[datetime]:
        return self._last_poll

    def _update_last_poll(self) -> None:
        self._last_poll = datetime.utcnow()


class IntegrationError(Exception):
    pass


class AuthenticationError(IntegrationError):
    pass


class PollError(IntegrationError):
    pass
