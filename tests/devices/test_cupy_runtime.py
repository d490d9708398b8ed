"""cthulhu.devices.cupy_._runtime without a GPU: warm-up, per-worker contexts, the block
shape and the multi-GPU pool, over stand-ins for CuPy."""

from __future__ import annotations

import threading
import types

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cthulhu.devices.cupy_ import _igemm, _kernel_names, _runtime


class _Device:
    current = threading.local()

    def __init__(self, device):
        self.id = device

    def __enter__(self):
        self._prev = getattr(_Device.current, "id", None)
        _Device.current.id = self.id
        return self

    def __exit__(self, *exc):
        _Device.current.id = self._prev

    def use(self):
        _Device.current.id = self.id

    def synchronize(self):
        pass


class _DeviceArray:
    def __init__(self, shape, dtype):
        self.data = np.zeros(shape, dtype)
        self.device = _Device.current.id
        self.shape, self.dtype, self.nbytes, self.size = (self.data.shape, self.data.dtype,
                                                          self.data.nbytes, self.data.size)

    def set(self, host, stream=None):
        assert stream is not None
        self.data[...] = host

    def get(self, out=None, stream=None):
        assert stream is not None
        out[...] = self.data
        return out


def _fake_cupy(devices=2):
    streams = []

    class Stream:
        def __init__(self, non_blocking=False):
            assert non_blocking
            self.device = _Device.current.id
            streams.append(self)

        def synchronize(self):
            pass

    cuda = types.SimpleNamespace(
        Device=_Device, Stream=Stream, alloc_pinned_memory=lambda n: bytearray(n),
        runtime=types.SimpleNamespace(getDeviceCount=lambda: devices))
    cp = types.SimpleNamespace(cuda=cuda, empty=_DeviceArray,
                               zeros=lambda shape, dtype: _DeviceArray(shape, dtype))
    cp.streams = streams
    return cp


def test_kernel_names_cover_exactly_the_paths_of_a_setting():
    strict = _runtime.kernel_names(dtypes=("float32",), precisions=("float32",))
    igemm = strict["igemm.cu"]
    assert igemm and all(n.startswith("cthulhu_igemm_ndhwc<float, float,") and
                         n.endswith("false>") for n in igemm)
    assert not [n for files in strict.values() for n in files if "double" in n or "half" in n]
    assert not any("cast_bf16" in n for n in strict["eltwise.cu"])
    both = _runtime.kernel_names(dtypes=("float32",), precisions=("tf32", "bfloat16"))
    assert {n.split(",")[0] for n in both["igemm.cu"]} == {"cthulhu_igemm_ndhwc<float",
                                                           "cthulhu_igemm_ndhwc<cthulhu_bf16"}
    assert any("cast_bf16" in n for n in both["eltwise.cu"])
    everything = {n for files in _kernel_names.all_kernel_names().values() for n in files}
    assert {n for files in both.values() for n in files} <= everything
    half = _runtime.kernel_names(dtypes=("float16",))
    assert all("cthulhu_half, cthulhu_half" in n for n in half["igemm.cu"])
    assert len(half["igemm.cu"]) == len(_igemm.TILES["tc"])


def test_warm_up_loads_kernels_and_runs_the_model_once_per_device(monkeypatch):
    cp = _fake_cupy(devices=2)
    loaded = []
    monkeypatch.setattr(_runtime._loader, "kernel",
                        lambda file, name: loaded.append((file, name, _Device.current.id)))
    runs = []

    class Model:
        def predict(self, x):
            from cthulhu import config

            runs.append((x.shape, x.device, config.float32_precision()))

    out = _runtime.warm_up(Model(), (1, 8, 8, 8, 2), compile_all=True, cupy=cp,
                           precisions=("float32", "tf32"))
    assert out["devices"] == [0, 1]
    per_device = len(loaded) // 2
    assert out["kernels"] == len(loaded) and per_device > 0
    assert {d for *_, d in loaded} == {0, 1}
    assert runs == [((1, 8, 8, 8, 2), 0, "float32"), ((1, 8, 8, 8, 2), 0, "tf32"),
                    ((1, 8, 8, 8, 2), 1, "float32"), ((1, 8, 8, 8, 2), 1, "tf32")]


def test_worker_context_is_made_once_per_thread_and_reuses_pinned_buffers():
    cp = _fake_cupy()
    seen = []

    def work():
        ctx = _runtime.worker_context(1, cupy=cp)
        assert _runtime.worker_context(1, cupy=cp) is ctx
        for n in (10, 4, 10):
            x = np.arange(n * 3, dtype=np.float32).reshape(n, 3)
            d = ctx.to_device(x)
            assert d.device == 1
            np.testing.assert_array_equal(ctx.to_host(d), x)
        seen.append((ctx, ctx.allocations, ctx.stream.device))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    (a, na, da), (b, nb, db) = seen
    assert a is not b  # one context per thread: streams are never shared
    assert na == nb == 2 and da == db == 1  # "in" and "out" buffers, grown once


def test_bytes_per_voxel_takes_the_largest_live_pair():
    # 1 -> 16 -> 32 channels, then a 2x 3D up-sampling (8x voxels) to 16 channels
    assert _runtime.bytes_per_voxel([1, 16, 32, 16], [1, 1, 1, 8]) == (32 + 16 * 8) * 4
    assert _runtime.bytes_per_voxel([4]) == 16
    with pytest.raises(ValueError, match="same, non-zero length"):
        _runtime.bytes_per_voxel([1, 2], [1])


@settings(max_examples=100)
@given(volume=st.lists(st.integers(16, 600), min_size=3, max_size=3),
       halo=st.integers(0, 8), voxel_bytes=st.sampled_from([16.0, 200.0, 1000.0]),
       free=st.integers(2**26, 2**36), workers=st.integers(1, 4))
def test_block_shape_is_the_largest_multiple_that_fits(volume, halo, voxel_bytes, free, workers):
    halos = (halo,) * 3
    budget = 0.6 * free / workers
    try:
        block = _runtime.choose_block_shape(volume, halos, free_bytes=free,
                                            voxel_bytes=voxel_bytes, workers=workers)
    except ValueError:
        assert (16 + 2 * halo) ** 3 * voxel_bytes > budget
        return

    def need(b):
        return np.prod([s + 2 * halo for s in b]) * voxel_bytes

    assert need(block) <= budget
    assert all(b <= v for b, v in zip(block, volume, strict=True))
    side = max(block)
    assert side % 16 == 0 or side == max(volume)
    bigger = tuple(min(side + 16, v) for v in volume)
    assert bigger == block or need(bigger) > budget


def test_round_robin_plan_spreads_blocks_evenly():
    plan = _runtime.assign_round_robin(7, [0, 1, 2])
    assert plan == [0, 1, 2, 0, 1, 2, 0]
    with pytest.raises(ValueError, match="no devices"):
        _runtime.assign_round_robin(3, [])


def test_gpu_pool_runs_one_worker_per_device_and_keeps_order():
    used = []
    lock = threading.Lock()

    def use(device):
        with lock:
            used.append((device, threading.current_thread().name))

    gate = threading.Barrier(3)

    def work(device, block):
        if block < 3:
            gate.wait(timeout=5)  # the first three blocks run at once: three workers
        return block * 10, device, threading.current_thread().name

    with _runtime.GpuPool([0, 1, 2], use_device=use) as pool:
        results = pool.map(work, range(9))
    assert [r[0] for r in results] == [b * 10 for b in range(9)]
    assert sorted(d for d, _ in used) == [0, 1, 2]  # each worker made its device current once
    by_thread = {name: d for d, name in used}
    assert all(by_thread[name] == device for _, device, name in results)
    assert {device for _, device, _ in results[:3]} == {0, 1, 2}


def test_gpu_pool_hands_exceptions_to_the_caller():
    def work(device, block):
        raise RuntimeError(f"block {block} failed")

    with _runtime.GpuPool([0], use_device=lambda d: None) as pool:
        future = pool.submit(work, 4)
        with pytest.raises(RuntimeError, match="block 4 failed"):
            future.result(timeout=5)
