"""Launch geometry of ``igemm.cu``, the fast convolution, in plain Python.

Four computations share the kernel (``COMPUTES``): strict float32 on the FMA units, and
on tensor cores tf32 (float32 storage), bf16 (float32 input cast to bfloat16, float32
output) and f16 (float16 in and out); all accumulate in float32. Which one runs is the
caller's decision (:func:`cthulhu.config.float32_precision` for float32 inputs); this
module only says whether a call fits (:func:`supported`), picks the tile, and builds the
launch. Nothing here imports CuPy or NumPy.
"""

from __future__ import annotations

from dataclasses import dataclass

from cthulhu.devices.cupy_._launch import ACTIVATIONS, INT_MAX, Launch, as_3d
from cthulhu.shapes import ceildiv
from cthulhu.shapes.layout import is_channels_last

#: computation -> (storage C++ type, output C++ type, tensor cores?)
COMPUTES = {
    "strict": ("float", "float", False),
    "tf32": ("float", "float", True),
    "bf16": ("cthulhu_bf16", "float", True),
    "f16": ("cthulhu_half", "cthulhu_half", True),
}

#: Bytes of one stored element per computation (the 16-byte vector holds 16 / this).
ITEMSIZE = {"strict": 4, "tf32": 4, "bf16": 2, "f16": 2}

#: Taps per axis a row's tap mask holds (10 bits per axis in igemm.cu).
MAX_TAPS = 10


@dataclass(frozen=True)
class IgemmTile:
    """A block tile ``bm x bn`` with K slices ``bk`` deep, warp tiles ``wm x wn`` and
    ``stages`` pipeline stages; ``regs``: registers per thread ptxas reports for sm_90
    (checked by tests/kernels/test_kernels_compile.py), used to estimate occupancy."""

    bm: int
    bn: int
    bk: int
    wm: int
    wn: int
    stages: int
    regs: int

    @property
    def threads(self) -> int:
        return (self.bm // self.wm) * (self.bn // self.wn) * 32

    def shared_bytes(self, itemsize: int) -> int:
        vec = 16 // itemsize
        return self.stages * (self.bm * (self.bk + vec) + self.bk * (self.bn + 8)) * itemsize


#: Tiles per family, keyed by name; "simt" serves "strict", "tc" the tensor-core paths.
TILES = {
    "simt": {
        "128x128": IgemmTile(128, 128, 16, 32, 64, 4, 167),
        "128x64": IgemmTile(128, 64, 16, 32, 64, 4, 168),
        "128x32": IgemmTile(128, 32, 16, 32, 32, 4, 122),
        "128x16": IgemmTile(128, 16, 16, 32, 16, 4, 103),
    },
    "tc": {  # the most registers of the three storage types (tf32 needs the most)
        "128x128": IgemmTile(128, 128, 32, 64, 32, 3, 126),
        "128x64": IgemmTile(128, 64, 32, 64, 32, 3, 220),
        "128x32": IgemmTile(128, 32, 32, 32, 32, 3, 152),
        "128x16": IgemmTile(128, 16, 32, 32, 16, 3, 124),
    },
}


def family(compute: str) -> str:
    return "tc" if COMPUTES[compute][2] else "simt"


def kernel_name(compute: str, tile: str) -> str:
    """``cthulhu_igemm_ndhwc<Ti, To, BM, BN, BK, WM, WN, STAGES, TC>``."""
    ti, to, tc = COMPUTES[compute]
    t = TILES[family(compute)][tile]
    return (f"cthulhu_igemm_ndhwc<{ti}, {to}, {t.bm}, {t.bn}, {t.bk}, {t.wm}, {t.wn}, "
            f"{t.stages}, {'true' if tc else 'false'}>")


def all_kernel_names() -> list[str]:
    return [kernel_name(c, t) for c in COMPUTES for t in TILES[family(c)]]


def supported(*, compute: str, channels: int, kernel, strides, transposed: bool,
              dilation) -> bool:
    """Whether ``igemm.cu`` runs this convolution: channels a multiple of the 16-byte
    vector, at most :data:`MAX_TAPS` taps per axis (per phase for a transposed one), and
    no transposed axis with both a stride and a dilation (Keras rejects it too)."""
    if channels % (16 // ITEMSIZE[compute]):
        return False
    if any(k > MAX_TAPS for k in kernel):
        return False
    return not (transposed and any(s > 1 and d > 1 for s, d in zip(strides, dilation,
                                                                        strict=True)))


def blocks_per_sm(tile: IgemmTile, itemsize: int, smem_per_sm: int) -> int:
    """Resident blocks of ``tile`` on one multiprocessor (threads, registers, shared memory)."""
    by_threads = 2048 // tile.threads
    by_regs = 65536 // (tile.threads * tile.regs)
    by_smem = smem_per_sm // max(1, tile.shared_bytes(itemsize) + 1024)  # + driver's share
    return max(0, min(by_threads, by_regs, by_smem, 32))


def choose_tile(compute: str, positions: int, filters: int, phases: int = 1,
                sm_count: int = 132, smem_per_sm: int = 228 * 1024) -> str:
    """The tile with the least estimated time: the blocks the busiest multiprocessor
    runs (``ceil(blocks / sm_count)``: a partial last wave costs as much as a full one,
    and a grid smaller than the GPU leaves multiprocessors idle) times the time of one
    block, ``max(bm * bn, 64 * (bm + bn))``: its multiply-adds per k, or the shared-memory
    bytes it moves per k when the tile is too thin to hide them. Tiles that do not fit
    the multiprocessor's shared memory are skipped."""
    itemsize = ITEMSIZE[compute]
    best, best_cost = None, None
    for name, tile in TILES[family(compute)].items():
        if blocks_per_sm(tile, itemsize, smem_per_sm) == 0:
            continue
        blocks = ceildiv(positions, tile.bm) * ceildiv(filters, tile.bn) * phases
        block_time = max(tile.bm * tile.bn, 64 * (tile.bm + tile.bn))
        cost = ceildiv(blocks, sm_count) * block_time
        if best_cost is None or cost < best_cost:
            best, best_cost = name, cost
    if best is None:
        raise ValueError(f"no igemm tile fits {smem_per_sm} bytes of shared memory")
    return best


def padded(channels: int, filters: int, compute: str, tile: str) -> tuple[int, int]:
    """``(Cp, Fp)``: the weight matrix's channel and filter counts, padded with zeros to
    whole K slices and whole column tiles (the kernel's B loads need no bounds test)."""
    t = TILES[family(compute)][tile]
    return ceildiv(channels, t.bk) * t.bk, ceildiv(filters, t.bn) * t.bn


def launch(*, compute: str, transposed: bool, out_layout: str, batch: int, channels: int,
           filters: int, in_spatial, out_spatial, kernel, strides, dilation, pads_lo,
           flags: int = 0, activation=None, alpha: float = 0.0, sm_count: int = 132,
           smem_per_sm: int = 228 * 1024, tile: str | None = None) -> Launch:
    """The launch of ``igemm.cu`` (arguments as :func:`._launch.conv_launch`'s, the
    epilogue ``flags``/``activation``/``alpha`` included); ``tile`` forces a tile (tests,
    benchmarks).
    ``Launch.args`` ends with ``alpha`` as a float (the kernel's only float parameter)."""
    (d, h, w), (od, oh, ow) = as_3d(in_spatial, 1), as_3d(out_spatial, 1)
    (kd, kh, kw), (sd, sh, sw) = as_3d(kernel, 1), as_3d(strides, 1)
    (dd, dh, dw), (pd, ph, pw) = as_3d(dilation, 1), as_3d(pads_lo, 0)
    phases = sd * sh * sw if transposed else 1
    if transposed:
        positions = batch * ceildiv(od, sd) * ceildiv(oh, sh) * ceildiv(ow, sw)
    else:
        positions = batch * od * oh * ow
    for what, value in (("input image size", d * h * w * channels),
                        ("output image size", od * oh * ow * filters),
                        ("GEMM rows", positions)):
        if value > INT_MAX:
            raise OverflowError(f"{what} = {value} exceeds the kernels' 32-bit index range")
    tile = tile or choose_tile(compute, positions, filters, phases, sm_count, smem_per_sm)
    t = TILES[family(compute)][tile]
    cp_, fp = padded(channels, filters, compute, tile)
    return Launch(
        name=kernel_name(compute, tile),
        grid=(ceildiv(positions, t.bm), ceildiv(filters, t.bn), phases),
        block=(t.threads, 1, 1),
        args=(batch, d, h, w, channels, cp_, od, oh, ow, filters, fp, kd, kh, kw, sd, sh, sw,
              dd, dh, dw, pd, ph, pw, int(bool(transposed)),
              int(is_channels_last(out_layout)), int(flags), ACTIVATIONS[activation],
              float(alpha)),
        shared_bytes=t.shared_bytes(ITEMSIZE[compute]),
    )
