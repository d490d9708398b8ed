"""Upward services: model.save reaches cthulhu.saving and predict reaches a whole-model
runner, while the engine imports neither (tests/test_import_contract.py checks the imports)."""

import json
import subprocess
import sys

import numpy as np
import pytest

from cthulhu import devices
from cthulhu.engine import services
from tests.support.engine_toy_layers import ToyDense

xps = pytest.importorskip("array_api_strict")


def test_save_finds_saving_by_its_lazy_default_in_a_fresh_interpreter(tmp_path):
    code = f"""
import json, sys
from cthulhu.engine.pile import Pile
from cthulhu.layers import Daoloth
model = Pile([Daoloth(2, input_shape=(3,))])
before = 'cthulhu.saving' in sys.modules
model.save({str(tmp_path / "m.cthulhu")!r})
print(json.dumps([before, 'cthulhu.saving.cthulhu_file' in sys.modules]))
"""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [False, True]
    from cthulhu.models import load_model

    assert load_model(tmp_path / "m.cthulhu").output_shape == (None, 2)


def test_a_provided_service_replaces_the_default(tmp_path):
    calls = []
    services.provide("save_model",
                     lambda model, path, overwrite=True, **options: calls.append(path))
    try:
        from cthulhu.models import Pile

        Pile([ToyDense(2, input_shape=(3,))]).save(tmp_path / "x")
    finally:
        services.withdraw("save_model")
    assert calls == [tmp_path / "x"] and not (tmp_path / "x").exists()
    assert services.service("save_model").__module__ == "cthulhu.saving.files"


def test_unknown_services_and_non_callables_are_refused():
    with pytest.raises(ValueError, match="unknown engine service 'nope'"):
        services.service("nope")
    with pytest.raises(TypeError, match="expected a callable"):
        services.provide("save_model", "cthulhu.saving:save_model")
    with pytest.raises(TypeError, match="expected a callable"):
        services.register_runner("array_api_strict", 3)


def test_a_registered_runner_runs_whole_models_or_declines():
    from cthulhu.models import Pile

    model = Pile([ToyDense(2, input_shape=(3,))])
    x = xps.ones((4, 3), dtype=xps.float32)
    seen = []

    def runner(m, array):
        seen.append((m, array))
        return "whole model" if len(seen) == 1 else NotImplemented

    services.register_runner("array_api_strict", runner)
    try:
        assert model.predict(x) == "whole model"
        y = model.predict(x)  # declined: layer by layer
    finally:
        services.unregister_runner("array_api_strict")
    assert seen == [(model, x), (model, x)]
    np.testing.assert_allclose(np.from_dlpack(y), model.predict(np.ones((4, 3), np.float32)))
    assert services.runner_for(x) is None


def test_the_dask_runner_is_the_blockwise_floors_not_an_op_plugins():
    da = pytest.importorskip("dask.array")
    x = da.ones((4, 3), chunks=2)
    assert services.RUNNER_DEFAULTS["dask.array"] == "cthulhu.blockwise:run_model"
    import cthulhu.blockwise

    assert services.runner_for(x) is cthulhu.blockwise.run_model
    assert "model" not in devices.OPS and devices.lookup(x, "model") is None
    assert services.runner_for(np.ones(3)) is None


def _entry_point_runner(model, x):
    return "from the entry point"


def test_a_runner_named_in_the_entry_point_group_is_found(monkeypatch):
    import importlib.metadata

    from cthulhu.models import Pile

    class EntryPoint:
        name, value = "array_api_strict", f"{__name__}:_entry_point_runner"

    def entry_points(group=None):
        return [EntryPoint()] if group == services.RUNNER_GROUP else []

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    monkeypatch.setattr(services, "_NONE", set())
    try:
        model = Pile([ToyDense(2, input_shape=(3,))])
        assert model.predict(xps.ones((4, 3), dtype=xps.float32)) == "from the entry point"
    finally:
        services.unregister_runner("array_api_strict")


def test_the_engine_does_not_import_the_blockwise_floor_until_a_dask_array_comes():
    import subprocess
    import sys

    code = ("import sys, numpy as np\n"
            "from cthulhu.models import Pile\nfrom cthulhu.layers import Daoloth\n"
            "Pile([Daoloth(2, input_shape=(3,))]).predict(np.ones((1, 3)))\n"
            "print('cthulhu.blockwise' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)
    assert done.stdout.strip() == "False", done.stderr
