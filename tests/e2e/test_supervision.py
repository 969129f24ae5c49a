"""`convforge up` keeps serving when one of its children dies: a SIGKILLed worker or API is started
again (said on the console and in the child's log), the job the worker was running resumes from its
checkpoint and completes; a child that keeps dying at start stops everything, with its last log lines."""
from __future__ import annotations

import signal

import psutil
import pytest
import requests

from tests.e2e.api import Client
from tests.e2e.processes import convforge_up, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LEASE_SECONDS = "5"


def child_running(up, program: str) -> psutil.Process | None:
    """The child of `convforge up` that runs `python -m <program>`, if there is one."""
    for child in psutil.Process(up.pid).children():
        try:
            if program in child.cmdline() and child.status() != psutil.STATUS_ZOMBIE:
                return child
        except psutil.NoSuchProcess:
            continue
    return None


def console_says(up_log, text: str, times: int = 1) -> bool:
    return up_log.read_text(errors="replace").count(text) >= times


def test_a_killed_worker_and_api_are_started_again_and_jobs_complete(tmp_path):
    with convforge_up(tmp_path, JOB_LEASE_SECONDS=LEASE_SECONDS) as (up, api_url, var_dir, _started):
        console = tmp_path / "up.log"
        client = Client(api_url)
        network_id, dataset_id = client.create_network(), client.upload_dataset()
        job_id = client.train(network_id, dataset_id, epochs=1, batch_size=16, checkpoint_every_steps=20,
                              log_every_steps=5)
        client.wait_progress(job_id, min_step=60)

        worker = child_running(up, "celery")
        worker.kill()  # SIGKILL, as the out-of-memory killer would
        wait_for(lambda: console_says(console, "convforge up: worker was killed by SIGKILL"), 30,
                 "the console to say the worker died")
        wait_for(lambda: console_says(console, "convforge up: worker restarted (pid "), 30,
                 "the console to say the worker was started again")
        restarted = child_running(up, "celery")
        assert restarted is not None and restarted.pid != worker.pid
        worker_log = (var_dir / "log" / "worker.log").read_text(errors="replace")
        assert "convforge up: worker was killed by SIGKILL" in worker_log
        assert "convforge up: worker restarted" in worker_log

        resumed = wait_for(lambda: (job := client.job(job_id))["attempt"] == 2 and job, 120,
                           "the restarted worker to take the job up again")
        assert resumed["progress"]["step"] >= 40  # from its checkpoint, not from scratch
        job = client.wait_final(job_id, timeout=600)
        assert job["status"] == "succeeded" and job["attempt"] == 2, job
        metrics = client.metrics(job_id)
        assert [row["seq"] for row in metrics] == list(range(1, len(metrics) + 1))

        api = child_running(up, "gunicorn")
        api.kill()
        wait_for(lambda: console_says(console, "convforge up: api was killed by SIGKILL"), 30,
                 "the console to say the API died")
        wait_for(lambda: _healthy(api_url), 60, "the API to answer again")
        assert console_says(console, "convforge up: api restarted (pid ")
        assert child_running(up, "gunicorn").pid != api.pid

        # Both restarted children serve: a new job goes through.
        again = client.wait_final(client.train(network_id, dataset_id, epochs=1, batch_size=256), timeout=600)
        assert again["status"] == "succeeded" and again["attempt"] == 1, again
        assert up.poll() is None


def test_convforge_up_stops_when_a_child_keeps_dying_at_start(tmp_path):
    with convforge_up(tmp_path) as (up, _api_url, var_dir, _started):
        console = tmp_path / "up.log"
        killed: set[int] = set()

        def kill_the_api_as_it_starts() -> bool:
            if up.poll() is not None:
                return True
            api = child_running(up, "gunicorn")
            if api is not None and api.pid not in killed:
                killed.add(api.pid)
                api.send_signal(signal.SIGKILL)
            return False

        wait_for(kill_the_api_as_it_starts, 120, "convforge up to give up on the API", interval=0.1)

        assert up.wait(timeout=90) == 1
        text = console.read_text(errors="replace")
        assert "convforge up: api was killed by SIGKILL" in text
        assert "5 short runs in a row; giving up" in text
        assert "convforge up: api keeps dying at start (5 starts in a row" in text
        assert f"Last lines of {var_dir / 'log' / 'api.log'}:" in text
        assert "giving up ---" in text.split("Last lines of")[-1]  # the tail of the API's own log
        assert "stopping worker ..." in text and "stopping redis ..." in text
        assert len(killed) == 5
        wait_for(lambda: not [p for p in psutil.process_iter() if _runs_under(p, var_dir)], 60,
                 "every process of the stack to stop")


def _healthy(api_url: str) -> bool:
    try:
        return requests.get(f"{api_url}/api/v1/health", timeout=5).status_code == 200
    except requests.RequestException:
        return False


def _runs_under(process: psutil.Process, var_dir) -> bool:
    try:
        return str(var_dir) in " ".join(process.cmdline()) or str(var_dir) in process.environ().get(
            "CONVFORGE_VAR_DIR", "")
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
