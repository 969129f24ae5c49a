"""Training processes keep freed memory for the next step instead of faulting it in again."""
from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")

# Run in a fresh process, so the test run's own allocator is left as it is.
# RSS (MiB) kept after a 16 MiB feature map, the first of its size, is freed.
KEPT_AFTER_FREE = textwrap.dedent("""
    import sys
    import numpy as np
    import psutil
    from worker.training.allocator import keep_freed_memory
    if sys.argv[1] == "tuned":
        assert keep_freed_memory() is True  # glibc accepts every setting
    rss = lambda: psutil.Process().memory_info().rss / 2**20
    before = rss()
    block = np.ones(2 * 2**20)
    del block
    print(rss() - before)
""")


def kept_mib(mode: str) -> float:
    done = subprocess.run([sys.executable, "-c", KEPT_AFTER_FREE, mode], capture_output=True, text=True,
                          check=True)
    return float(done.stdout)


def test_a_freed_feature_map_stays_in_the_process_only_when_tuned():
    assert kept_mib("default") < 4  # glibc maps a block this large and unmaps it when freed
    assert kept_mib("tuned") > 12
