"""Arrays a kernel keeps between steps."""
from __future__ import annotations

import numpy as np


class Buffers:
    """Arrays kept between steps, reallocated only when the batch (shape) changes, and plans:
    whatever a kernel prepares from them (views, lists of NumPy calls on those views) to spare
    rebuilding it every step, dropped whenever an array is made anew."""

    def __init__(self):
        self.arrays: dict[str, np.ndarray] = {}
        self.plans: dict = {}

    def plan(self, key, build):
        """The plan kept under ``key``, made by ``build()`` if there is none."""
        plan = self.plans.get(key)
        if plan is None:
            plan = self.plans[key] = build()
        return plan

    def empty(self, key: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        return self._kept(key, shape, dtype, np.empty)

    def zeroed(self, key: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """Zeros when new; callers only ever rewrite the same interior, so the frame stays zero."""
        return self._kept(key, shape, dtype, np.zeros)

    def _kept(self, key: str, shape: tuple[int, ...], dtype, make) -> np.ndarray:
        array = self.arrays.get(key)
        if array is None or array.shape != shape or array.dtype != dtype:
            self.plans.clear()  # they may hold views of the array replaced
            array = self.arrays[key] = make(shape, dtype)
        return array
