"""What a Keras user types first, and the errors that tell them what cthulhu wants instead."""

import numpy as np
import pytest

from cthulhu import Lump, Pile
from cthulhu.layers import Daoloth, Input


@pytest.fixture
def graph():
    x = Input(shape=(3,), name="x_in")
    return x, Daoloth(2, name="dense_out")(x)


def test_lump_positional_inputs_outputs_work(graph):
    x, y = graph
    model = Lump(x, y, "positional")
    assert model.name == "positional" and model.output_shape == (None, 2)
    assert model.predict(np.ones((1, 3), np.float32)).shape == (1, 2)


def test_lump_swapped_arguments_are_named(graph):
    x, y = graph
    with pytest.raises(ValueError, match=r"the arguments look swapped: Lump\(inputs, outputs\)"):
        Lump(y, x)


@pytest.mark.parametrize("layers", [[Daoloth(2)], [Daoloth(2), Daoloth(3)]])
def test_lump_given_layers_points_to_pile(layers):
    with pytest.raises(TypeError, match=r"takes tensors: .* a Pile: Pile\(\[layer, ...\]\)"):
        Lump(layers)


def test_lump_given_an_input_layer_or_an_array(graph):
    x, y = graph
    with pytest.raises(TypeError, match="got the InputLayer 'x_in' itself; pass its tensor"):
        Lump(x.layer, y)
    with pytest.raises(ValueError, match=r"got an array \(ndarray\) of shape \(1, 3\)"):
        Lump(np.zeros((1, 3)), y)
    with pytest.raises(ValueError, match=r"got the output of layer 'dense_out' \(Daoloth\)"):
        Lump([x, y], y)


def test_pile_given_tensors_points_to_lump(graph):
    x, y = graph
    for args in [(x, y), ([x], [y])]:
        with pytest.raises(TypeError, match=r"takes a list of layers.* Lump\(inputs, outputs\)"):
            Pile(*args)


def test_pile_given_one_layer_says_make_a_list():
    with pytest.raises(TypeError, match=r"layers must be a list of layers, got one Daoloth; "
                                        r"write Pile\(\[single\]\)"):
        Pile(Daoloth(2, name="single"))


@pytest.mark.parametrize("method", ["compile", "fit", "fit_generator", "train_on_batch",
                                    "evaluate", "evaluate_generator", "test_on_batch"])
@pytest.mark.parametrize("kind", ["pile", "lump"])
def test_models_say_training_is_not_there_yet(graph, method, kind):
    x, y = graph
    model = Lump(x, y) if kind == "lump" else Pile([Daoloth(2, input_shape=(3,))])
    with pytest.raises(NotImplementedError, match=rf"{method}\(\) is not available: cthulhu runs "
                                                  r"trained models .* cannot train them yet"):
        getattr(model, method)("adam", loss="mse")
