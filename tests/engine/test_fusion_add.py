"""Folding at inference: an activation layer reading a residual ``Add`` runs inside the Add's
call (cthulhu.engine.fusion, ``Layer.takes_activation_epilogue``).

The sum and the activation are the same arithmetic folded or not, so the results are
compared bit for bit: with the model run with folding off (``fusion.folding(False)``) and
with NumPy written here (``a + b``, then the activation), on inputs holding NaN, infinities
and signed zeros (NaN stays NaN, as Keras 2's relu). The blockwise (Dask) runner does not
apply this fold (a merge is no producer there): it runs the Add and the ReLU as layers.
"""

import dask.array as da
import numpy as np
import pytest

from cthulhu import layers as L
from cthulhu.blockwise import GraphProgram
from cthulhu.devices.dask_ import predict
from cthulhu.engine import fusion
from cthulhu.models import Lump
from tests.support import dag_models
from tests.support.layer_devices import run
from tests.support.spies import layer_calls

pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")

REFS = {
    "relu": (lambda: L.ReLU(), lambda s: np.maximum(s, np.float32(0))),
    "azatoth": (lambda: L.Azatoth("relu"), lambda s: np.maximum(s, np.float32(0))),
    "relu6": (lambda: L.ReLU(max_value=6.0),
              lambda s: np.minimum(np.maximum(s, np.float32(0)), np.float32(6))),
    "leaky": (lambda: L.LeakyReLU(alpha=0.25),
              lambda s: np.where(s > 0, s, s * np.float32(0.25))),
}


def _add_then(make_act, shape=(4, 3)):
    a, b = L.Input(shape=shape), L.Input(shape=shape)
    return Lump([a, b], make_act()(L.Add()([a, b])))


def _inputs(shape=(5, 4, 3), seed=0):
    rng = np.random.default_rng(seed)
    a = (rng.standard_normal(shape) * 4).astype(np.float32)
    b = (rng.standard_normal(shape) * 4).astype(np.float32)
    specials = np.array([np.nan, np.inf, -np.inf, -0.0, 0.0, 7.0, -7.0], np.float32)
    a.flat[:7] = specials
    b.flat[:7] = [1.0, -1.0, 2.0, -0.0, -0.0, -1.0, 13.0]
    a.flat[7:10] = [np.inf, 3.0, np.nan]
    b.flat[7:10] = [-np.inf, np.nan, np.nan]
    return a, b


def _bits(x):
    return np.asarray(x, np.float32).view(np.uint32)


@pytest.mark.parametrize("name", sorted(REFS))
def test_add_activation_folds_bit_for_bit(name, monkeypatch):
    make_act, ref = REFS[name]
    model = _add_then(make_act)
    plan = model._inference_plan(False)
    assert [(f.producer, f.norm, f.activation) for f in plan.folds] == [(2, None, 3)]
    a, b = _inputs()
    with fusion.folding(False):
        plain = np.asarray(model([a, b]))
    act_cls = type(model.layers[-1])
    calls = layer_calls(monkeypatch, act_cls)
    got = np.asarray(model([a, b]))
    assert calls == []                           # the activation ran inside the Add
    want = ref(a + b)
    assert np.isnan(got).sum() == np.isnan(want).sum() > 0
    np.testing.assert_array_equal(_bits(got), _bits(want))
    np.testing.assert_array_equal(_bits(got), _bits(plain))


def test_three_inputs_and_masks_pass_through():
    a, b, c = (L.Input(shape=(4, 3)) for _ in range(3))
    model = Lump([a, b, c], L.ReLU()(L.Add()([a, b, c])))
    assert model._inference_plan(False)
    x = [np.random.default_rng(i).standard_normal((2, 4, 3)).astype(np.float32)
         for i in range(3)]
    got = np.asarray(model(x))
    np.testing.assert_array_equal(got, np.maximum((x[0] + x[1]) + x[2], np.float32(0)))


def test_what_does_not_fold():
    a, b = L.Input(shape=(4,)), L.Input(shape=(4,))
    s = L.Add()([a, b])
    # the Add is read by another layer too (or is a model output): the ReLU stays a layer
    assert not Lump([a, b], [L.ReLU()(s), L.Daoloth(2)(s)])._inference_plan(False)
    assert not Lump([a, b], [L.ReLU()(s), s])._inference_plan(False)
    # an activation the epilogue does not compute, and the other merges
    assert not _add_then(lambda: L.ReLU(threshold=0.5))._inference_plan(False)
    assert not _add_then(lambda: L.Azatoth("sigmoid"))._inference_plan(False)
    for merge in (L.Subtract, L.Multiply, L.Maximum, L.Average):
        a, b = L.Input(shape=(4,)), L.Input(shape=(4,))
        assert not Lump([a, b], L.ReLU()(merge()([a, b])))._inference_plan(False)
    # a BatchNormalization after an Add is not folded into it (no channel axis of its own)
    a, b = L.Input(shape=(4,)), L.Input(shape=(4,))
    assert not Lump([a, b], L.BatchNormalization()(L.Add()([a, b])))._inference_plan(False)


def test_add_refuses_a_scale_in_its_epilogue():
    from cthulhu.devices import Epilogue

    add = L.Add(name="sum")
    x = np.ones((2, 3), np.float32)
    with pytest.raises(ValueError, match="sum.*activation alone"):
        add.call_and_mask([x, x], epilogue=Epilogue(scale=np.ones(3, np.float32),
                                                    activation="relu"))


def test_training_and_float16_run_the_layers(monkeypatch):
    model = _add_then(lambda: L.ReLU())
    a, b = _inputs()
    calls = layer_calls(monkeypatch, L.ReLU)
    model([a, b], training=True)
    model([a.astype(np.float16), b.astype(np.float16)])
    assert len(calls) == 2


@pytest.mark.parametrize("device", ["strict", "dask"])
def test_folded_on_other_devices(device, monkeypatch):
    model = _add_then(lambda: L.ReLU())
    a, b = _inputs()
    calls = layer_calls(monkeypatch, L.ReLU)
    got = run(model, [a, b], device)              # Dask: lazy, nothing computed
    assert calls == []
    np.testing.assert_array_equal(_bits(got), _bits(np.maximum(a + b, np.float32(0))))


def test_blockwise_runner_keeps_the_add_and_relu_as_layers(monkeypatch):
    """The engine's plan folds Add -> ReLU, the blockwise program does not (a merge is no
    producer of its folds): both run per block, and the result equals the in-memory model."""
    model = dag_models.resnet_block(seed=1)
    adds = [n for n in model.graph().nodes if isinstance(n.layer, L.Add)]
    plan = model._inference_plan(False)
    assert all(plan.fold_at(n.id) is not None for n in adds)
    program = GraphProgram(model, [(1, 13, 10, 3)])
    steps = list(program.steps.values())
    add_steps = [s for s in steps if isinstance(s.layer, L.Add)]
    assert len(add_steps) == 2 and all(s.fold is None for s in add_steps)
    assert not any(s.folded_into in {a.id for a in add_steps} for s in steps)
    x = np.random.default_rng(3).standard_normal((1, 13, 10, 3)).astype(np.float32)
    with fusion.folding(False):
        expected = np.asarray(model.predict(x, verbose=0))
    calls = layer_calls(monkeypatch, L.Add)
    got = predict(model, da.from_array(x, chunks=(1, 5, 4, 3))).compute(scheduler="sync")
    np.testing.assert_allclose(got, expected, rtol=2e-5, atol=2e-5)
    assert calls                                  # the Adds ran as layers on the blocks
