"""pa_plugins: the agent's side of host_stub (docs/MIGRATING.md).

* ``pa_plugins.agent.PluginTasksIntegration``: host_stub's tasks as an
  integration of the agent's poll loop, delivered with a visibility timeout
  and acknowledged when the agent has finished with them.
* ``pa_plugins.tasks.TaskQueue``: the claim, acknowledge and release steps on
  any SQLAlchemy session, for consumers other than the agent.
* ``pa_plugins.alembic.include_object``: keeps the agent's autogenerate away
  from host_stub's ``pa_*`` tables.

Needs only SQLAlchemy (1.4 or 2.x), which the agent already has.
"""

__version__ = "1.0.0"
