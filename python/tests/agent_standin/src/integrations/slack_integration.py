"""Stand-in: the agent's Slack integration is not exercised here."""

from src.integrations.base import BaseIntegration, IntegrationType


class SlackIntegration(BaseIntegration):
    def __init__(self, config):
        super().__init__(config, "default")

    @property
    def integration_type(self):
        return IntegrationType.SLACK

    async def authenticate(self):
        return True

    async def poll(self):
        return []
