"""Launch geometry of the CUDA kernels (cthulhu.devices.cupy_._launch), without a GPU."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu import shapes
from cthulhu.devices.cupy_ import _kernel_names, _launch

DTYPES = ("float16", "float32", "float64")


@pytest.mark.parametrize("name", sorted(_launch.TILES))
def test_tiles_satisfy_the_kernel_static_asserts(name):
    tile = _launch.TILES[name]
    tile.check()
    assert 32 <= tile.threads <= 1024 and tile.threads % 32 == 0  # whole warps
    for dtype in DTYPES:
        assert tile.shared_bytes(dtype) <= _launch.SHARED_LIMIT


def test_invalid_tile_is_rejected():
    with pytest.raises(ValueError, match="invalid convolution tile"):
        _launch.Tile(64, 64, 3, 4).check()


def test_shared_bytes_counts_slices_k_table_and_axes():
    # As[16][64 + 4] and Bs[16][16 + 4] accumulators, int Kt[2][5][16] and int Ax[3][9]
    table = 2 * 5 * 16 * 4 + 3 * 9 * 4
    assert _launch.TILES["thin"].shared_bytes("float32") == 16 * (68 + 20) * 4 + table
    assert _launch.TILES["thin"].shared_bytes("float16") == 16 * (68 + 20) * 4 + table
    assert _launch.TILES["thin"].shared_bytes("float64") == 16 * (68 + 20) * 8 + table


def test_shared_bytes_match_ptxas(tmp_path):
    """The static shared memory ptxas reports for each tile is within _launch's bound
    (and at least the two slices and the k table, which cannot shrink)."""
    from tests.support import cuda_harness as H

    if H.nvcc() is None:
        pytest.skip("nvcc is not installed")
    names = {_launch.kernel_name("conv", "channels_last", "float32", t): t for t in _launch.TILES}
    # the same build as test_kernels_compile's (one cached cubin of every kernel)
    cubin = H.nvcc_compile("conv_nd.cu", _kernel_names.all_kernel_names()["conv_nd.cu"], "sm_80",
                           "cubin")
    log = H.ptxas_log(cubin)
    found = re.findall(r"entry function '_Z21cthulhu_conv_nd_ndhwcIfLi(\d+)ELi(\d+)E.*?"
                       r"(\d+) bytes smem", log, re.S)
    assert len(found) == len(names)
    for bm, bn, smem in found:
        tile = next(t for t in _launch.TILES.values() if (t.bm, t.bn) == (int(bm), int(bn)))
        floor = 16 * (tile.bm + 4 + tile.bn + 4) * 4 + 2 * 5 * 16 * 4
        assert floor <= int(smem) <= tile.shared_bytes("float32")


@pytest.mark.parametrize(("filters", "expected"), [(1, "thin"), (16, "thin"), (17, "narrow"),
                                                   (32, "narrow"), (33, "medium"),
                                                   (64, "medium")])
def test_tile_follows_the_filter_count(filters, expected):
    assert _launch.choose_tile(10**6, filters) == expected


def test_large_tile_only_when_it_fills_the_gpu():
    assert _launch.choose_tile(10**6, 256) == "large"
    # 2 x 2 blocks of the large tile would leave most multiprocessors idle
    assert _launch.choose_tile(256, 256) == "medium"
    assert _launch.choose_tile(10**6, 256, dtype="float64") == "medium"


@settings(max_examples=200)
@given(batch=st.integers(1, 4), spatial=st.lists(st.integers(1, 120), min_size=1, max_size=3),
       filters=st.integers(1, 600), dtype=st.sampled_from(DTYPES),
       layout=st.sampled_from(["channels_last", "channels_first"]),
       transposed=st.booleans())
def test_conv_grid_covers_every_output_exactly(batch, spatial, filters, dtype, layout,
                                               transposed):
    rank = len(spatial)
    launch = _launch.conv_launch(transposed=transposed, layout=layout, dtype=dtype,
                                 batch=batch, channels=3, filters=filters, in_spatial=spatial,
                                 out_spatial=spatial, kernel=(3,) * rank, strides=(1,) * rank,
                                 dilation=(1,) * rank, pads_lo=(1,) * rank, flags=1,
                                 activation="relu")
    bm, bn = (int(v) for v in re.search(r"<\w+, (\d+), (\d+),", launch.name).groups())
    tile = next(t for t in _launch.TILES.values() if (t.bm, t.bn) == (bm, bn))
    positions = batch
    for n in spatial:
        positions *= n
    gx, gy, gz = launch.grid
    # enough blocks, and no block lies wholly outside the output (strides are 1: one phase)
    assert gx * bm >= positions > (gx - 1) * bm
    assert gy * bn >= filters > (gy - 1) * bn
    assert gz == 1 and launch.block == (tile.threads, 1, 1)
    assert launch.shared_bytes == tile.shared_bytes(dtype)
    assert len(launch.args) == 24
    assert launch.args[-3:] == (1, 1, 0.0)  # flags (bias), relu, alpha
    # alpha is a double exactly for the float64 kernels (their accumulation type)
    assert launch.doubles == ((23,) if dtype == "float64" else ())


def test_transposed_grid_has_one_layer_per_output_phase():
    launch = _launch.conv_launch(transposed=True, layout="channels_last", dtype="float32",
                                 batch=2, channels=3, filters=4, in_spatial=(5, 6, 7),
                                 out_spatial=(10, 13, 14), kernel=(3, 3, 3),
                                 strides=(2, 3, 2), dilation=(1, 1, 1), pads_lo=(1, 1, 1),
                                 tile="thin")
    # the largest phase has ceil(10/2) * ceil(13/3) * ceil(14/2) = 5 * 5 * 7 outputs
    assert launch.grid == (shapes.ceildiv(2 * 5 * 5 * 7, 64), 1, 12)
    with pytest.raises(_launch.Unsupported, match="dilation"):
        _launch.conv_launch(transposed=True, layout="channels_last", dtype="float32",
                            batch=1, channels=1, filters=1, in_spatial=(5,), out_spatial=(12,),
                            kernel=(3,), strides=(2,), dilation=(2,), pads_lo=(4,))


def test_conv_args_are_in_kernel_order_with_missing_axes_as_one():
    launch = _launch.conv_launch(transposed=False, layout="channels_first", dtype="float32",
                                 batch=2, channels=3, filters=4, in_spatial=(10,),
                                 out_spatial=(5,), kernel=(3,), strides=(2,), dilation=(1,),
                                 pads_lo=(1,), flags=6, activation="leaky_relu", alpha=0.3)
    assert launch.args == (2, 1, 1, 10, 3, 1, 1, 5, 4, 1, 1, 3, 1, 1, 2, 1, 1, 1, 0, 0, 1,
                           6, 3, 0.3)  # flags (scale, shift), leaky_relu, alpha
    assert launch.doubles == ()
    assert launch.name == "cthulhu_conv_nd_ncdhw<float, 64, 16, 4, 2>"


def test_kernel_names_use_the_template_types():
    assert (_launch.kernel_name("conv_transpose", "channels_last", "float16", "medium")
            == "cthulhu_conv_transpose_nd_ndhwc<cthulhu_half, 64, 64, 4, 4>")
    assert (_launch.kernel_name("upsample_bilinear", "channels_first", "float64")
            == "cthulhu_upsample_bilinear_nchw<double>")
    with pytest.raises(ValueError, match="int8"):
        _launch.kernel_name("conv", "channels_last", "int8", "thin")


def test_every_kernel_name_is_unique_and_per_file():
    names = _kernel_names.all_kernel_names()
    flat = [n for per_file in names.values() for n in per_file]
    assert len(flat) == len(set(flat))
    assert all(n.startswith("cthulhu_conv") for n in names["conv_nd.cu"])
    assert not any("double, 128" in n for n in flat)  # never chosen for float64


def test_sizes_past_32_bit_indexing_raise_overflow():
    with pytest.raises(OverflowError, match="32-bit"):
        _launch.conv_launch(transposed=False, layout="channels_last", dtype="float32", batch=1,
                            channels=64, filters=64, in_spatial=(2048, 2048, 1024),
                            out_spatial=(2048, 2048, 1024), kernel=(3, 3, 3),
                            strides=(1, 1, 1), dilation=(1, 1, 1), pads_lo=(1, 1, 1))


@given(rows=st.integers(0, 10**9), length=st.integers(0, 2**31 - 1))
def test_row_grid_is_within_cuda_limits_and_covers_rows(rows, length):
    (gx, gy, gz), (bx, by, bz) = _launch.row_grid(rows, length)
    assert 1 <= gx <= _launch.ELEMENTWISE_MAX_BLOCKS and 1 <= gy <= 65535 and gz == 1
    assert bx % 32 == 0 and 32 <= bx <= _launch.ELEMENTWISE_THREADS and (by, bz) == (1, 1)
    if rows <= 65535:
        assert gy >= rows
    if length <= _launch.ELEMENTWISE_MAX_BLOCKS * bx:
        assert gx * bx >= length  # one element per thread; longer rows loop (grid-stride)
    if length <= 256:
        assert gx == 1 and bx - 32 < max(length, 1)  # no wasted whole warps


def test_upsample_launch_rejects_bilinear_outside_2d():
    with pytest.raises(ValueError, match="bilinear"):
        _launch.upsample_launch(interpolation="bilinear", layout="channels_last",
                                dtype="float32", batch=1, channels=1, in_spatial=(2, 2, 2),
                                out_spatial=(4, 4, 4), size=(2, 2, 2))
    launch = _launch.upsample_launch(interpolation="nearest", layout="channels_last",
                                     dtype="float32", batch=2, channels=3, in_spatial=(4,),
                                     out_spatial=(8,), size=(2,))
    assert launch.args == (2, 1, 1, 4, 3, 1, 1, 2)
    assert launch.grid == (1, 2, 1) and launch.block == (32, 1, 1)  # 2 input rows of 4 x 3


# -- igemm.cu ---------------------------------------------------------------------------

from cthulhu.devices.cupy_ import _igemm  # noqa: E402


@pytest.mark.parametrize("family", ["simt", "tc"])
def test_igemm_tiles_fit_the_kernel_rules_and_a_hopper_sm(family):
    for name, tile in _igemm.TILES[family].items():
        assert tile.bm % tile.wm == 0 and tile.bn % tile.wn == 0, name
        assert 32 <= tile.threads <= 1024 and tile.threads % 32 == 0
        for compute in ("strict",) if family == "simt" else ("tf32", "bf16", "f16"):
            itemsize = _igemm.ITEMSIZE[compute]
            vec = 16 // itemsize
            assert tile.bk % vec == 0 and tile.threads % (tile.bk // vec) == 0
            assert tile.shared_bytes(itemsize) <= 227 * 1024  # sm_90's opt-in per block
            assert _igemm.blocks_per_sm(tile, itemsize, 228 * 1024) >= 1


def test_igemm_shared_bytes_count_the_padded_stages():
    t = _igemm.TILES["tc"]["128x64"]  # 3 stages of A [128][32 + 4] and B [32][64 + 8] floats
    assert t.shared_bytes(4) == 3 * (128 * 36 + 32 * 72) * 4
    assert t.shared_bytes(2) == 3 * (128 * 40 + 32 * 72) * 2


@pytest.mark.parametrize(("compute", "channels", "ok"), [
    ("strict", 4, True), ("strict", 6, False), ("tf32", 12, True), ("bf16", 12, False),
    ("bf16", 16, True), ("f16", 8, True), ("f16", 4, False)])
def test_igemm_takes_channels_filling_its_vectors(compute, channels, ok):
    assert _igemm.supported(compute=compute, channels=channels, kernel=(3, 3), strides=(1, 1),
                            transposed=False, dilation=(1, 1)) is ok


def test_igemm_declines_long_kernels_and_strided_dilated_transposes():
    common = dict(compute="tf32", channels=8, transposed=False, dilation=(1,))
    assert _igemm.supported(kernel=(10,), strides=(1,), **common)
    assert not _igemm.supported(kernel=(11,), strides=(1,), **common)
    assert not _igemm.supported(compute="tf32", channels=8, kernel=(3,), strides=(2,),
                                transposed=True, dilation=(2,))


def test_igemm_tile_choice_counts_whole_waves():
    # F = 64 on the H200 (132 SMs): 128x64 covers the filters once; 128x128 would
    # compute 64 padding columns per block
    assert _igemm.choose_tile("strict", 32 * 56 * 56, 64, sm_count=132) == "128x64"
    assert _igemm.choose_tile("tf32", 32 * 28 * 28, 128, sm_count=132) == "128x128"
    assert _igemm.choose_tile("tf32", 2 * 32**3, 32, sm_count=132) == "128x32"
    assert _igemm.choose_tile("tf32", 4096, 16, sm_count=132) == "128x16"
    # 98 blocks of 128x128 leave SMs idle but 196 of 128x64 take two rounds on some
    assert _igemm.choose_tile("tf32", 32 * 14 * 14, 256, sm_count=132) == "128x128"
    # a GPU with little shared memory per SM never gets a tile that does not fit
    small = _igemm.choose_tile("tf32", 10**6, 128, sm_count=80, smem_per_sm=100 * 1024)
    assert _igemm.TILES["tc"][small].shared_bytes(4) < 100 * 1024


@settings(max_examples=200)
@given(batch=st.integers(1, 3), spatial=st.lists(st.integers(1, 90), min_size=1, max_size=3),
       channels=st.sampled_from([4, 8, 16, 36, 64]), filters=st.integers(1, 300),
       compute=st.sampled_from(sorted(_igemm.COMPUTES)), transposed=st.booleans(),
       stride=st.integers(1, 2))
def test_igemm_grid_covers_every_output_and_weights_are_whole_tiles(batch, spatial, channels,
                                                                    filters, compute,
                                                                    transposed, stride):
    rank = len(spatial)
    out = tuple(n * stride if transposed else n for n in spatial)
    launch = _igemm.launch(compute=compute, transposed=transposed, out_layout="channels_last",
                           batch=batch, channels=channels, filters=filters, in_spatial=spatial,
                           out_spatial=out, kernel=(3,) * rank,
                           strides=(stride if transposed else 1,) * rank,
                           dilation=(1,) * rank, pads_lo=(1,) * rank)
    tile = next(t for t in _igemm.TILES[_igemm.family(compute)].values()
                if f", {t.bm}, {t.bn}, {t.bk}, {t.wm}, {t.wn}, {t.stages}," in launch.name)
    phases = stride ** rank if transposed else 1
    rows = batch
    for n in out:
        rows *= -(-n // (stride if transposed else 1))
    gx, gy, gz = launch.grid
    assert gx * tile.bm >= rows > (gx - 1) * tile.bm
    assert gy * tile.bn >= filters > (gy - 1) * tile.bn and gz == phases
    cp_, fp = launch.args[5], launch.args[10]
    assert cp_ % tile.bk == 0 and cp_ >= channels > cp_ - tile.bk
    assert fp == gy * tile.bn
    assert len(launch.args) == 28 and isinstance(launch.args[-1], float)
    assert launch.shared_bytes == tile.shared_bytes(_igemm.ITEMSIZE[compute])


@pytest.mark.parametrize("dtype", DTYPES)
def test_epilogue_arguments_end_every_conv_and_depthwise_launch(dtype):
    """conv_nd.cu and depthwise.cu end their parameters with the whole epilogue
    ``(flags, act, alpha)``, alpha in the accumulation type: a double for float64, so
    leaky_relu's 0.1 reaches a float64 kernel unrounded (a float32 0.1 is 1.5e-9 off)."""
    import numpy as np

    from cthulhu.devices.cupy_ import _conv, _memory

    common = dict(dtype=dtype, batch=1, channels=4, in_spatial=(5,), out_spatial=(5,),
                  kernel=(3,), strides=(1,), dilation=(1,), pads_lo=(1,), flags=7,
                  activation="leaky_relu", alpha=0.1)
    launches = [
        _launch.conv_launch(transposed=False, layout="channels_first", filters=2, **common),
        _launch.conv_launch(transposed=True, layout="channels_last", filters=2, **common),
        _launch.depthwise_launch(layout="channels_first", multiplier=2, **common),
        _memory.depthwise_launch(vec=4, **common)]
    for launch in launches:
        assert launch.args[-3:] == (7, _launch.ACTIVATIONS["leaky_relu"], 0.1), launch.name
        scalars = _conv.kernel_scalars(launch)
        assert [type(a) for a in scalars[:-1]] == [np.int32] * (len(scalars) - 1)
        if dtype == "float64":
            assert type(scalars[-1]) is np.float64 and scalars[-1] == 0.1
        else:
            assert type(scalars[-1]) is np.float32 and scalars[-1] == np.float32(0.1)
