"""Generate the Keras 3 fixtures of ``tests/keras_files`` (never run by the test suite).

Runs only in its own virtual environment (see README.md)::

    python3 -m venv /tmp/kf_k3
    /tmp/kf_k3/bin/pip install "keras==3.15.1" torch==2.13.0 numpy h5py
    KERAS_BACKEND=torch /tmp/kf_k3/bin/python tests/keras_files/generate_keras3.py

For every model of ``_models.py`` it writes into ``fixtures/keras3/``:

- ``<model>.keras``: the Keras 3 zip (``config.json``, ``metadata.json``, ``model.weights.h5``);
- ``<model>.h5``: the legacy HDF5 format as Keras 3 writes it (``keras.saving.save_model``
  with an ``.h5`` path);
- ``<model>.json``: ``model.to_json()``;
- ``<model>.weights.h5``: ``model.save_weights`` (for the models in ``WEIGHTS_ONLY``);
- ``<model>.truth.npz``: the input(s), ``predict`` output(s) and every leaf layer's
  ``get_weights()`` (the independent truth the tests compare the readers with);

plus, for ``unet3d`` only, sharded weights (``unet3d_sharded.weights.json`` and its
``unet3d_sharded_0000N.weights.h5`` shards) and a ``.keras`` whose weights are stored as
``model.weights.npz`` (``saving_lib.save_model(..., weights_format="npz")``), and
``index_keras3.json`` naming the Keras version and backend of every file.
"""

from __future__ import annotations

import os
import sys
import warnings

os.environ.setdefault("KERAS_BACKEND", "torch")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from _common import FIXTURES, save_truth, write_index  # noqa: E402
from _models import MODELS, build, leaf_paths  # noqa: E402

OUT = FIXTURES / "keras3"
WEIGHTS_ONLY = ("unet3d", "nested", "text_lstm", "custom_model", "family_conv")
GENERATION = "keras3"


def main():
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    keras.utils.set_random_seed(0)
    backend = keras.backend.backend()
    entries, models = [], {}

    def record(path, model_name, kind, **extra):
        entries.append({"file": path.name, "model": model_name, "format": kind,
                        "generation": GENERATION, "keras_version": keras.__version__,
                        "backend": backend, **extra})

    for name in MODELS:
        model, inputs = build(keras, name)
        outputs = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
        truth = save_truth(OUT / f"{name}.truth.npz", model, inputs, outputs,
                           list(leaf_paths(model)))
        models[name] = truth
        common = {"truth": truth["truth"]}
        model.save(OUT / f"{name}.keras")
        record(OUT / f"{name}.keras", name, "keras_zip", **common)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "legacy format" warning
            keras.saving.save_model(model, OUT / f"{name}.h5")
        record(OUT / f"{name}.h5", name, "hdf5_model", **common)
        (OUT / f"{name}.json").write_text(model.to_json())
        record(OUT / f"{name}.json", name, "json_config", **common)
        if name in WEIGHTS_ONLY:
            model.save_weights(OUT / f"{name}.weights.h5")
            record(OUT / f"{name}.weights.h5", name, "hdf5_weights_keras3", **common)
        if name == "unet3d":
            # about 2 KB per shard: several shards, a layer's vars never split
            model.save_weights(OUT / "unet3d_sharded.weights.json", max_shard_size=2e-6)
            record(OUT / "unet3d_sharded.weights.json", name, "sharded_weights", **common)
            from keras.src.saving import saving_lib

            saving_lib.save_model(model, str(OUT / "unet3d_npz.keras"), weights_format="npz")
            record(OUT / "unet3d_npz.keras", name, "keras_zip_npz", **common)
        print(f"{name}: {len(model.layers)} layers, outputs "
              f"{[np.shape(o) for o in (outputs if isinstance(outputs, list) else [outputs])]}")

    write_bfloat16(record, models)
    meta = {"generator": "tests/keras_files/generate_keras3.py", "keras": keras.__version__,
            "backend": backend, "numpy": np.__version__, "python": sys.version.split()[0]}
    try:
        import torch

        meta["torch"] = torch.__version__
    except ImportError:  # pragma: no cover - another backend
        pass
    write_index(OUT / "index_keras3.json", meta, entries, models)
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(entries)} files, {total / 1e6:.2f} MB in {OUT}")


def write_bfloat16(record, models):
    """A bfloat16 Dense: Keras 3 stores its weights as 2-byte opaque HDF5 data tagged
    dtype='bfloat16'. The truth holds them widened to float32 (exact)."""
    model = keras.Sequential([keras.Input(shape=(3,), name="x"),
                              keras.layers.Dense(2, dtype="bfloat16", name="dense_bf16")],
                             name="bf16_dense")
    rng = np.random.default_rng([20260313, 16])
    model.layers[0].set_weights([rng.standard_normal((3, 2)), rng.standard_normal((2,))])
    x = rng.standard_normal((2, 3)).astype("float32")
    outputs = np.asarray(model.predict(x, verbose=0)).astype("float32")

    class Widened:  # get_weights() as float32, for save_truth
        def __init__(self, layer):
            self.layer = layer

        def get_weights(self):
            return [np.asarray(w).astype("float32") for w in self.layer.get_weights()]

    truth = save_truth(OUT / "bf16_dense.truth.npz", model, [x], [outputs],
                       [(("dense_bf16",), Widened(model.layers[0]))])
    truth["leaf_layers"][0]["class_name"] = "Dense"
    models["bf16_dense"] = truth
    model.save(OUT / "bf16_dense.keras")
    record(OUT / "bf16_dense.keras", "bf16_dense", "keras_zip", truth=truth["truth"],
           note="bfloat16 weights; truth widened to float32")


if __name__ == "__main__":
    main()
