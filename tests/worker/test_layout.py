"""The worker's packages as the processes that start them expect them."""
import subprocess
import sys
from pathlib import Path

from worker.training.parallel.data_parallel import PROJECT_ROOT

REPO = Path(__file__).resolve().parents[2]


def test_shard_processes_import_from_this_project():
    # Shard processes start with this directory first on sys.path (their cwd and PYTHONPATH).
    assert Path(PROJECT_ROOT) == REPO
    assert (Path(PROJECT_ROOT) / "worker" / "celery_app.py").is_file()


def test_shard_process_module_starts_from_the_project_root_alone():
    # With no PYTHONPATH: only the working directory, as DataParallel starts it.
    script = "import importlib.util as u; print(u.find_spec('worker.training.parallel.shard_process').origin)"
    found = subprocess.run([sys.executable, "-c", script], cwd=PROJECT_ROOT, env={"PATH": "/usr/bin:/bin"},
                           capture_output=True, text=True, timeout=60)
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()).resolve().is_relative_to(REPO)
