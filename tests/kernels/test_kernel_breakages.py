"""Deliberate breakages of the kernels must be caught: each mutant below changes one
thing in a copy of the kernel sources (a wrong fragment index, a missing barrier, a tile
edge off by one, a cp.async wait one group short, a pipeline stage overwritten while in
use, ldmatrix rows of the wrong matrices, a wrong channel in a vectorised kernel or in
its folded batch norm, a border test off by one), the emulator is
built from that copy, and the same checks the emulation tests make must fail on it.

Slow (one emulator build per mutant, cached on disk afterwards).
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from cthulhu.devices.cupy_ import _conv, _eltwise, _igemm, _memory
from tests.kernels import test_igemm_emulation as ig
from tests.support import cuda_harness as H
from tests.support import kernel_refs as ref

pytestmark = pytest.mark.slow

IGEMM_CASES = [
    {**ig.BASE, "spatial": (10, 10), "channels": 36, "filters": 40},
    {**ig.BASE, "compute": "f16", "tile": "128x16", "channels": 24, "filters": 17,
     "schedule": "reverse"},
    {**ig.BASE, "compute": "strict", "tile": "128x32", "filters": 33, "schedule": "shuffle"},
    {**ig.BASE, "transposed": True, "strides": (2, 2), "pads": ((2, 3), (2, 3)),
     "compute": "bf16", "tile": "128x64", "schedule": "reverse"},
]

MUTANTS = {
    "tf32 A fragment: row g instead of g + 8": (
        "igemm.cu", "a[mt][1] = to_tf32(af[(r + 8) * G::LDA + kk + t]);",
        "a[mt][1] = to_tf32(af[r * G::LDA + kk + t]);"),
    "missing barrier before multiplying a stage": (
        "igemm.cu", "        cp_async_wait<STAGES - 2>();\n        __syncthreads();\n",
        "        cp_async_wait<STAGES - 2>();\n"),
    "tap mask edge off by one (reads one sample past the border)": (
        "igemm.cu", "mask |= (j < taps && i >= 0 && i < size)",
        "mask |= (j < taps && i >= 0 && i <= size)"),
    "cp.async wait one group short": (
        "igemm.cu", "cp_async_wait<STAGES - 2>();", "cp_async_wait<STAGES - 1>();"),
    "next tile loaded into the stage being multiplied": (
        "igemm.cu", "load_tile((kt + STAGES - 1) % STAGES);", "load_tile((kt + STAGES) % STAGES);"),
    "16-bit B fragments: ldmatrix rows of the two n-tiles swapped": (
        "igemm.cu", "(kk + (i & 1) * 8 + r) * G::LDB + wn0 +\n                                                 (nt + (i >> 1)) * 8);",
        "(kk + (i >> 1) * 8 + r) * G::LDB + wn0 +\n                                                 (nt + (i & 1)) * 8);"),
    "vectorised epilogue: channel of the first vector, not of its first element": (
        "eltwise.cu", "const int ch = (int)((first * VEC) % c);", "const int ch = (int)(first % c);"),
    "vectorised depthwise: border test off by one": (
        "depthwise.cu", "                        if (ix < 0 || ix >= w) {\n                            continue;\n                        }\n                        const V v",
        "                        if (ix < 0 || ix > w) {\n                            continue;\n                        }\n                        const V v"),
    "vectorised depthwise: folded batch norm's shift read for the first channels only": (
        "depthwise.cu", "cthulhu::gload(reinterpret_cast<const V*>(shift) + g)",
        "cthulhu::gload(reinterpret_cast<const V*>(shift) + 0)"),
}


def _mutant_emulator(tmp_path_factory, file, old, new):
    folder = tmp_path_factory.mktemp("mutant")
    for src in H.KERNEL_DIR.iterdir():
        if src.suffix in (".cu", ".cuh"):
            shutil.copy(src, folder / src.name)
    text = (folder / file).read_text()
    assert text.count(old) == 1, f"the breakage must change exactly one place in {file}"
    (folder / file).write_text(text.replace(old, new))
    names = _igemm.all_kernel_names() + _eltwise.all_kernel_names()
    names += [n for n in _memory.all_kernel_names()["depthwise.cu"]]
    return H.Emulator(names, kernel_dir=folder)


def _igemm_checks(emulator):
    for case in IGEMM_CASES:
        got, expected, terms = ig.run_case(emulator, case, drawn=False)
        ig.check(got, expected, case["compute"], terms)


def _eltwise_checks(emulator):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 5, 12)).astype(np.float32)
    bias = rng.standard_normal(12).astype(np.float32)
    launch = _eltwise.epilogue_launch(layout="channels_last", dtype="float32", size=x.size,
                                      batch=3, channels=12, flags=1)
    y = x.copy()
    emulator.launch(launch.name, launch.grid, launch.block,
                    [y, bias, bias, bias, y, np.int64(launch.args[0]), *launch.args[1:-1],
                     np.float32(0)])
    np.testing.assert_allclose(y, x + bias, rtol=1e-6)


def _depthwise_checks(emulator):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 5, 6, 8)).astype(np.float32)
    w = rng.standard_normal((3, 3, 8, 1)).astype(np.float32)
    z = ref.depthwise(x.astype(np.float64), w.astype(np.float64), (1, 1), (1, 1),
                      ((1, 1), (1, 1)))
    bias, scale, shift = (rng.standard_normal(8).astype(np.float32) for _ in range(3))
    for flags, act, arrays in ((0, None, (w, w, w)),
                               (7, "leaky_relu", (bias, scale, shift))):  # a folded BN
        expected = z if flags == 0 else ref.epilogue(z, *arrays, activation=act, alpha=0.25)
        y = np.full(expected.shape, np.nan, np.float32)
        launch = _memory.depthwise_launch(dtype="float32", batch=2, channels=8,
                                          in_spatial=(5, 6), out_spatial=(5, 6), kernel=(3, 3),
                                          strides=(1, 1), dilation=(1, 1), pads_lo=(1, 1),
                                          vec=4, flags=flags, activation=act, alpha=0.25)
        emulator.launch(launch.name, launch.grid, launch.block,
                        [x, w, *arrays, y, *_conv.kernel_scalars(launch)])
        np.testing.assert_allclose(y, expected, rtol=0, atol=1e-5)


CHECKS = {"igemm.cu": _igemm_checks, "eltwise.cu": _eltwise_checks,
          "depthwise.cu": _depthwise_checks}


@pytest.mark.parametrize("label", sorted(MUTANTS))
def test_breakage_is_caught(tmp_path_factory, label):
    file, old, new = MUTANTS[label]
    emulator = _mutant_emulator(tmp_path_factory, file, old, new)
    with pytest.raises(AssertionError):  # a mismatch, NaN, or an EmulationError
        CHECKS[file](emulator)


@pytest.mark.parametrize("file", sorted(CHECKS))
def test_checks_pass_on_the_real_sources(emulator, file):
    """The same checks on the unmodified kernels pass (so a caught breakage is the
    breakage's doing)."""
    CHECKS[file](emulator)
