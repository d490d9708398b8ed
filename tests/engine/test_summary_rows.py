"""model.summary() prints what the model supplies: its columns and its rows."""

from cthulhu.engine.summary import print_summary, shape_text
from cthulhu.models import Lump, Pile
from tests.support.engine_toy_layers import ToyAdd, ToyDense


def test_pile_rows_are_its_layers_with_their_output_shapes():
    model = Pile([ToyDense(3, input_shape=(2,), name="d1"), ToyDense(1, name="d2")])
    assert model.summary_rows() == [["d1 (ToyDense)", "(None, 3)", "9"],
                                    ["d2 (ToyDense)", "(None, 1)", "4"]]


def test_lump_rows_continue_with_each_further_input():
    from cthulhu.engine.input_layer import Input

    a, b = Input(shape=(2,), name="ra"), Input(shape=(2,), name="rb")
    model = Lump([a, b], ToyAdd(name="radd")([a, b]))
    assert model.summary_rows()[-2:] == [["radd (ToyAdd)", "(None, 2)", "0", "ra[0][0]"],
                                         ["", "", "", "rb[0][0]"]]


def test_print_summary_asks_the_model_not_its_class():
    class Table:
        name = "table"
        summary_columns = (("What", "Count"), 20, (0.5, 1.0))
        trainable_weights = non_trainable_weights = []

        def summary_rows(self):
            return [["apples", "3"], ["", "(more)"], ["pears", "2"]]

    lines = []
    print_summary(Table(), print_fn=lines.append)
    assert lines == ['Model: "table"', "_" * 20, "What      Count", "=" * 20,
                     "apples    3", "          (more)", "_" * 20, "pears     2", "=" * 20,
                     "Total params: 0", "Trainable params: 0", "Non-trainable params: 0",
                     "_" * 20]


def test_shape_text_is_keras_2s():
    assert shape_text((None, 3)) == "(None, 3)" and shape_text((None,)) == "(None,)"
    assert shape_text([(None, 2), (None, 1)]) == "[(None, 2), (None, 1)]"
