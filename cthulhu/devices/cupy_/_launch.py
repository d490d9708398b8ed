"""Launch geometry of the CUDA kernels, in plain Python (no CuPy, no NumPy).

Everything a launch needs besides the arrays is decided here: the kernel's name
expression (template arguments included), the grid, the block, the shared memory,
and the integer arguments in the order the kernel declares them. Keeping it free
of CuPy lets the test suite check it without a GPU, and lets the CPU emulation
harness launch the very same kernels over the very same grids.

Sizes come from :mod:`cthulhu.shapes` in the caller (the op's geometry); nothing
here derives an output length, and data formats are read through
:mod:`cthulhu.shapes.layout`.
"""

from __future__ import annotations

from dataclasses import dataclass

from cthulhu.shapes import ceildiv
from cthulhu.shapes.layout import is_channels_last

#: ``activation`` argument -> the kernels' code (CTHULHU_ACT_* in cthulhu_common.cuh).
ACTIVATIONS = {None: 0, "linear": 0, "relu": 1, "relu6": 2, "leaky_relu": 3, "sigmoid": 4,
               "tanh": 5}

#: Epilogue flags: which per-channel arrays a kernel's fused epilogue applies
#: (CTHULHU_EPI_* in cthulhu_common.cuh; igemm.cu, conv_nd.cu, depthwise.cu, eltwise.cu).
EPI_BIAS, EPI_SCALE, EPI_SHIFT = 1, 2, 4

#: dtype name -> the C++ type the templates are instantiated with.
CTYPES = {"float32": "float", "float64": "double", "float16": "cthulhu_half"}

#: Accumulation width in bytes (float16 accumulates in float32).
ACC_BYTES = {"float32": 4, "float64": 8, "float16": 4}

#: Largest value an ``int`` kernel argument (or an in-image offset) may take.
INT_MAX = 2**31 - 1

#: Depth of the K slice staged through shared memory (CONV_BK in conv_nd.cu).
CONV_BK = 16

#: Static shared memory a block may use without opting in (48 KiB on every arch).
SHARED_LIMIT = 48 * 1024

#: Threads per block of the element-wise kernels (depthwise, up-sampling).
ELEMENTWISE_THREADS = 256

#: Grid cap per direction of the element-wise kernels (65535 is CUDA's limit for y;
#: they loop, grid-stride, over whatever the grid does not cover).
ELEMENTWISE_MAX_BLOCKS = 65535

_LAYOUT_SUFFIX = {
    ("conv", "channels_last"): "ndhwc", ("conv", "channels_first"): "ncdhw",
    ("bilinear", "channels_last"): "nhwc", ("bilinear", "channels_first"): "nchw",
}


@dataclass(frozen=True)
class Tile:
    """A block's output tile of the implicit GEMM: ``bm`` positions x ``bn`` filters.

    Each thread accumulates ``tm x tn`` outputs, so a block has
    ``(bm / tm) * (bn / tn)`` threads.
    """

    bm: int
    bn: int
    tm: int
    tn: int

    @property
    def threads(self) -> int:
        return (self.bm // self.tm) * (self.bn // self.tn)

    def shared_bytes(self, dtype: str) -> int:
        """Static shared memory of one block, an upper bound: two padded K slices
        (``As``, ``Bs``), the double-buffered table of the slice's k decomposition
        (``Kt``, 5 ints per k) and the block's axis geometry (``Ax``, 3 x 9 ints, which
        the compiler may shrink where fields are constant)."""
        slices = CONV_BK * ((self.bm + 4) + (self.bn + 4)) * ACC_BYTES[dtype]
        return slices + 2 * 5 * CONV_BK * 4 + 3 * 9 * 4

    def check(self) -> None:
        """The divisibility rules conv_nd.cu's static_asserts enforce."""
        n = self.threads
        ok = (self.bm % self.tm == 0 and self.bn % self.tn == 0
              and (self.bm * CONV_BK) % n == 0 and (CONV_BK * self.bn) % n == 0
              and n % CONV_BK == 0 and n % self.bm == 0 and n % self.bn == 0)
        if not ok:
            raise ValueError(f"invalid convolution tile {self}")


#: The tiles conv_nd.cu is instantiated with, widest first. A narrow tile for few
#: filters keeps threads from computing columns that do not exist.
TILES = {
    "large": Tile(128, 128, 8, 8),
    "medium": Tile(64, 64, 4, 4),
    "narrow": Tile(64, 32, 4, 2),
    "thin": Tile(64, 16, 4, 2),
}


@dataclass(frozen=True)
class Launch:
    """One kernel launch: what ``RawKernel(grid, block, args, shared_mem=...)`` takes."""

    name: str
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    args: tuple[int | float, ...]
    shared_bytes: int = 0  # static shared memory (informative) or, for igemm.cu, dynamic
    wide: tuple[int, ...] = ()  # indexes of args the kernel declares ``long long``
    doubles: tuple[int, ...] = ()  # indexes of float args the kernel declares ``double``


def epilogue_args(head: tuple, dtype: str, flags: int, activation, alpha: float) -> dict:
    """``Launch`` keywords ``args`` and ``doubles`` of a kernel whose parameters end with
    the fused epilogue ``(int flags, int act, A alpha)`` (conv_nd.cu, depthwise.cu):
    ``flags`` the CTHULHU_EPI_* bits of the per-channel arrays passed, ``act`` the
    activation's code and ``alpha`` leaky_relu's slope in the accumulation type (a
    ``double`` for float64 kernels, so the slope is not rounded to float32)."""
    args = (*head, int(flags), ACTIVATIONS[activation], float(alpha))
    return {"args": args, "doubles": (len(args) - 1,) if ACC_BYTES[dtype] == 8 else ()}


def choose_tile(positions: int, filters: int, dtype: str = "float32",
                sm_count: int = 108) -> str:
    """Name of the tile for ``positions`` output rows (batch x space) and ``filters``.

    The narrowest tile that covers the filters in one column block; the large tile
    only when its grid still fills every multiprocessor twice, and never for float64
    (its 8 x 8 double accumulators spill registers).
    """
    if filters <= 16:
        name = "thin"
    elif filters <= 32:
        name = "narrow"
    elif filters <= 64:
        name = "medium"
    else:
        name = "large"
    tile = TILES[name]
    blocks = ceildiv(positions, tile.bm) * ceildiv(filters, tile.bn)
    if name == "large" and (blocks < 2 * sm_count or dtype == "float64"):
        name = "medium"
    return name


def kernel_name(family: str, layout: str, dtype: str, tile: str | None = None) -> str:
    """The name expression of a kernel, e.g. ``cthulhu_conv_nd_ndhwc<float, 64, 64, 4, 4>``.

    ``family`` is ``conv``, ``conv_transpose``, ``depthwise``, ``upsample_nearest``,
    ``upsample_bilinear``, ``pool`` or ``global_pool``; ``layout`` ``channels_last`` or
    ``channels_first``.
    """
    if dtype not in CTYPES:
        raise ValueError(f"no CUDA kernels for dtype {dtype!r}; expected one of {sorted(CTYPES)}")
    kind = "bilinear" if family == "upsample_bilinear" else "conv"
    suffix = _LAYOUT_SUFFIX[(kind, layout)]
    base = {"conv": "cthulhu_conv_nd", "conv_transpose": "cthulhu_conv_transpose_nd",
            "depthwise": "cthulhu_depthwise_nd", "upsample_nearest": "cthulhu_upsample_nearest",
            "upsample_bilinear": "cthulhu_upsample_bilinear", "pool": "cthulhu_pool",
            "global_pool": "cthulhu_global_pool"}[family]
    targs = [CTYPES[dtype]]
    if family in ("conv", "conv_transpose"):
        t = TILES[tile]
        targs += [str(t.bm), str(t.bn), str(t.tm), str(t.tn)]
    return f"{base}_{suffix}<{', '.join(targs)}>"


#: Tiles choose_tile never picks for a dtype (not compiled by the tests either).
_UNUSED_TILES = {"float64": ("large",)}


def launch_kernel_names() -> dict[str, list[str]]:
    """The name expressions of the kernels launched from this module, per source file
    (every kernel of the plugin: :func:`cthulhu.devices.cupy_._kernel_names.all_kernel_names`)."""
    layouts = ("channels_last", "channels_first")
    names: dict[str, list[str]] = {"conv_nd.cu": [], "depthwise.cu": [], "upsample.cu": [],
                                   "pool.cu": []}
    for dtype in CTYPES:
        for layout in layouts:
            for family in ("conv", "conv_transpose"):
                for tile in TILES:
                    if tile in _UNUSED_TILES.get(dtype, ()):
                        continue
                    names["conv_nd.cu"].append(kernel_name(family, layout, dtype, tile))
            names["depthwise.cu"].append(kernel_name("depthwise", layout, dtype))
            names["upsample.cu"].append(kernel_name("upsample_nearest", layout, dtype))
            names["upsample.cu"].append(kernel_name("upsample_bilinear", layout, dtype))
            names["pool.cu"].append(kernel_name("pool", layout, dtype))
            names["pool.cu"].append(kernel_name("global_pool", layout, dtype))
        for rank in (1, 3):
            names["upsample.cu"].append(linear_cf_name(dtype, rank))
    return names


def as_3d(values, fill: int) -> tuple[int, int, int]:
    """Spatial values of a rank-1/2/3 op as (depth, height, width): missing leading axes get ``fill``."""
    values = tuple(int(v) for v in values)
    if not 1 <= len(values) <= 3:
        raise ValueError(f"expected 1 to 3 spatial values, got {values}")
    return (fill,) * (3 - len(values)) + values


def _window_3d(in_spatial, out_spatial, kernel, strides, dilation, pads_lo):
    """The spatial arguments of a convolution launch as (depth, height, width) triples:
    sizes, strides and dilation of missing axes are 1, their padding 0."""
    return (as_3d(in_spatial, 1), as_3d(out_spatial, 1), as_3d(kernel, 1),
            as_3d(strides, 1), as_3d(dilation, 1), as_3d(pads_lo, 0))


class Unsupported(ValueError):
    """A configuration the kernels do not handle (the plugin declines it)."""


def _check_int(what: str, value: int) -> None:
    if value > INT_MAX:
        raise OverflowError(f"{what} = {value} exceeds the kernels' 32-bit index range")


def conv_launch(*, transposed: bool, layout: str, dtype: str, batch: int, channels: int,
                filters: int, in_spatial, out_spatial, kernel, strides, dilation, pads_lo,
                flags: int = 0, activation=None, alpha: float = 0.0, sm_count: int = 108,
                tile: str | None = None) -> Launch:
    """Launch of ``conv_nd.cu`` for one (transposed) convolution.

    Spatial arguments are sequences of rank 1 to 3 in (depth, height, width) order;
    ``pads_lo`` is the zero padding before each axis (of the equivalent direct
    convolution for ``transposed``). The epilogue (``flags``, ``activation``,
    ``alpha``) is :func:`epilogue_args`'. ``tile`` forces a tile of :data:`TILES` (tests,
    benchmarks); by default :func:`choose_tile` picks it. A transposed convolution runs
    one GEMM per output phase (``grid[2]`` = product of the strides). Raises
    ``OverflowError`` past 32-bit sizes and :class:`Unsupported` for what the kernel
    does not do (the plugin then declines and the generic code runs).
    """
    (d, h, w), (od, oh, ow), (kd, kh, kw), (sd, sh, sw), (dd, dh, dw), (pd, ph, pw) = \
        _window_3d(in_spatial, out_spatial, kernel, strides, dilation, pads_lo)
    phases = 1
    positions = batch * od * oh * ow
    if transposed:
        if any(s > 1 and dl > 1 for s, dl in ((sd, dd), (sh, dh), (sw, dw))):
            raise Unsupported("transposed convolution with both stride > 1 and dilation > 1 "
                              "on one axis (Keras rejects it too)")
        # one GEMM per output phase o = q * s + r; the grid covers the largest phase
        phases = sd * sh * sw
        positions = batch * ceildiv(od, sd) * ceildiv(oh, sh) * ceildiv(ow, sw)
    for what, value in (("input image size", d * h * w * channels),
                        ("output image size", od * oh * ow * filters),
                        ("kernel size", kd * kh * kw * channels * filters),
                        ("grid", ceildiv(positions, 16))):
        _check_int(what, value)
    tile_name = tile or choose_tile(positions, filters, dtype, sm_count)
    tile = TILES[tile_name]
    family = "conv_transpose" if transposed else "conv"
    return Launch(
        name=kernel_name(family, layout, dtype, tile_name),
        grid=(ceildiv(positions, tile.bm), ceildiv(filters, tile.bn), phases),
        block=(tile.threads, 1, 1),
        shared_bytes=tile.shared_bytes(dtype),
        **epilogue_args((batch, d, h, w, channels, od, oh, ow, filters, kd, kh, kw, sd, sh,
                         sw, dd, dh, dw, pd, ph, pw), dtype, flags, activation, alpha),
    )


def row_grid(rows: int, length: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    """``(grid, block)`` of a memory-bound kernel over ``rows`` rows of ``length`` elements.

    ``blockIdx.y`` walks rows and ``x`` walks a row's elements, both with grid-stride
    loops, so any grid is correct; this one gives each element a thread where the CUDA
    limits allow. Short rows get smaller blocks (whole warps) rather than idle threads.
    """
    threads = min(ELEMENTWISE_THREADS, max(32, ceildiv(length, 32) * 32))
    blocks_x = max(1, min(ceildiv(length, threads), ELEMENTWISE_MAX_BLOCKS))
    blocks_y = max(1, min(rows, ELEMENTWISE_MAX_BLOCKS))
    return (blocks_x, blocks_y, 1), (threads, 1, 1)


def depthwise_launch(*, layout: str, dtype: str, batch: int, channels: int, multiplier: int,
                     in_spatial, out_spatial, kernel, strides, dilation, pads_lo,
                     flags: int = 0, activation=None, alpha: float = 0.0) -> Launch:
    """Launch of ``depthwise.cu``; spatial and epilogue arguments as in
    :func:`conv_launch` (the per-channel arrays have ``channels * multiplier`` entries)."""
    (d, h, w), (od, oh, ow), (kd, kh, kw), (sd, sh, sw), (dd, dh, dw), (pd, ph, pw) = \
        _window_3d(in_spatial, out_spatial, kernel, strides, dilation, pads_lo)
    cm = channels * multiplier
    _check_int("output image size", od * oh * ow * cm)
    _check_int("input image size", d * h * w * channels)
    if is_channels_last(layout):
        grid, block = row_grid(batch * od * oh, ow * cm)
    else:
        grid, block = row_grid(batch * cm * od, oh * ow)
    return Launch(
        name=kernel_name("depthwise", layout, dtype),
        grid=grid, block=block,
        **epilogue_args((batch, d, h, w, channels, od, oh, ow, multiplier, kd, kh, kw, sd, sh,
                         sw, dd, dh, dw, pd, ph, pw), dtype, flags, activation, alpha),
    )


def linear_cf_name(dtype: str, rank: int) -> str:
    """``cthulhu_upsample_linear_ncdhw<T, RANK>``: channels_first linear interpolation of
    rank 1 or 3 (rank 2 has ``cthulhu_upsample_bilinear_nchw``)."""
    return f"cthulhu_upsample_linear_ncdhw<{CTYPES[dtype]}, {rank}>"


def upsample_launch(*, interpolation: str, layout: str, dtype: str, batch: int,
                    channels: int, in_spatial, out_spatial, size) -> Launch:
    """Launch of ``upsample.cu``: ``nearest`` for rank 1-3, ``bilinear`` for rank 2 and,
    channels_first, for ranks 1 and 3 (trilinear).

    ``out_spatial`` (from ``shapes.upsample_length``) only sizes the grid; the kernel
    derives each output coordinate from the factors ``size``. Nearest runs over input
    rows (each element writes its copies), bilinear over output rows.
    """
    factors = tuple(int(s) for s in size)
    image = channels
    for n in out_spatial:
        image *= int(n)
    _check_int("output image size", image)
    cl = is_channels_last(layout)
    if interpolation == "nearest":
        d, h, w = as_3d(in_spatial, 1)
        fd, fh, fw = as_3d(factors, 1)
        # rows are input rows; each thread writes its element's fd*fh*fw copies
        grid, block = row_grid(batch * d * h, w * channels) if cl else \
            row_grid(batch * channels * d, h * w)
        return Launch(name=kernel_name("upsample_nearest", layout, dtype), grid=grid,
                      block=block, args=(batch, d, h, w, channels, fd, fh, fw))
    if interpolation == "bilinear" and len(factors) == 2:
        h, w = (int(v) for v in in_spatial)
        fh, fw = factors
        oh, ow = (int(v) for v in out_spatial)
        grid, block = row_grid(batch * oh, ow * channels) if cl else \
            row_grid(batch * channels, oh * ow)
        return Launch(name=kernel_name("upsample_bilinear", layout, dtype), grid=grid,
                      block=block, args=(batch, h, w, channels, fh, fw))
    if interpolation == "bilinear" and not cl:
        # rows are output rows (n, c, oz, oy), elements their x positions
        d, h, w = as_3d(in_spatial, 1)
        fd, fh, fw = as_3d(factors, 1)
        grid, block = row_grid(batch * channels * d * fd * h * fh, w * fw)
        return Launch(name=linear_cf_name(dtype, len(factors)), grid=grid, block=block,
                      args=(batch, d, h, w, channels, fd, fh, fw))
    raise ValueError(f"no up-sampling kernel for interpolation={interpolation!r} "
                     f"at rank {len(factors)}")


def pool_launch(*, layout: str, dtype: str, kind: str, batch: int, channels: int, in_spatial,
                out_spatial, pool_size, strides, pads_lo) -> Launch:
    """Launch of ``cthulhu_pool_*`` (``pool.cu``): one thread per output element, over
    output rows as :func:`row_grid` lays them out; spatial arguments as in
    :func:`conv_launch` (``pads_lo``: the excluded padding before each axis)."""
    (d, h, w), (od, oh, ow), (kd, kh, kw), (sd, sh, sw), _, (pd, ph, pw) = \
        _window_3d(in_spatial, out_spatial, pool_size, strides, (1, 1, 1)[:len(pool_size)],
                   pads_lo)
    _check_int("input image size", d * h * w * channels)
    _check_int("output image size", od * oh * ow * channels)
    if is_channels_last(layout):
        grid, block = row_grid(batch * od * oh, ow * channels)
    else:
        grid, block = row_grid(batch * channels * od, oh * ow)
    return Launch(name=kernel_name("pool", layout, dtype), grid=grid, block=block,
                  args=(batch, channels, d, h, w, od, oh, ow, kd, kh, kw, sd, sh, sw, pd, ph,
                        pw, int(kind == "average")))


#: Threads per block of the global pooling reduction (CTHULHU_GLOBAL_THREADS, pool.cu).
GLOBAL_POOL_THREADS = 256


#: Below this many blocks a long global reduction (more than GLOBAL_POOL_SPLIT positions)
#: leaves most of a GPU idle: pool.cu gives each outer entry one block, so one volume
#: (N = 1) with few channels would run on one multiprocessor.
GLOBAL_POOL_MIN_BLOCKS = 64
GLOBAL_POOL_SPLIT = 65536


def global_pool_too_few_blocks(*, outer: int, positions: int, inner: int) -> bool:
    """Whether ``cthulhu_global_pool_*`` would run too few blocks for its positions (the
    plugin then declines, and CuPy's own reduction runs through the generic code)."""
    blocks = outer * ceildiv(inner, 32)
    return blocks < GLOBAL_POOL_MIN_BLOCKS and positions > GLOBAL_POOL_SPLIT


def global_pool_launch(*, layout: str, dtype: str, kind: str, outer: int, positions: int,
                       inner: int) -> Launch:
    """Launch of ``cthulhu_global_pool_*``: ``x`` as ``[outer][positions][inner]``; a block
    of ``(bx, 256 // bx)`` threads reduces ``bx`` inner entries (the smallest power of two
    covering ``inner``, at most 32) of one outer entry."""
    _check_int("positions x inner", positions * inner)
    bx = 1
    while bx < min(inner, 32):
        bx *= 2
    grid = (ceildiv(inner, bx), max(1, min(outer, ELEMENTWISE_MAX_BLOCKS)), 1)
    return Launch(name=kernel_name("global_pool", layout, dtype), grid=grid,
                  block=(bx, GLOBAL_POOL_THREADS // bx, 1),
                  args=(outer, positions, inner, int(kind == "average")))
