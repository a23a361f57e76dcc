"""Stand-in of the agent's own Granola integration, which polls Granola itself.

With pa_plugins installed and the registration patch applied, the agent must
not construct it: CONSTRUCTED counts constructions, for the tests to see.
"""

from src.integrations.base import BaseIntegration, IntegrationType

CONSTRUCTED = []


class GranolaIntegration(BaseIntegration):
    def __init__(self, config, account_id):
        super().__init__(config, account_id)
        CONSTRUCTED.append(account_id)

    @property
    def integration_type(self):
        return IntegrationType.GRANOLA

    async def authenticate(self):
        return True

    async def poll(self):
        raise RuntimeError("the agent's own Granola integration polled: host_stub should")
