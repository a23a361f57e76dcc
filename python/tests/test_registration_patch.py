"""The agent's side of the wiring: its own manager.py, at the pinned commit, with the patch."""

import hashlib
import os
import re
import subprocess
import sys

from conftest import AGENT_TREE, ALEMBIC_PATCH, HERE, PATCH, PINNED, agent_tree


def git_blob_id(path):
    data = path.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def test_the_pinned_files_are_the_agents_as_fetched():
    pinned = [line.split() for line in (PINNED / "PINNED").read_text().splitlines()
              if line.startswith("blob ")]
    assert {name for _, _, name, *_ in pinned} == {
        "config.example.yaml", "manager.py", "alembic.ini", "alembic/env.py",
        "alembic/script.py.mako"}
    for _, blob, name, *_ in pinned:
        assert git_blob_id(PINNED / name) == blob, "%s differs from the agent's" % name
    commit = re.search(r"^commit ([0-9a-f]{40})$", (PINNED / "PINNED").read_text(), re.M)
    assert commit, "PINNED names no commit"


def test_the_patch_applies_cleanly_and_is_the_only_glue(tmp_path):
    target = tmp_path / "src" / "integrations"
    target.mkdir(parents=True)
    (target / "manager.py").write_bytes((PINNED / "manager.py").read_bytes())
    done = subprocess.run(["patch", "-p1", "--dry-run", "-i", str(PATCH)], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "offset" not in done.stdout and "fuzz" not in done.stdout, done.stdout
    # The glue a user writes: none. The patch changes one import into four lines.
    lines = PATCH.read_text().splitlines()
    added = [x for x in lines if x.startswith("+") and not x.startswith("+++")]
    removed = [x for x in lines if x.startswith("-") and not x.startswith("---")]
    assert (len(added), len(removed)) == (4, 1)


def test_the_alembic_patch_applies_cleanly(tmp_path):
    (tmp_path / "alembic").mkdir()
    (tmp_path / "alembic" / "env.py").write_bytes((PINNED / "alembic" / "env.py").read_bytes())
    done = subprocess.run(["patch", "-p1", "-i", str(ALEMBIC_PATCH)], cwd=tmp_path,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "offset" not in done.stdout and "fuzz" not in done.stdout, done.stdout
    env = (tmp_path / "alembic" / "env.py").read_text()
    assert env.count("include_object=include_object") == 1  # run_migrations_online only
    lines = ALEMBIC_PATCH.read_text().splitlines()
    assert len([x for x in lines if x.startswith("+") and not x.startswith("+++")]) == 2
    assert not [x for x in lines if x.startswith("-") and not x.startswith("---")]


def manager_of(config):
    from src.integrations.manager import IntegrationKey, IntegrationManager

    return IntegrationManager(config), IntegrationKey


def test_the_patched_agent_registers_one_integration_per_enabled_workspace():
    from src.integrations import granola_integration
    from src.integrations.base import IntegrationType

    from pa_plugins.agent import PluginTasksIntegration

    assert (AGENT_TREE / "src" / "integrations" / "manager.py").read_text().count(
        "from pa_plugins.agent import PluginTasksIntegration as GranolaIntegration") == 1
    config = {"granola": {"enabled": True, "workspaces": [
        {"workspace_id": "work", "lookback_days": 3},
        {"workspace_id": "home", "enabled": False},
        {"workspace_id": "work"}]}}  # the manager's own duplicate check still applies
    manager, key = manager_of(config)
    assert list(manager.integrations) == [key(IntegrationType.GRANOLA, "work")]
    integration = manager.integrations[key(IntegrationType.GRANOLA, "work")]
    assert isinstance(integration, PluginTasksIntegration)
    assert integration.account_id == "work" and integration.config["lookback_days"] == 3
    assert granola_integration.CONSTRUCTED == []
    assert manager.list_accounts(IntegrationType.GRANOLA) == ["work"]


def test_without_pa_plugins_the_agent_keeps_its_own_integration(tmp_path):
    tree = agent_tree(tmp_path)
    code = ("from src.integrations.manager import IntegrationManager\n"
            "from src.integrations import granola_integration as g\n"
            "m = IntegrationManager({'granola': {'enabled': True,"
            " 'workspaces': [{'workspace_id': 'work'}]}})\n"
            "print(type(next(iter(m.integrations.values()))).__name__, g.CONSTRUCTED)\n")
    env = dict(os.environ, PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          cwd=str(tmp_path), timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "GranolaIntegration ['work']"
    assert str(HERE) not in env["PYTHONPATH"]
