"""Keeping `convforge up`'s children alive: a child that exits is started again after a back-off,
announced on the console and in its own log, while the others keep serving. A child that keeps dying
at start (RESTART_LIMIT starts in a row, each ending within STABLE_SECONDS) cannot be helped by
restarting it: the supervisor gives up, and `convforge up` stops everything and shows that child's
last log lines."""
from __future__ import annotations

import signal
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Callable

from services.cli.processes import ChildProcess

# A child that ran this long had started fine; its next exit starts the back-off from the beginning.
STABLE_SECONDS = 30.0
# Starts in a row that ended within STABLE_SECONDS before the supervisor gives up on a child.
RESTART_LIMIT = 5
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
POLL_SECONDS = 0.5


def describe_exit(returncode: int) -> str:
    if returncode < 0:
        try:
            return f"was killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"was killed by signal {-returncode}"
    return f"exited with code {returncode}"


class ChildKeepsDying(Exception):
    def __init__(self, child: ChildProcess, starts: int, within_seconds: float, last_exit: str):
        self.child = child
        super().__init__(f"{child.name} keeps dying at start ({starts} starts in a row, each ending within "
                         f"{within_seconds:g}s; the last one {last_exit}). Last lines of {child.log_file}:\n"
                         f"{child.log_tail()}")


class Supervisor:
    """Watches started children from a thread. `on_give_up` is called (from that thread) with the
    ChildKeepsDying error once a child cannot be kept running; `failure` keeps it."""

    def __init__(self, children: list[ChildProcess], on_give_up: Callable[[ChildKeepsDying], None],
                 stable_seconds: float = STABLE_SECONDS, restart_limit: int = RESTART_LIMIT,
                 first_backoff: float = FIRST_BACKOFF_SECONDS, max_backoff: float = MAX_BACKOFF_SECONDS,
                 console=None):
        self.children = children
        self.on_give_up = on_give_up
        self.stable_seconds = stable_seconds
        self.restart_limit = restart_limit
        self.first_backoff = first_backoff
        self.max_backoff = max_backoff
        self.console = console or sys.stderr
        self.failure: ChildKeepsDying | None = None
        # child name -> starts in a row that ended before the child was stable
        self.short_runs = {child.name: 0 for child in children}
        self.started_at = {child.name: time.monotonic() for child in children}
        self._stopping = threading.Event()
        self._idle = threading.Event()
        # Daemonic and never returning: children get their parent-death signal when the *thread* that
        # started them ends (PR_SET_PDEATHSIG is per thread), so the thread that restarts them lives as
        # long as the process, and children are stopped in order by whoever called stop().
        self._thread = threading.Thread(target=self._run, name="convforge-supervisor", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """No restart after this returns (a restart under way completes first, so stopping sees it)."""
        self._stopping.set()
        if self._thread.is_alive():
            self._idle.wait()

    def _run(self) -> None:
        try:
            self._watch()
        finally:
            self._idle.set()
        threading.Event().wait()

    def _watch(self) -> None:
        while not self._stopping.wait(POLL_SECONDS):
            for child in self.children:
                if self._stopping.is_set():
                    return
                if child.process is not None and not child.running:
                    try:
                        self._restart(child)
                    except ChildKeepsDying as failure:
                        self.failure = failure
                        self._stopping.set()
                        self.on_give_up(failure)
                        return

    def _restart(self, child: ChildProcess) -> None:
        ran = time.monotonic() - self.started_at[child.name]
        how = describe_exit(child.process.returncode)
        # What the child started (gunicorn's workers, the trainer's processes) goes with it.
        child.kill_group()
        short_runs = self.short_runs[child.name] + 1 if ran < self.stable_seconds else 1
        self.short_runs[child.name] = short_runs
        if ran < self.stable_seconds and short_runs >= self.restart_limit:
            self._say(child, f"{child.name} {how} after {ran:.1f}s, {short_runs} short runs in a row; giving up")
            raise ChildKeepsDying(child, short_runs, self.stable_seconds, how)
        delay = min(self.first_backoff * 2 ** (short_runs - 1), self.max_backoff)
        self._say(child, f"{child.name} {how} after {ran:.1f}s; restarting it in {delay:g}s "
                         f"(restart {short_runs} in a row)")
        if self._stopping.wait(delay):
            return
        child.start()
        self.started_at[child.name] = time.monotonic()
        self._say(child, f"{child.name} restarted (pid {child.process.pid})")

    def _say(self, child: ChildProcess, message: str) -> None:
        print(f"convforge up: {message}", file=self.console, flush=True)
        child.note_in_log(f"--- {datetime.now(timezone.utc):%Y-%m-%d %H:%M:%S} UTC convforge up: {message} ---")
