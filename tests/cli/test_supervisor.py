"""`convforge up`'s supervisor with real child processes: a killed child is started again after a
back-off and the others keep running; one that keeps dying at start is given up on, with its last log
lines; after stop() nothing is restarted."""
from __future__ import annotations

import io
import os
import signal
import sys
import threading
import time

import pytest

from services.cli.processes import ChildProcess
from services.cli.supervisor import ChildKeepsDying, Supervisor, describe_exit
from tests.e2e.processes import wait_for

SLEEPER = [sys.executable, "-c", "import time; time.sleep(600)"]


def child(tmp_path, name: str, argv: list[str]) -> ChildProcess:
    process = ChildProcess(name, argv, dict(os.environ), tmp_path / "log" / f"{name}.log")
    process.start()
    return process


@pytest.fixture
def children():
    started: list[ChildProcess] = []
    yield started
    for process in started:
        process.stop(grace_seconds=5)


class Watch:
    """A supervisor over `children`, its console output, and its give-up (if any)."""

    def __init__(self, children: list[ChildProcess], **policy):
        self.console = io.StringIO()
        self.gave_up = threading.Event()
        self.supervisor = Supervisor(children, on_give_up=lambda _failure: self.gave_up.set(),
                                     console=self.console, **policy)
        self.supervisor.start()

    def lines(self) -> list[str]:
        return self.console.getvalue().splitlines()


def test_a_killed_child_is_restarted_and_the_others_keep_running(tmp_path, children):
    worker, api = child(tmp_path, "worker", SLEEPER), child(tmp_path, "api", SLEEPER)
    children += [worker, api]
    first_worker, api_pid = worker.process.pid, api.process.pid
    watch = Watch(children, first_backoff=0.2)

    os.kill(first_worker, signal.SIGKILL)
    wait_for(lambda: worker.running and worker.process.pid != first_worker, 20, "the worker to be restarted")
    watch.supervisor.stop()

    assert api.process.pid == api_pid and api.running
    assert watch.lines()[0].startswith("convforge up: worker was killed by SIGKILL after ")
    assert watch.lines()[0].endswith("restarting it in 0.2s (restart 1 in a row)")
    assert watch.lines()[1] == f"convforge up: worker restarted (pid {worker.process.pid})"
    log = worker.log_file.read_text()
    assert "convforge up: worker was killed by SIGKILL" in log and "convforge up: worker restarted" in log
    assert not watch.gave_up.is_set() and watch.supervisor.failure is None


def test_a_child_that_keeps_dying_at_start_is_given_up_on_with_its_last_log_lines(tmp_path, children):
    crashing = child(tmp_path, "api", [sys.executable, "-c", "print('port 8000 is taken'); raise SystemExit(3)"])
    steady = child(tmp_path, "worker", SLEEPER)
    children += [crashing, steady]
    watch = Watch(children, first_backoff=0.1, restart_limit=3, stable_seconds=20)

    assert watch.gave_up.wait(30), watch.console.getvalue()

    failure = watch.supervisor.failure
    assert isinstance(failure, ChildKeepsDying) and failure.child is crashing
    message = str(failure)
    assert message.startswith("api keeps dying at start (3 starts in a row, each ending within 20s; "
                              "the last one exited with code 3)")
    assert message.count("port 8000 is taken") == 3  # the log's last lines: one per start
    # Back-off doubles: 0.1s, 0.2s, then the third short run gives up.
    assert [line.split("restarting it in ")[1] for line in watch.lines() if "restarting" in line] == [
        "0.1s (restart 1 in a row)", "0.2s (restart 2 in a row)"]
    assert watch.lines()[-1].endswith("3 short runs in a row; giving up")
    assert steady.running and not crashing.running


def test_a_child_that_ran_long_enough_starts_its_back_off_over(tmp_path, children):
    exits_after_a_while = child(tmp_path, "worker", [sys.executable, "-c",
                                                     "import time; time.sleep(0.6); raise SystemExit(1)"])
    children.append(exits_after_a_while)
    watch = Watch(children, first_backoff=0.1, restart_limit=2, stable_seconds=0.3)

    wait_for(lambda: len([line for line in watch.lines() if "restarted" in line]) >= 3, 30, "three restarts")
    watch.supervisor.stop()

    assert not watch.gave_up.is_set()
    assert all(line.endswith("restarting it in 0.1s (restart 1 in a row)")
               for line in watch.lines() if "restarting" in line)


def test_nothing_is_restarted_after_stop(tmp_path, children):
    worker = child(tmp_path, "worker", SLEEPER)
    children.append(worker)
    watch = Watch(children, first_backoff=0.1)
    watch.supervisor.stop()

    os.kill(worker.process.pid, signal.SIGKILL)
    worker.process.wait(timeout=10)
    time.sleep(1.0)

    assert not worker.running and watch.lines() == []


def test_exits_are_described_in_plain_words():
    assert describe_exit(-signal.SIGKILL) == "was killed by SIGKILL"
    assert describe_exit(0) == "exited with code 0"
    assert describe_exit(2) == "exited with code 2"
