"""The fused (block-by-block) Dask predict folds batch norms into the convolution before
them (``Model.fold_chain``, cthulhu.engine.fusion.plan_chain): the BatchNormalization
layers never run on a block, and the result equals the in-memory model run layer by layer
(folding off), on chunkings that divide nothing, blocks that start inside border zeros or
an output_padding tail included, and float16 (never folded) too."""

import dask.array as da
import numpy as np
import pytest

from cthulhu import layers as L
from cthulhu.devices.dask_ import predict
from cthulhu.devices.dask_.program import BlockProgram, model_layers
from cthulhu.engine import fusion
from cthulhu.models import Pile

TOL = {"rtol": 2e-5, "atol": 2e-5}


def seeded(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(w.dtype)
                       for w in model.get_weights()])
    return model


def _spy(monkeypatch, cls):
    calls = []
    original = cls.call

    def spy(self, *args, **kwargs):
        calls.append(self.name)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(cls, "call", spy)
    return calls


def _unfolded(model, x):
    with fusion.folding(False):
        return np.asarray(model.predict(x, verbose=0))


def mobilenet_block():
    return Pile([L.InputLayer(input_shape=(None, None, 3)),
                 L.Cthalpa2D(4, 3, padding="same", use_bias=False),
                 L.BatchNormalization(), L.ReLU(6.0),
                 L.DepthwiseCthalpa2D(3, padding="same"),
                 L.BatchNormalization(epsilon=1e-5), L.LeakyReLU(0.25)])


def transpose_tail():
    return Pile([L.InputLayer(input_shape=(None, None, 1)),
                 L.Xexanoth2D(((4, 3), (0, 2))),
                 L.Cthalpa2D(2, 1), L.BatchNormalization(), L.ReLU(),
                 L.Cthalpa2DTranspose(2, 1, strides=3, output_padding=2),
                 L.BatchNormalization(), L.ReLU(),
                 L.Cthalpa2D(1, 2, padding="same")])


def test_program_folds_the_chain():
    model = mobilenet_block()
    layers = model_layers(model)
    program = BlockProgram(layers, (1, 9, 9, 3), folds=model.fold_chain)
    assert [s.core is None for s in program.stages] == [False, True, True, False, True, True]
    assert [s.folded_into for s in program.stages] == [None, 0, 0, None, 3, 3]
    for folds in (None, model.fold_chain):
        with fusion.folding(False):
            plain = BlockProgram(layers, (1, 9, 9, 3), folds=folds)
        assert all(s.core is not None and s.folded_into is None for s in plain.stages)


@pytest.mark.parametrize("make, shape, chunks, blocks", [
    (mobilenet_block, (2, 13, 11, 3), (1, 5, 4, 3), (None,)),
    (transpose_tail, (1, 5, 4, 1), (1, 2, 3, 1), (1, 2, 5)),
])
def test_fused_predict_runs_no_batch_norm_layer(make, shape, chunks, blocks, monkeypatch):
    model = seeded(make())
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    expected = _unfolded(model, x)
    calls = _spy(monkeypatch, L.BatchNormalization)
    for block in blocks:
        got = predict(model, da.from_array(x, chunks=chunks), block_shape=block)
        np.testing.assert_allclose(got.compute(scheduler="sync"), expected, **TOL)
    assert calls == []


def test_predict_volume_folds_and_equals_in_memory(tmp_path, monkeypatch):
    from cthulhu.devices.dask_ import predict_volume

    model = seeded(mobilenet_block(), seed=3)
    x = np.random.default_rng(2).standard_normal((1, 17, 13, 3)).astype(np.float32)
    expected = _unfolded(model, x)
    calls = _spy(monkeypatch, L.BatchNormalization)
    np.save(tmp_path / "in.npy", x)
    predict_volume(model, tmp_path / "in.npy", tmp_path / "out.zarr", block_shape=(5, 6),
                   progress=False, scheduler="sync")
    import zarr

    got = zarr.open_array(str(tmp_path / "out.zarr"))[...]
    np.testing.assert_allclose(got, expected, **TOL)
    assert calls == []


def test_float16_blocks_run_the_chain_unfolded(monkeypatch):
    model = seeded(Pile([L.InputLayer(input_shape=(None, None, 2), dtype="float16"),
                         L.Cthalpa2D(3, 3, padding="same", dtype="float16"),
                         L.BatchNormalization(dtype="float16"), L.ReLU(dtype="float16")]))
    x = np.random.default_rng(2).standard_normal((1, 7, 6, 2)).astype(np.float16)
    expected = _unfolded(model, x)
    calls = _spy(monkeypatch, L.BatchNormalization)
    got = predict(model, da.from_array(x, chunks=(1, 3, 4, 2))).compute(scheduler="sync")
    assert calls and got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float32), expected.astype(np.float32),
                               rtol=2e-3, atol=2e-3)
