"""Running models on GPUs at full speed from the first block: warm-up, per-worker set-up,
pinned transfers, the block shape, several GPUs.

Everything here is plain Python over an injectable ``cupy`` module, so the logic is
tested without a GPU (tests/devices/test_cupy_runtime.py); the Dask device's
``predict_volume`` wires it in (one worker thread per GPU, each with its
:class:`WorkerContext`).
"""

from __future__ import annotations

import itertools
import math
import queue
import threading
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future

from cthulhu.devices.cupy_ import _kernel_names, _launch, _loader


def _cupy():
    import cupy

    return cupy


# -- warm-up ---------------------------------------------------------------------------

def kernel_names(*, dtypes: Iterable[str] = ("float32",),
                 precisions: Iterable[str] = ("float32",)) -> dict[str, list[str]]:
    """Every kernel the plugin may launch for inputs of ``dtypes`` under ``precisions``
    (``cthulhu.config.FLOAT32_PRECISIONS``), per source file."""
    from cthulhu.devices.cupy_ import _conv, _igemm

    dtypes, precisions = tuple(dtypes), tuple(precisions)
    ctypes_ = {_launch.CTYPES[d] for d in dtypes}
    computes = {_conv.compute_for(d, p) for d in dtypes for p in precisions} - {None}
    igemm = {_igemm.kernel_name(c, t) for c in computes for t in _igemm.TILES[_igemm.family(c)]}
    out: dict[str, list[str]] = {}
    for file, names in _kernel_names.all_kernel_names().items():
        keep = []
        for name in names:
            targs = name.partition("<")[2]
            if file == "igemm.cu":
                ok = name in igemm
            elif "cast_bf16" in name:
                ok = "bf16" in computes
            else:
                ok = targs.split(",")[0].rstrip(">") in ctypes_
            if ok:
                keep.append(name)
        out[file] = keep
    return out


def warm_up(model=None, input_shape: Sequence[int] | None = None, *, dtype: str = "float32",
            precisions: Iterable[str] | None = None, devices: Iterable[int] | None = None,
            compile_all: bool = False, cupy=None) -> dict:
    """Pay start-up costs before a run, not inside its first blocks.

    * ``compile_all``: load (compiling once; CuPy's disk cache keeps the binaries
      between processes) every kernel of :func:`kernel_names` on each device;
    * ``model`` and ``input_shape`` (one block, batch included): run the model once on
      zeros of that shape on each device, which loads exactly the kernels its layers
      pick for that shape, creates the cuBLAS handle and grows the memory pool.

    ``devices`` defaults to every visible GPU. Returns ``{"kernels": n, "devices": [...]}``.
    """
    cp = cupy or _cupy()
    from cthulhu import config

    devices = list(range(cp.cuda.runtime.getDeviceCount())) if devices is None else list(devices)
    precisions = tuple(precisions) if precisions is not None else (config.float32_precision(),)
    loaded = 0
    for device in devices:
        with cp.cuda.Device(device):
            if compile_all:
                for file, names in kernel_names(dtypes=(dtype,), precisions=precisions).items():
                    for name in names:
                        _loader.kernel(file, name)
                        loaded += 1
            if model is not None and input_shape is not None:
                x = cp.zeros(tuple(input_shape), dtype=dtype)
                for precision in precisions:
                    with config.float32_precision_scope(precision):
                        model.predict(x)
                cp.cuda.Device(device).synchronize()
    return {"kernels": loaded, "devices": devices}


# -- per-worker set-up: a stream and pinned buffers, made once per thread and device -----

class WorkerContext:
    """What one worker thread needs to move blocks: a non-blocking stream of its own
    (host<->device copies overlap other workers' kernels) and pinned host buffers that
    grow to the largest block and are then reused (no allocation per block)."""

    def __init__(self, device: int, cupy=None):
        self.cp = cupy or _cupy()
        self.device = device
        with self.cp.cuda.Device(device):
            self.stream = self.cp.cuda.Stream(non_blocking=True)
        self._pinned: dict[str, tuple[int, object]] = {}
        self.allocations = 0  # pinned allocations so far (they should stop growing)

    def pinned(self, role: str, nbytes: int):
        """A pinned host buffer of at least ``nbytes`` for ``role`` ("in", "out"), reused."""
        size, buf = self._pinned.get(role, (0, None))
        if buf is None or size < nbytes:
            size = max(nbytes, 1)
            buf = self.cp.cuda.alloc_pinned_memory(size)
            self._pinned[role] = (size, buf)
            self.allocations += 1
        return buf

    def to_device(self, host_array):
        """``host_array`` (NumPy) on this worker's GPU, copied through pinned memory on
        the worker's stream (synchronised before returning)."""
        import numpy as np

        host_array = np.ascontiguousarray(host_array)
        buf = self.pinned("in", host_array.nbytes)
        staged = np.frombuffer(buf, dtype=host_array.dtype,
                               count=host_array.size).reshape(host_array.shape)
        staged[...] = host_array
        with self.cp.cuda.Device(self.device):
            out = self.cp.empty(host_array.shape, dtype=host_array.dtype)
            out.set(staged, stream=self.stream)
            self.stream.synchronize()
        return out

    def to_host(self, device_array):
        """``device_array`` as NumPy, through this worker's pinned buffer and stream."""
        import numpy as np

        buf = self.pinned("out", device_array.nbytes)
        staged = np.frombuffer(buf, dtype=device_array.dtype,
                               count=device_array.size).reshape(device_array.shape)
        with self.cp.cuda.Device(self.device):
            device_array.get(out=staged, stream=self.stream)
            self.stream.synchronize()
        return staged.copy()


_local = threading.local()


def worker_context(device: int, cupy=None) -> WorkerContext:
    """This thread's :class:`WorkerContext` for ``device``, created on first use only."""
    contexts = getattr(_local, "contexts", None)
    if contexts is None:
        contexts = _local.contexts = {}
    if device not in contexts:
        contexts[device] = WorkerContext(device, cupy=cupy)
    return contexts[device]


# -- the block shape -------------------------------------------------------------------

def bytes_per_voxel(channel_counts: Sequence[int], scales: Sequence[float] | None = None,
                    itemsize: int = 4) -> float:
    """Peak device bytes per input voxel of a layer chain: the largest input + output
    pair alive at once. ``channel_counts`` are the chain's channels (input first, then
    each layer's output); ``scales`` each tensor's voxel count relative to the input
    (e.g. 8 after a 2x 3D up-sampling; default 1)."""
    counts = list(channel_counts)
    scales = list(scales) if scales is not None else [1.0] * len(counts)
    if len(scales) != len(counts) or not counts:
        raise ValueError("bytes_per_voxel: channel_counts and scales must have the same, "
                         f"non-zero length, got {len(counts)} and {len(scales)}")
    tensors = [c * s * itemsize for c, s in zip(counts, scales, strict=True)]
    pairs = [a + b for a, b in itertools.pairwise(tensors)] or tensors
    return float(max(pairs))


def choose_block_shape(volume_shape: Sequence[int], halo: Sequence[int], *,
                       free_bytes: int, voxel_bytes: float, fraction: float = 0.6,
                       multiple: int = 16, workers: int = 1) -> tuple[int, ...]:
    """The largest cubic-ish block whose haloed extent fits ``fraction`` of
    ``free_bytes`` divided among ``workers`` (blocks in flight on the device) at
    ``voxel_bytes`` per voxel; sides are multiples of ``multiple`` (whole tiles) and at
    most the volume's. Raises ``ValueError`` if not even one ``multiple``-sided block fits."""
    shape = tuple(int(s) for s in volume_shape)
    halo = tuple(int(h) for h in halo)
    if len(halo) != len(shape):
        raise ValueError(f"choose_block_shape: halo {halo} does not match volume {shape}")
    budget = fraction * free_bytes / max(1, workers)

    def fits(block):
        voxels = math.prod(b + 2 * h for b, h in zip(block, halo, strict=True))
        return voxels * voxel_bytes <= budget

    side = multiple
    if not fits(tuple(min(side, s) for s in shape)):
        raise ValueError(f"choose_block_shape: a {multiple}-voxel block with halo {halo} needs "
                         f"more than {int(budget)} bytes")
    while True:
        bigger = tuple(min(side + multiple, s) for s in shape)
        if bigger == tuple(min(side, s) for s in shape) or not fits(bigger):
            break
        side += multiple
    return tuple(min(side, s) for s in shape)


# -- several GPUs: one worker thread per device, blocks taken from a shared queue ---------

def assign_round_robin(n_blocks: int, devices: Sequence[int]) -> list[int]:
    """A static plan: block ``i`` on ``devices[i % len(devices)]`` (what a scheduler
    without feedback, e.g. a Dask graph built ahead, uses)."""
    if not devices:
        raise ValueError("assign_round_robin: no devices")
    return [devices[i % len(devices)] for i in range(n_blocks)]


class GpuPool:
    """One worker thread per GPU (as dask-cuda's one worker per device), each with its
    device made current once and its :class:`WorkerContext`; ``map`` hands blocks out
    from a shared queue, so a faster or less loaded GPU takes more of them.

    ``use_device(device)`` makes a device current in the calling thread (default:
    ``cupy.cuda.Device(device).use()``); tests pass a recorder instead.
    """

    def __init__(self, devices: Sequence[int], *, use_device: Callable[[int], None] | None = None,
                 setup: Callable[[int], None] | None = None):
        if not devices:
            raise ValueError("GpuPool: no devices")
        self.devices = list(devices)
        self._use = use_device or (lambda d: _cupy().cuda.Device(d).use())
        self._setup = setup
        self._tasks: queue.Queue = queue.Queue()
        self._threads = [threading.Thread(target=self._work, args=(d,), daemon=True,
                                          name=f"cthulhu-gpu{d}") for d in self.devices]
        for t in self._threads:
            t.start()

    def _work(self, device: int) -> None:
        self._use(device)
        if self._setup is not None:
            self._setup(device)
        while True:
            item = self._tasks.get()
            if item is None:
                return
            fn, arg, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(device, arg))
            except BaseException as exc:  # handed to the caller through the future
                future.set_exception(exc)

    def submit(self, fn: Callable[[int, object], object], arg) -> Future:
        """Run ``fn(device, arg)`` on whichever worker is free next."""
        future: Future = Future()
        self._tasks.put((fn, arg, future))
        return future

    def map(self, fn: Callable[[int, object], object], args: Iterable) -> list:
        """``[fn(device, a) for a in args]`` spread over the GPUs, results in order."""
        futures = [self.submit(fn, a) for a in args]
        return [f.result() for f in futures]

    def close(self) -> None:
        for _ in self._threads:
            self._tasks.put(None)
        for t in self._threads:
            t.join()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
