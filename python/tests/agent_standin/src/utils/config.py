"""Stand-in of the agent's config loading: config.yaml in the working directory.

As the agent: YAML values first, PA_DATABASE__URL for a database.url the YAML
leaves out, then sqlite:///personal_assistant.db; a workspace is its declared
keys only (pydantic drops the others), its id lowercased.
"""

import os

import yaml

DEFAULT_DATABASE_URL = "sqlite:///personal_assistant.db"
WORKSPACE_KEYS = {"workspace_id": None, "display_name": "", "enabled": True, "lookback_days": 7,
                  "polling_interval_minutes": 15, "token_path": None}
_config = None


class GoogleAccountConfig:  # imported by manager.py only when google is enabled
    def __init__(self, **kw):
        self.__dict__.update(kw)


def load_config(path="config.yaml"):
    data = {}
    if os.path.exists(path):
        with open(path) as f:
            data = yaml.safe_load(f) or {}
    database = dict(data.get("database") or {})
    database.setdefault("url", os.environ.get("PA_DATABASE__URL") or DEFAULT_DATABASE_URL)
    data["database"] = database
    granola = dict(data.get("granola") or {})
    workspaces = []
    for ws in granola.get("workspaces") or []:
        # As the agent's pydantic model dumps it: its declared keys, with defaults, no others.
        kept = {key: ws.get(key, default) for key, default in WORKSPACE_KEYS.items()}
        kept["workspace_id"] = str(ws["workspace_id"]).lower()
        workspaces.append(kept)
    granola["workspaces"] = workspaces
    data["granola"] = granola
    return data


def get_config():
    global _config
    if _config is None:
        _config = load_config()
    return _config


def set_config(config):
    global _config
    _config = config
