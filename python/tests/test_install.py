"""`pip install ./python` gives an importable pa_plugins that needs nothing but SQLAlchemy."""

import os
import shutil
import subprocess
import sys

from conftest import HERE


def test_pip_installs_the_package(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(HERE.parent, source, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    target = tmp_path / "site"
    # Offline, as CI is: the build backend (setuptools) is the one already installed, and
    # the one dependency (SQLAlchemy) is this Python's own, so it is not fetched (--no-deps).
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-index",
                           "--no-build-isolation", "--no-deps", "--target", str(target),
                           str(source)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    code = ("import pa_plugins, pa_plugins.agent, pa_plugins.alembic, pa_plugins.tasks\n"
            "print(pa_plugins.__version__, pa_plugins.__file__)\n")
    env = dict(os.environ, PYTHONPATH=str(target), PYTHONDONTWRITEBYTECODE="1")
    ran = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=str(tmp_path), timeout=60)
    assert ran.returncode == 0, ran.stderr
    version, path = ran.stdout.split()
    assert version == "1.0.0" and path.startswith(str(target))
    metadata = (target / "pa_plugins-1.0.0.dist-info" / "METADATA").read_text()
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    # One requirement, spelt as this setuptools writes it: "SQLAlchemy>=1.4" or "(>=1.4)".
    assert [r.replace(" (", "").replace(")", "") for r in requires] == [
        "Requires-Dist: SQLAlchemy>=1.4"]
