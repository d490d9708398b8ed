"""cthulhu.names: the ground floor that turns names into classes and functions.

It imports no registrant (a fresh interpreter shows what importing it loads), finds
cthulhu's own classes through the catalog rows' module strings, and looks custom
objects up first.
"""

import json
import subprocess
import sys

import pytest

from cthulhu import names
from cthulhu.engine.base_layer import Layer
from cthulhu.shapes.catalog import CATALOG


def _fresh(code):
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_names_imports_no_registrant_and_no_numpy():
    loaded = _fresh("import sys, json, cthulhu.names\n"
                    "print(json.dumps(sorted(m for m in sys.modules if m.startswith('cthulhu')"
                    " or m == 'numpy')))")
    assert "numpy" not in loaded
    outside = [m for m in loaded if not m.startswith(("cthulhu.names", "cthulhu.shapes"))]
    assert outside == ["cthulhu"], outside


def test_get_layer_class_finds_every_catalog_row_through_its_module():
    code = ("import json, sys\nfrom cthulhu.names import BUILTIN_MODELS, get_layer_class\n"
            "from cthulhu.shapes.catalog import CATALOG\n"
            "before = 'cthulhu.layers' in sys.modules\n"
            "found = {n: [get_layer_class(n).__name__, get_layer_class(n).__module__]\n"
            "         for n in [*CATALOG, *BUILTIN_MODELS]}\n"
            "print(json.dumps([before, found]))")
    before, found = _fresh(code)
    assert before is False  # nothing imported the layers before the lookups
    for name, row in CATALOG.items():
        assert found[name] == [name, row.module]
    for name, module in names.BUILTIN_MODELS.items():
        assert found[name] == [name, module]


def test_registered_layers_hold_every_catalog_row_and_model():
    registered = names.registered_layers()
    assert set(CATALOG) | set(names.BUILTIN_MODELS) <= set(registered)


def test_custom_objects_come_first_then_the_scope():
    class Mine(Layer):
        pass

    class Other(Layer):
        pass

    assert names.get_layer_class("Daoloth", {"Daoloth": Mine}) is Mine
    with names.custom_object_scope({"Daoloth": Other}):
        assert names.get_layer_class("Daoloth") is Other
        assert names.get_layer_class("Daoloth", {"Daoloth": Mine}) is Mine
        with names.custom_object_scope({"Extra": Mine}):
            assert names.lookup_custom("Daoloth") is Other
            assert names.lookup_custom("Extra") is Mine
        assert names.lookup_custom("Extra") is None
    assert names.get_layer_class("Daoloth").__module__ == "cthulhu.layers.core"


@pytest.mark.parametrize("name", ["Conv2D", "Nyarlathotep", "", 3])
def test_unknown_layer_names_the_name_and_how_to_register(name):
    with pytest.raises(ValueError, match=rf"Unknown layer: {name!r}.*cthulhu.names.register_layer"):
        names.get_layer_class(name)


def test_register_layer_refuses_a_second_class_under_one_name():
    @names.register_layer(name="tests.names.Twice")
    class First(Layer):
        pass

    class Second(Layer):
        pass

    with pytest.raises(TypeError, match="tests.names.Twice"):
        names.register_layer(Second, name="tests.names.Twice")
    assert names.get_layer_class("tests.names.Twice") is First


def test_deserialize_layer_round_trip_and_bad_configs():
    layer = names.deserialize_layer({"class_name": "Daoloth", "config": {"units": 3}})
    again = names.deserialize_layer(names.serialize_layer(layer))
    assert type(again).__name__ == "Daoloth" and again.units == 3
    with pytest.raises(ValueError, match="class_name"):
        names.deserialize_layer(["Daoloth"])


def test_activation_like_modules_find_custom_objects_through_names():
    from cthulhu import activations, initializers

    def mine(x):
        return x

    with names.custom_object_scope({"mine": mine}):
        assert activations.get("mine") is mine
        assert initializers.get("mine") is mine
