"""Child processes of `convforge up`: each in its own session (process group), so stopping one stops
everything it started (gunicorn's workers, the data-parallel trainer's processes) and a Ctrl-C in the
terminal reaches only `convforge up`, which then stops the children in order. Should `convforge up`
itself be killed outright, each child gets SIGTERM from the kernel (PR_SET_PDEATHSIG)."""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
from collections import deque
from pathlib import Path

PR_SET_PDEATHSIG = 1


def _terminate_with_parent() -> None:
    # Runs in the child between fork and exec; the setting survives exec.
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class ChildProcess:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_file: Path):
        self.name = name
        self.argv = argv
        self.env = env
        self.log_file = log_file
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                            stdin=subprocess.DEVNULL, start_new_session=True,
                                            preexec_fn=_terminate_with_parent)

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace_seconds: float) -> None:
        """SIGTERM to the whole group, SIGKILL whatever is left after `grace_seconds`."""
        if self.process is None:
            return
        self._signal_group(signal.SIGTERM)
        try:
            self.process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            pass
        # Also reaches grandchildren that outlived their parent.
        self._signal_group(signal.SIGKILL)
        self.process.wait()

    def kill_group(self) -> None:
        """SIGKILL whatever is left of the process group of a child that exited on its own."""
        self._signal_group(signal.SIGKILL)

    def note_in_log(self, line: str) -> None:
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_file, "a", encoding="utf-8") as log:
            log.write(line + "\n")

    def _signal_group(self, signum: int) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def log_tail(self, lines: int = 20) -> str:
        try:
            with open(self.log_file, errors="replace") as log:
                return "".join(deque(log, maxlen=lines))
        except FileNotFoundError:
            return ""
