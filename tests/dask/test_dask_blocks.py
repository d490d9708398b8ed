"""Default blocks from the halo, the decoded-chunk cache, kernel threads on Dask workers."""

import os
import threading
from fractions import Fraction

import numpy as np
import zarr
from hypothesis import given, settings
from hypothesis import strategies as st

import cthulhu
from cthulhu.blockwise import blocks, stores
from cthulhu.cli.predict import example_model
from cthulhu.devices.dask_ import threads
from cthulhu.devices.dask_.threads import ENV, kernel_threads


def test_auto_block_keeps_the_halo_share_small():
    # three 3x3x3 'same' convolutions: halo 3; 64^3 blocks would read 31% more, 128^3 15%
    assert blocks.auto_block(((3, 3),) * 3, (1,) * 3, (1000,) * 3) == (128,) * 3
    assert blocks.halo_share((64,) * 3, ((3, 3),) * 3, (1,) * 3) > 0.3
    assert blocks.halo_share((128,) * 3, ((3, 3),) * 3, (1,) * 3) <= 0.15
    # one convolution: the minimum; a short axis is cut to its length
    assert blocks.auto_block(((1, 1),) * 3, (1,) * 3, (500, 500, 20)) == (64, 64, 20)
    # a huge halo stops at the maximum; unknown halo: the minimum
    assert blocks.auto_block(((40, 40),) * 3, (1,) * 3, (10**4,) * 3) == (256,) * 3
    assert blocks.auto_block(None, (1,) * 3, (1000,) * 3) == (64,) * 3
    # jump 2 (a stride): 80 output samples cover 160 inputs, (172/160)^2 = 1.156 is too
    # much; 96 cover 192, (204/192)^2 = 1.129
    assert blocks.auto_block(((6, 6),) * 2, (Fraction(2),) * 2, (999, 999)) == (96, 96)


def test_predict_volume_default_block_follows_the_halo(tmp_path):
    model = example_model(width=2)
    # halo 3 on two long axes: 64 -> (70/64)^2 = 1.196, 80 -> 1.156, 96 -> (102/96)^2 = 1.129;
    # the short axis is one block and reads no halo
    x = np.random.default_rng(0).standard_normal((150, 150, 8)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    summary = cthulhu.predict_volume(model, tmp_path / "x.npy", tmp_path / "y.zarr",
                                     progress=False, scheduler="synchronous")
    out = zarr.open_array(str(tmp_path / "y.zarr"))
    assert out.chunks == (96, 96, 8) and summary["blocks"] == 4
    np.testing.assert_allclose(out[...], model.predict(x[None, ..., None])[0, ..., 0],
                               rtol=2e-5, atol=2e-5)


@settings(max_examples=40)
@given(data=st.data())
def test_chunk_cache_reads_equal_plain_slicing(data, tmp_path_factory):
    shape = tuple(data.draw(st.integers(1, 12)) for _ in range(3))
    chunks = tuple(data.draw(st.integers(1, n)) for n in shape)
    path = tmp_path_factory.mktemp("cache") / "in.zarr"
    array = zarr.create_array(store=str(path), shape=shape, chunks=chunks, dtype="float32")
    values = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    array[...] = values
    source = stores.open_source(str(path))
    chunk_bytes = int(np.prod(chunks)) * 4
    source.cache_bytes = data.draw(st.sampled_from([chunk_bytes, 3 * chunk_bytes, 10**6]))
    for _ in range(4):
        index = []
        for n in shape:
            a = data.draw(st.integers(0, n - 1))
            index.append(slice(a, data.draw(st.integers(a + 1, n))))
        np.testing.assert_array_equal(source.read(tuple(index)), values[tuple(index)])
        assert source._cache.size <= source.cache_bytes
    source.cache_bytes = 0                   # off: plain reads
    np.testing.assert_array_equal(source.read((slice(None),) * 3), values)


def test_kernel_threads_only_on_worker_threads(monkeypatch):
    from cthulhu.devices.numpy_ import threads as numpy_threads

    monkeypatch.delenv(ENV, raising=False)
    with kernel_threads():                   # the main thread keeps the plugin's threads
        assert numpy_threads.override() is None
    seen = []
    gate = threading.Barrier(2)

    def task():
        with kernel_threads():
            gate.wait()                      # both inside at once
            seen.append(numpy_threads.current())
            gate.wait()

    workers = [threading.Thread(target=task) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    # two tasks at once share the cores: cores // 2 threads each (at least one); the
    # limit is thread-local, nothing is written to the environment
    share = max(1, threads._cores() // 2)
    assert seen == [share, share] and ENV not in os.environ
    monkeypatch.setenv(ENV, "3")             # a user's own setting is left alone
    worker = threading.Thread(target=task)
    gate = threading.Barrier(1)
    worker.start()
    worker.join()
    assert seen[-1] == 3 and os.environ[ENV] == "3"


def test_fused_predict_auto_blocks(compute_counter):
    import dask.array as da

    from cthulhu.devices.dask_ import predict

    model = example_model(width=2)
    x = np.random.default_rng(3).standard_normal((1, 140, 9, 10, 1)).astype(np.float32)
    with compute_counter() as counter:
        lazy = predict(model, da.from_array(x, chunks=(1, 20, 9, 10, 1)), block_shape="auto")
    assert counter.count == 0
    # halo 3 on the one long axis: (70/64) is within 15%, so 64 (the short axes whole)
    assert lazy.chunks[1:4] == ((64, 64, 12), (9,), (10,))
    np.testing.assert_allclose(lazy.compute(), model.predict(x), rtol=2e-5, atol=2e-5)
