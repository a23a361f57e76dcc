"""Stand-in: the agent's Gmail integration is not exercised here."""

from src.integrations.base import BaseIntegration, IntegrationType


class GmailIntegration(BaseIntegration):
    def __init__(self, account_config):
        super().__init__({}, getattr(account_config, "account_id", "default"))

    @property
    def integration_type(self):
        return IntegrationType.GMAIL

    async def authenticate(self):
        return True

    async def poll(self):
        return []
