"""The device registry: keys, lazy loading, fallbacks, explain, plugins, conflicts, warnings."""

import subprocess
import sys
import types

import array_api_strict as xps
import numpy as np
import pytest

from cthulhu import devices, ops, shapes
from cthulhu.devices import Plugin, PluginWarning, Registry, fuses, namespace_key


def test_namespace_key_of_common_libraries():
    assert namespace_key(np.ones(2)) == "numpy"
    assert namespace_key(np.float32(1.0)) == "numpy"
    assert namespace_key(xps.ones(2)) == "array_api_strict"


def test_namespace_key_of_torch_tensor():
    torch = pytest.importorskip("torch")
    assert namespace_key(torch.ones(2)) == "torch"


def test_namespace_key_of_dask_array():
    da = pytest.importorskip("dask.array")
    assert namespace_key(da.ones(4, chunks=2)) == "dask.array"


def test_routing_imports_no_plugin_for_other_libraries():
    """Looking up a NumPy op imports neither cupy nor the dask plugin, and keys need no import."""
    code = (
        "import sys, numpy as np\n"
        "from cthulhu import ops\n"
        "ops.conv(np.ones((1, 4, 1)), np.ones((3, 1, 1)))\n"
        "from cthulhu.devices import registry\n"
        "print(registry.keys())\n"
        "print('cupy' in sys.modules, 'dask' in sys.modules, "
        "'cthulhu.devices.cupy_' in sys.modules, 'cthulhu.devices.dask_' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    keys_line, flags = out.stdout.strip().splitlines()
    assert "'numpy'" in keys_line and "'cupy'" in keys_line and "'dask.array'" in keys_line
    assert flags == "False False False False"


def test_import_devices_is_light():
    code = "import sys, cthulhu.devices; print('numpy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


class _Recorder(Plugin):
    """A plugin for array_api_strict arrays that records calls and may decline."""

    name = "recorder"
    keys = ("array_api_strict",)

    def __init__(self, decline=False, ops_provided=("conv",)):
        self.calls = []
        self.decline = decline
        self.ops_provided = ops_provided

    def get(self, op):
        if op not in self.ops_provided:
            return None

        def impl(x, kernel, **cfg):
            self.calls.append((op, cfg))
            if self.decline:
                return NotImplemented
            # a recognisable (wrong) answer: proves the plugin's result is returned
            return xps.zeros((1, 1, 7), dtype=x.dtype)

        return impl


@pytest.fixture
def strict_plugin():
    plugins = []

    def install(plugin):
        devices.register(plugin, replace=True)
        plugins.append(plugin)
        return plugin

    yield install
    for plugin in plugins:
        devices.unregister(plugin)


def _strict_conv():
    x = xps.reshape(xps.arange(5, dtype=xps.float64), (1, 5, 1))
    k = xps.ones((3, 1, 1), dtype=xps.float64)
    return ops.conv(x, k, padding="valid")


def test_registered_plugin_runs_and_gets_the_resolved_geometry(strict_plugin):
    plugin = strict_plugin(_Recorder())
    y = _strict_conv()
    assert y.shape == (1, 1, 7)
    op, cfg = plugin.calls[0]
    assert op == "conv" and set(cfg) == {"geometry", "epilogue"}
    g = cfg["geometry"]
    assert isinstance(g, shapes.ConvGeometry)
    assert (g.strides, g.dilation, g.pads, g.out_spatial) == ((1,), (1,), ((0, 0),), (3,))
    assert cfg["epilogue"].empty
    assert devices.explain(xps.ones(1), "conv").plugin == "recorder"


def test_declining_plugin_falls_back_to_generic(strict_plugin):
    plugin = strict_plugin(_Recorder(decline=True))
    y = _strict_conv()
    assert plugin.calls, "the plugin was asked first"
    np.testing.assert_array_equal(np.from_dlpack(y)[0, :, 0], [3.0, 6.0, 9.0])


def test_plugin_without_op_falls_back_and_explain_says_so(strict_plugin):
    strict_plugin(_Recorder(ops_provided=()))
    y = _strict_conv()
    np.testing.assert_array_equal(np.from_dlpack(y)[0, :, 0], [3.0, 6.0, 9.0])
    why = devices.explain(xps.ones(1), "conv")
    assert why.plugin == "generic" and "does not provide 'conv'" in why.reason


def test_unfused_plugin_gets_bias_and_activation_applied_by_front_end(strict_plugin):
    class Identity(Plugin):
        name, keys = "identity", ("array_api_strict",)

        def get(self, op):
            return (lambda x, kernel, **cfg: x) if op == "matmul" else None

    strict_plugin(Identity())
    x = xps.asarray([[-3.0, 1.0]])
    y = ops.matmul(x, xps.ones((2, 2)), bias=xps.asarray([1.0, 1.0]), activation="relu")
    np.testing.assert_array_equal(np.from_dlpack(y), [[0.0, 2.0]])


def test_fused_plugin_receives_bias_and_activation(strict_plugin):
    seen = {}

    class Fused(Plugin):
        name, keys = "fused", ("array_api_strict",)

        def get(self, op):
            @fuses("bias", "activation")
            def impl(x, kernel, *, geometry, epilogue):
                seen.update(geometry=geometry, epilogue=epilogue)
                return x
            return impl if op == "matmul" else None

    strict_plugin(Fused())
    x = xps.asarray([[-3.0, 1.0]])
    y = ops.matmul(x, xps.ones((2, 2)), bias=xps.asarray([1.0, 1.0]), activation="relu")
    assert seen["epilogue"].activation == "relu" and seen["epilogue"].bias is not None
    assert seen["geometry"] == shapes.MatmulGeometry((1,), 2, 2)
    np.testing.assert_array_equal(np.from_dlpack(y), [[-3.0, 1.0]])  # nothing re-applied


def test_plugin_fusing_only_the_bias_gets_the_activation_applied_after(strict_plugin):
    seen = {}

    class BiasOnly(Plugin):
        name, keys = "bias-only", ("array_api_strict",)

        def get(self, op):
            @fuses("bias")
            def impl(x, kernel, *, geometry, epilogue):
                seen["epilogue"] = epilogue
                return x + epilogue.bias
            return impl if op == "matmul" else None

    strict_plugin(BiasOnly())
    x = xps.asarray([[-3.0, 1.0]])
    y = ops.matmul(x, xps.ones((2, 2)), bias=xps.asarray([1.0, 1.0]), activation="relu")
    assert seen["epilogue"].parts() == ("bias",)
    np.testing.assert_array_equal(np.from_dlpack(y), [[0.0, 2.0]])  # relu after the plugin


def test_plugin_to_numpy_is_a_method_with_a_default():
    class Plain(Plugin):
        name, keys = "plain", ("plainlib",)

    np.testing.assert_array_equal(Plain().to_numpy(xps.asarray([1.0, 2.0])), [1.0, 2.0])
    assert "to_numpy" not in devices.OPS
    a = np.ones(3)
    assert devices.to_numpy(a) is a


def test_explain_for_numpy_strict_and_unknown_op():
    why = devices.explain(np.ones(3), "conv")
    assert why.plugin == "numpy" and why.key == "numpy"
    assert "numpy" in str(why)
    why = devices.explain(xps.ones(3), "conv_transpose")
    assert why.plugin == "generic" and "array_api_strict" in why.reason
    with pytest.raises(ValueError, match="unknown op"):
        devices.explain(np.ones(3), "fft")


def test_plugins_lists_builtin_and_generic():
    rows = {row.key: row for row in devices.plugins()}
    assert rows["numpy"].available and rows["numpy"].name == "numpy"
    assert rows["*"].name == "generic" and rows["*"].available
    assert {"cupy", "dask.array"} <= set(rows)
    for row in rows.values():
        assert row.reason


# -- an isolated registry with fake entry points ---------------------------

def _module_with(name, **attrs):
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


class _Fake(Plugin):
    name, keys = "fake", ("fakelib",)
    loaded = 0

    def __init__(self):
        type(self).loaded += 1

    def get(self, op):
        return (lambda *a, **k: "fake result") if op == "conv" else None


class FakeArray:
    pass


FakeArray.__module__ = "fakelib.core"


@pytest.fixture
def fake_modules():
    _module_with("cthulhu_test_fake_plugin", Fake=_Fake, Broken=None)
    yield
    for name in ("cthulhu_test_fake_plugin",):
        sys.modules.pop(name, None)


def test_entry_point_plugin_loads_lazily_once(fake_modules):
    _Fake.loaded = 0
    reg = Registry(entry_points=lambda: [("fakelib", "cthulhu_test_fake_plugin:Fake")],
                   builtin={})
    assert reg.keys() == ["fakelib"]
    assert _Fake.loaded == 0, "listing keys must not load the plugin"
    impl = reg.lookup(FakeArray(), "conv")
    assert impl() == "fake result"
    reg.lookup(FakeArray(), "conv")
    assert _Fake.loaded == 1
    assert reg.lookup(FakeArray(), "upsample") is None


def test_broken_entry_point_warns_and_falls_back():
    reg = Registry(entry_points=lambda: [("fakelib", "no_such_module_xyz:Plugin")], builtin={})
    with pytest.warns(PluginWarning, match="no_such_module_xyz"):
        assert reg.lookup(FakeArray(), "conv") is None
    why = reg.explain(FakeArray(), "conv")
    assert why.plugin == "generic" and "failed to load" in why.reason
    rows = {r.key: r for r in reg.plugins()}
    assert not rows["fakelib"].available and "ModuleNotFoundError" in rows["fakelib"].reason


def test_entry_point_that_is_not_a_plugin_warns(fake_modules):
    reg = Registry(entry_points=lambda: [("fakelib", "cthulhu_test_fake_plugin:Broken")],
                   builtin={})
    with pytest.warns(PluginWarning, match="not a cthulhu device plugin"):
        assert reg.lookup(FakeArray(), "conv") is None


def test_two_plugins_for_one_key_raise_type_error(fake_modules):
    reg = Registry(entry_points=lambda: [("fakelib", "cthulhu_test_fake_plugin:Fake"),
                                         ("fakelib", "other_package:Plugin")], builtin={})
    with pytest.raises(TypeError, match="two device plugins for namespace 'fakelib'"):
        reg.lookup(FakeArray(), "conv")


def test_same_plugin_from_entry_point_and_builtin_table_is_one(fake_modules):
    target = "cthulhu_test_fake_plugin:Fake"
    reg = Registry(entry_points=lambda: [("fakelib", target)], builtin={"fakelib": target})
    assert reg.lookup(FakeArray(), "conv")() == "fake result"


def test_register_conflict_raises_unless_replace():
    reg = Registry(entry_points=lambda: [], builtin={})
    first, second = _Fake(), _Fake()
    reg.register(first)
    with pytest.raises(TypeError, match="two device plugins"):
        reg.register(second)
    reg.register(second, replace=True)
    assert reg.plugin_for("fakelib")[0] is second
    reg.unregister(second)
    assert reg.plugin_for("fakelib")[0] is None


def test_unavailable_plugin_is_skipped_with_its_reason():
    class NoGpu(_Fake):
        def available(self):
            return False, "no GPU found"

    reg = Registry(entry_points=lambda: [], builtin={})
    reg.register(NoGpu())
    assert reg.lookup(FakeArray(), "conv") is None
    assert "no GPU found" in reg.explain(FakeArray(), "conv").reason


def test_fuses_rejects_unknown_parts():
    with pytest.raises(ValueError, match="unknown part"):
        fuses("bias", "dropout")
    with pytest.raises(ValueError, match="unknown activation"):
        fuses("activation", activations=("gelu",))
