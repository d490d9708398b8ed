import numpy as np
import pytest

pytest.importorskip("dask")
pytest.importorskip("zarr")


class ComputeCounter:
    """Counts Dask graph executions (any scheduler entry point) while active."""

    def __init__(self):
        from dask.callbacks import Callback

        counter = self

        class _Cb(Callback):
            def _start(self, dsk):
                counter.count += 1

        self.count = 0
        self._cb = _Cb()

    def __enter__(self):
        self._cb.__enter__()
        return self

    def __exit__(self, *exc):
        self._cb.__exit__(*exc)


@pytest.fixture
def compute_counter():
    return ComputeCounter


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
