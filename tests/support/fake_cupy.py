"""A stand-in ``cupy`` module for the CPU: NumPy arrays play device arrays, and
``RawModule``/``RawKernel`` launch the emulated kernels (cuda_harness.Emulator).

It lets the CuPy plugin's Python side (shapes, launch geometry, argument packing,
loader options) run end to end without a GPU. It is strict where real CuPy would
silently misbehave: kernel scalars must be ``numpy.int32`` (a Python int would be
passed as 64 bits), arrays C-contiguous, and the grid and block within CUDA's limits.
"""

from __future__ import annotations

import types

import numpy as np

from tests.support import cuda_harness as H


class FakeRawKernel:
    def __init__(self, emulator, name):
        self.emulator, self.name = emulator, name

    max_dynamic_shared_size_bytes = 48 * 1024

    def __call__(self, grid, block, args, shared_mem=0):
        assert len(grid) == 3 and len(block) == 3, (grid, block)
        assert all(g >= 1 for g in grid) and grid[1] <= 65535 and grid[2] <= 65535, grid
        assert 1 <= block[0] * block[1] * block[2] <= 1024, block
        for arg in args:
            if isinstance(arg, np.ndarray):
                assert arg.flags.c_contiguous
            else:
                assert type(arg) in (np.int32, np.int64, np.float32, np.float64), \
                    f"kernel scalar {arg!r} is not numpy.int32/int64/float32/float64"
        # dynamic shared memory past 48 KiB needs the kernel's opt-in first, as on a GPU
        assert shared_mem <= max(48 * 1024, self.max_dynamic_shared_size_bytes), shared_mem
        FakeRawModule.launched.append(self.name)
        self.emulator.launch(self.name, grid, block, list(args), shared_bytes=shared_mem)


class FakeRawModule:
    compiled = []  # (file text, options, name expressions) of every module built
    launched = []  # name expression of every kernel launched

    def __init__(self, *, code, options=(), name_expressions=()):
        assert "-std=c++17" in options
        assert any(o == f"-I{H.KERNEL_DIR}" for o in options), options
        assert code in {(H.KERNEL_DIR / s).read_text() for s in H.SOURCES}
        FakeRawModule.compiled.append((code, tuple(options), tuple(name_expressions)))
        self.names = set(name_expressions)
        self.emulator = FakeRawModule.emulator

    def get_function(self, name):
        assert name in self.names, f"{name} was not among the module's name expressions"
        return FakeRawKernel(self.emulator, name)


def make(emulator) -> types.ModuleType:
    cp = types.ModuleType("cupy")
    cp.__version__ = "0.0-emulated"
    for attr in ("ndarray", "empty", "zeros", "ascontiguousarray", "matmul", "maximum",
                 "asarray", "moveaxis", "transpose", "float16", "float32", "float64", "uint16"):
        setattr(cp, attr, getattr(np, attr))
    FakeRawModule.emulator = emulator
    cp.RawModule = FakeRawModule
    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1)
    device = type("Device", (), {"id": 0})
    cp.cuda = types.SimpleNamespace(runtime=runtime, Device=device)
    return cp
