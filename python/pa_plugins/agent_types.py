"""The agent's own integration types when its code is importable, stand-ins shaped like them when not.

Inside the agent's process (its ``src`` package importable) these are the
agent's classes, so the agent's loop gets its own ``ActionableItem`` and enums
and ``isinstance`` checks hold. Elsewhere (a script, a test) they are stand-ins
with the same names, fields and values (mikedon/personal-assistant,
src/integrations/base.py), written here from those facts.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from typing import Any

try:  # the agent's own, when running inside it
    from src.integrations.base import (  # type: ignore[import-not-found]
        ActionableItem,
        ActionableItemType,
        AuthenticationError,
        BaseIntegration,
        IntegrationType,
    )

    AGENT_IMPORTED = True
except ImportError:
    AGENT_IMPORTED = False

    class IntegrationType(str, enum.Enum):  # type: ignore[no-redef]
        GMAIL = "gmail"
        CALENDAR = "calendar"
        SLACK = "slack"
        DRIVE = "drive"
        GRANOLA = "granola"

    class ActionableItemType(str, enum.Enum):  # type: ignore[no-redef]
        TASK = "task"
        EMAIL_REPLY_NEEDED = "email_reply_needed"
        DOCUMENT_REVIEW = "document_review"
        MEETING_PREP = "meeting_prep"
        SLACK_RESPONSE = "slack_response"

    @dataclasses.dataclass
    class ActionableItem:  # type: ignore[no-redef]
        type: ActionableItemType
        title: str
        description: str | None = None
        source: IntegrationType | None = None
        source_reference: str | None = None
        due_date: datetime.datetime | None = None
        priority: str = "medium"
        tags: list[str] | None = None
        metadata: dict[str, Any] | None = None
        account_id: str | None = None

    class AuthenticationError(Exception):  # type: ignore[no-redef]
        """The integration cannot work: here, host_stub's instance is not healthy."""

    class BaseIntegration:  # type: ignore[no-redef]
        """What the agent's BaseIntegration gives its subclasses."""

        def __init__(self, config: dict[str, Any], account_id: str | None = None):
            self.config = config
            self.account_id = account_id
            self.enabled = config.get("enabled", True)
            self._last_poll: datetime.datetime | None = None
            self._http_log_callback = None

        def set_http_log_callback(self, callback: Any) -> None:
            self._http_log_callback = callback

        async def test_connection(self) -> bool:
            try:
                return await self.authenticate()  # type: ignore[attr-defined]
            except Exception:
                return False

        @property
        def last_poll(self) -> datetime.datetime | None:
            return self._last_poll

        def _update_last_poll(self) -> None:
            self._last_poll = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)

__all__ = ["AGENT_IMPORTED", "ActionableItem", "ActionableItemType", "AuthenticationError",
           "BaseIntegration", "IntegrationType"]
