"""Fixtures: a database on each engine, with host_stub's real tables, and the agent's tree.

Run by ctest (python_package), which sets PA_HOST_STUB, PA_TEST_PLUGIN_DIR and
PA_TEST_PG_URL_FILE (the tests' PostgreSQL server) and PA_TEST_REQUIRE_PG=1, so
the PostgreSQL half fails, not skips, when the server is missing. Run by hand
without a server, the PostgreSQL cases are skipped and say why.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
STANDIN = HERE / "agent_standin"
PINNED = REPO / "tests" / "agent_pinned"
PATCH = REPO / "contrib" / "personal-assistant" / "manager.patch"
ALEMBIC_PATCH = REPO / "contrib" / "personal-assistant" / "alembic-env.patch"

sys.path.insert(0, str(HERE.parent))  # pa_plugins, as `pip install ./python` would


def host_stub() -> str:
    path = os.environ.get("PA_HOST_STUB", str(REPO / "build" / "host_stub" / "host_stub"))
    if not os.access(path, os.X_OK):
        pytest.fail("host_stub not found at %s (set PA_HOST_STUB)" % path)
    return path


def pg_admin_url() -> str | None:
    path = os.environ.get("PA_TEST_PG_URL_FILE")
    if path and os.path.exists(path):
        return Path(path).read_text().strip()
    return None


class Database:
    """One test's database: its SQLAlchemy URL, an engine, and host_stub's tables made by host_stub."""

    def __init__(self, kind: str, url: str, workdir: Path):
        from sqlalchemy import create_engine

        self.kind = kind
        self.url = url
        self.workdir = workdir
        self.engine = create_engine(url)

    def run_host(self, config: dict, *args: str, plugins: str | None = None
                 ) -> subprocess.CompletedProcess:
        """host_stub on this database with config as host.json; asserts it exits 0.

        plugins: the plugins directory; by default an empty one (host_stub describes
        every plugin in its directory, configured or not).
        """
        path = self.workdir / ("host-%s.json" % uuid.uuid4().hex[:8])
        path.write_text(json.dumps(config))
        if plugins is None:
            plugins = str(self.workdir / "no-plugins")
            os.makedirs(plugins, exist_ok=True)
        done = subprocess.run([host_stub(), "--plugins", plugins, "--config", str(path),
                               "--db", self.url, "--allow-shared-db", "--polls", "1", *args],
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done

    def scalar(self, sql: str, **params):
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def execute(self, sql: str, **params) -> None:
        from sqlalchemy import text

        with self.engine.begin() as conn:
            conn.execute(text(sql), params)

    def add_task(self, reference: str, *, source: str = "granola", account: str = "work",
                 title: str | None = None) -> int:
        """One task as host_stub writes it (an outbox row, then its task), for a consumer to take."""
        item = {"source_reference": reference}
        self.execute("INSERT INTO pa_outbox (plugin, instance_id, item_json, created_at,"
                     " consumed_at) VALUES ('granola', :acct, :item, 'x', 'x')",
                     acct=account, item=json.dumps(item))
        outbox = self.scalar("SELECT max(id) FROM pa_outbox")
        self.execute(
            "INSERT INTO pa_tasks (outbox_id, plugin, instance, type, title, description,"
            " priority, source, source_reference, account_id, due_date, tags, metadata,"
            " created_at) VALUES (:o, 'granola', :acct, 'document_review', :title, 'notes',"
            " 'medium', :source, :ref, :acct, NULL, '[\"meeting-notes\",\"granola\"]',"
            " :meta, '2026-12-01T10:00:00Z')",
            o=outbox, acct=account, title=title or "Review meeting: %s" % reference,
            source=source, ref=reference, meta=json.dumps({"note_id": reference}))
        return int(self.scalar("SELECT max(id) FROM pa_tasks"))


def _pg_database(request, tmp_path: Path):
    admin = pg_admin_url()
    if not admin:
        if os.environ.get("PA_TEST_REQUIRE_PG") == "1":
            pytest.fail("PA_TEST_REQUIRE_PG=1 but no PostgreSQL server (PA_TEST_PG_URL_FILE)")
        pytest.skip("no PostgreSQL server: set PA_TEST_PG_URL_FILE (ctest does)")
    from sqlalchemy import create_engine, text

    name = "pa_py_%s" % uuid.uuid4().hex[:12]
    admin_engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(text("CREATE DATABASE %s" % name))
    db = Database("postgresql", admin.rsplit("/", 1)[0] + "/" + name, tmp_path)

    def drop():
        db.engine.dispose()
        with admin_engine.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS %s WITH (FORCE)" % name))
        admin_engine.dispose()

    request.addfinalizer(drop)
    return db


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path):
    """A database with the agent's tables (the stand-in's models) and host_stub's, on each engine."""
    if request.param == "sqlite":
        db = Database("sqlite", "sqlite:///%s" % (tmp_path / "agent.db"), tmp_path)
        request.addfinalizer(db.engine.dispose)
    else:
        db = _pg_database(request, tmp_path)
    agent_models_metadata().create_all(db.engine)
    db.run_host({"plugins": {}})
    return db


def agent_tree(base: Path) -> Path:
    """The agent's source tree: the stand-in, plus the agent's own manager.py with the patch applied."""
    tree = base / "agent"
    shutil.copytree(STANDIN, tree, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PINNED / "manager.py", tree / "src" / "integrations" / "manager.py")
    done = subprocess.run(["patch", "-p1", "--forward", "--no-backup-if-mismatch", "-i",
                           str(PATCH)], cwd=tree, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    return tree


# This process is "inside the agent": its tree is importable before pa_plugins is imported,
# so pa_plugins hands out the agent's own classes, as it does in the agent.
_TREE_BASE = Path(tempfile.mkdtemp(prefix="pa-agent-tree."))
atexit.register(shutil.rmtree, _TREE_BASE, True)
AGENT_TREE = agent_tree(_TREE_BASE)
sys.path.insert(0, str(AGENT_TREE))


def agent_models_metadata():
    """The stand-in agent's table metadata."""
    import src.models  # noqa: F401  (registers every model)
    from src.models.database import Base

    return Base.metadata


def run_agent(tree: Path, workdir: Path, *args: str, crash: str | None = None,
              env: dict | None = None) -> subprocess.CompletedProcess:
    """The stand-in agent, as the agent runs: cwd workdir (its config.yaml), pa_plugins installed."""
    environ = dict(os.environ, PYTHONPATH="%s:%s" % (tree, HERE.parent),
                   PYTHONDONTWRITEBYTECODE="1")
    environ.pop("STANDIN_CRASH", None)
    if crash:
        environ["STANDIN_CRASH"] = crash
    environ.update(env or {})
    return subprocess.run([sys.executable, str(tree / "agent.py"), *args], cwd=workdir,
                          env=environ, capture_output=True, text=True, timeout=120)
