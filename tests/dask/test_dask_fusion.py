"""The fused (block-by-block) Dask predict folds batch norms into the op before them, with
the engine's fold plan (cthulhu.engine.fusion.plan on ``model.graph(expand=True)``, read by
``cthulhu.blockwise.GraphProgram``): the folded BatchNormalization layers never run on a
block, a batch norm whose producer is read by a skip connection runs itself, and the result
equals the in-memory model run layer by layer (folding off), on chunkings that divide
nothing, blocks that start inside border zeros or an output_padding tail included, DAGs
(ResNet and U-Net skips) and float16 (never folded) too."""

import dask.array as da
import numpy as np
import pytest

from cthulhu import layers as L
from cthulhu.blockwise import GraphProgram
from cthulhu.devices.dask_ import predict
from cthulhu.engine import fusion
from cthulhu.models import Lump, Pile
from tests.support import dag_models
from tests.support.spies import layer_calls

TOL = {"rtol": 2e-5, "atol": 2e-5}


def seeded(model, seed=0):
    rng = np.random.default_rng(seed)
    model.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(w.dtype)
                       for w in model.get_weights()])
    return model


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


def skip_reads_the_conv():
    """conv1's output goes to a batch norm and to an Add: that pair must not fold; conv2's
    batch norm (and ReLU) fold."""
    inputs = L.Input(shape=(None, None, 2))
    c1 = L.Cthalpa2D(2, 3, padding="same", name="c1")(inputs)
    b1 = L.BatchNormalization(name="b1")(c1)
    c2 = L.Cthalpa2D(2, 3, padding="same", name="c2")(b1)
    r2 = L.ReLU(name="r2")(L.BatchNormalization(name="b2")(c2))
    return Lump(inputs, L.Add()([c1, r2]))


def _steps(program):
    return {step.layer.name: step for step in program.steps.values()}


def test_program_marks_the_folds():
    model = mobilenet_block()
    program = GraphProgram(model, [(1, 9, 9, 3)])
    steps = list(program.steps.values())
    assert [s.fold is not None for s in steps] == [True, False, False, True, False, False]
    assert [s.folded_into for s in steps] == [None, steps[0].id, steps[0].id,
                                              None, steps[3].id, steps[3].id]
    with fusion.folding(False):
        plain = GraphProgram(model, [(1, 9, 9, 3)])
    assert all(s.fold is None and s.folded_into is None for s in plain.steps.values())


def test_a_skip_read_producer_is_not_folded():
    steps = _steps(GraphProgram(skip_reads_the_conv(), [(1, 8, 8, 2)]))
    assert steps["c1"].fold is None and steps["b1"].folded_into is None
    assert steps["c2"].fold is not None
    assert steps["b2"].folded_into == steps["r2"].folded_into == steps["c2"].id


def test_skip_read_producer_runs_its_batch_norm(monkeypatch):
    model = seeded(skip_reads_the_conv(), seed=4)
    x = np.random.default_rng(5).standard_normal((2, 11, 9, 2)).astype(np.float32)
    expected = _unfolded(model, x)
    calls = layer_calls(monkeypatch, L.BatchNormalization)
    got = predict(model, da.from_array(x, chunks=(1, 4, 5, 2))).compute(scheduler="sync")
    np.testing.assert_allclose(got, expected, **TOL)
    assert set(calls) == {"b1"}     # b2 ran in c2's op on every block


@pytest.mark.parametrize("make, shape, chunks", [
    (lambda: dag_models.resnet_block(seed=1), (1, 13, 10, 3), (1, 5, 4, 3)),
    (lambda: dag_models.unet(rank=2, depth=2, data_format="channels_first", seed=2),
     (1, 1, 12, 8), (1, 1, 5, 3)),
])
def test_dags_fold_in_blocks(make, shape, chunks, monkeypatch):
    model = make()
    x = np.random.default_rng(3).standard_normal(shape).astype(np.float32)
    expected = _unfolded(model, x)
    program = GraphProgram(model, [shape])
    norms = [s for s in program.steps.values() if isinstance(s.layer, L.BatchNormalization)]
    assert norms and all(s.folded_into is not None for s in norms)
    calls = layer_calls(monkeypatch, L.BatchNormalization)
    got = predict(model, da.from_array(x, chunks=chunks)).compute(scheduler="sync")
    np.testing.assert_allclose(got, expected, **TOL)
    assert calls == []


@pytest.mark.parametrize("make, shape, chunks, blocks", [
    (mobilenet_block, (2, 13, 11, 3), (1, 5, 4, 3), (None,)),
    (transpose_tail, (1, 5, 4, 1), (1, 2, 3, 1), (1, 2, 5)),
])
def test_fused_predict_runs_no_batch_norm_layer(make, shape, chunks, blocks, monkeypatch):
    model = seeded(make())
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    expected = _unfolded(model, x)
    calls = layer_calls(monkeypatch, L.BatchNormalization)
    for block in blocks:
        got = predict(model, da.from_array(x, chunks=chunks), block_shape=block)
        np.testing.assert_allclose(got.compute(scheduler="sync"), expected, **TOL)
    assert calls == []


def test_folding_off_runs_the_batch_norms(monkeypatch):
    model = seeded(mobilenet_block(), seed=2)
    x = np.random.default_rng(1).standard_normal((1, 7, 6, 3)).astype(np.float32)
    expected = _unfolded(model, x)
    calls = layer_calls(monkeypatch, L.BatchNormalization)
    with fusion.folding(False):
        got = predict(model, da.from_array(x, chunks=(1, 3, 4, 3))).compute(scheduler="sync")
    np.testing.assert_allclose(got, expected, **TOL)
    assert calls


def test_predict_volume_folds_and_equals_in_memory(tmp_path, monkeypatch):
    from cthulhu.devices.dask_ import predict_volume

    model = seeded(mobilenet_block(), seed=3)
    x = np.random.default_rng(2).standard_normal((1, 17, 13, 3)).astype(np.float32)
    expected = _unfolded(model, x)
    calls = layer_calls(monkeypatch, L.BatchNormalization)
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
    calls = layer_calls(monkeypatch, L.BatchNormalization)
    got = predict(model, da.from_array(x, chunks=(1, 3, 4, 2))).compute(scheduler="sync")
    assert calls and got.dtype == np.float16
    np.testing.assert_allclose(got.astype(np.float32), expected.astype(np.float32),
                               rtol=2e-3, atol=2e-3)


def conv_family_1d():
    return Pile([L.InputLayer(input_shape=(None, 2)),
                 L.Cthalpa1DTranspose(3, 3, strides=2, padding="same"),
                 L.BatchNormalization(), L.ReLU(),
                 L.DepthwiseCthalpa1D(3, padding="same"), L.BatchNormalization(),
                 L.LeakyReLU(0.1)])


def conv_family_3d():
    return Pile([L.InputLayer(input_shape=(None, None, None, 2)),
                 L.DepthwiseCthalpa3D(2, padding="same"), L.BatchNormalization(), L.ReLU(6.0),
                 L.UbboSathla3D(2, interpolation="trilinear"),
                 L.SeparableCthalpa3D(2, 3, padding="same"), L.BatchNormalization()])


@pytest.mark.parametrize("make, shape, chunks, producers", [
    (conv_family_1d, (2, 13, 2), (1, 4, 2), (L.Cthalpa1DTranspose, L.DepthwiseCthalpa1D)),
    (conv_family_3d, (1, 5, 6, 4, 2), (1, 2, 3, 3, 2),
     (L.DepthwiseCthalpa3D, L.SeparableCthalpa3D)),
])
def test_the_new_convolutions_fold_in_blocks(make, shape, chunks, producers, monkeypatch):
    """Cthalpa1DTranspose, the 1D/3D depthwise and 3D separable convolutions (and a
    trilinear up-sampling between them) fold and run block by block."""
    model = seeded(make(), seed=5)
    x = np.random.default_rng(6).standard_normal(shape).astype(np.float32)
    expected = _unfolded(model, x)
    folded = [type(s.layer) for s in GraphProgram(model, [shape]).steps.values()
              if s.fold is not None]
    assert folded == list(producers)
    calls = layer_calls(monkeypatch, L.BatchNormalization)
    got = predict(model, da.from_array(x, chunks=chunks)).compute(scheduler="sync")
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=1e-4)
    assert calls == []
