"""Generate the tf-keras (Keras 2.15 in TensorFlow 2.15) fixtures of ``tests/keras_files``.

Never run by the test suite; only in its own virtual environment (see README.md)::

    python3 -m venv /tmp/kf_tf215
    /tmp/kf_tf215/bin/pip install tensorflow-cpu==2.15.1 numpy h5py
    /tmp/kf_tf215/bin/python tests/keras_files/generate_tfkeras.py

For every model of ``_models.py`` it writes into ``fixtures/tfkeras/``:

- ``<model>.h5``: the legacy HDF5 model file (``model.save('m.h5')``: ``model_config``
  attribute, ``model_weights`` group, weight names with ``:0``);
- ``<model>.json``: ``model.to_json()``;
- ``<model>.keras``: the zip format tf-keras 2.13-2.15 writes for a ``.keras`` path;
- ``<model>.weights.legacy.h5``: ``model.save_weights(..., save_format='h5')``, the Keras 2
  weight-only layout (``layer_names``/``weight_names``), for the models in ``WEIGHTS_ONLY``;
- ``<model>.weights.h5``: ``model.save_weights('m.weights.h5')`` (tf-keras's new layout),
  for the same models;
- ``<model>.truth.npz``: input(s), ``predict`` output(s) and every leaf layer's
  ``get_weights()``;

and ``index_tfkeras.json``. TF's CPU kernels lack NCHW convolution and pooling: the
channels_first 2D U-Net is saved as built (channels_first), and its recorded output is the
``predict`` of its channels_last twin (same layers, names and weights) on the input moved
to channels-last, moved back; its index entry says so.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")  # Eigen kernels: the same numbers on every CPU
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _common import FIXTURES, save_truth, write_index  # noqa: E402
from _models import MODELS, build, leaf_paths, unet2d_channels_first  # noqa: E402

K = tf.keras
OUT = FIXTURES / "tfkeras"
WEIGHTS_ONLY = ("unet3d", "nested", "text_lstm", "custom_model", "family_conv")
GENERATION = "tfkeras"
TWIN_NOTE = ("TF CPU has no NCHW convolution/pooling: output computed by the channels_last "
             "twin model (same layer names and weights, head without activation) on the input "
             "moved to channels-last, moved back, then the head's softmax over the last axis "
             "as Keras applies it to the channels_first result")


def predict(name, model, inputs):
    try:
        return model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0), None
    except (tf.errors.UnimplementedError, tf.errors.InvalidArgumentError):
        if name != "unet2d_cf":
            raise
    twin, _ = unet2d_channels_first(K, np.random.default_rng(0), data_format="channels_last",
                                    head_activation="linear")
    for source, target in zip(model.layers, twin.layers, strict=True):
        assert source.name == target.name
        target.set_weights(source.get_weights())
    linear = np.moveaxis(twin.predict(np.moveaxis(inputs[0], 1, -1), verbose=0), -1, 1)
    # the head's softmax, as Conv2D.call applies it to its channels_first result: last axis
    return tf.nn.softmax(linear, axis=-1).numpy(), TWIN_NOTE


def main():
    tf.config.set_visible_devices([], "GPU")
    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    entries, models = [], {}

    def record(path, model_name, kind, **extra):
        entries.append({"file": path.name, "model": model_name, "format": kind,
                        "generation": GENERATION, "keras_version": K.__version__
                        if hasattr(K, "__version__") else tf.__version__,
                        "backend": "tensorflow", "tensorflow": tf.__version__, **extra})

    for name in MODELS:
        K.backend.clear_session()
        tf.keras.utils.set_random_seed(0)
        model, inputs = build(K, name)
        outputs, note = predict(name, model, inputs)
        truth = save_truth(OUT / f"{name}.truth.npz", model, inputs, outputs,
                           list(leaf_paths(model)))
        common = {"truth": truth["truth"]}
        if note:
            common["note"] = note
            truth["note"] = note
        models[name] = truth
        model.save(OUT / f"{name}.h5", save_format="h5")
        record(OUT / f"{name}.h5", name, "hdf5_model", **common)
        (OUT / f"{name}.json").write_text(model.to_json())
        record(OUT / f"{name}.json", name, "json_config", **common)
        model.save(OUT / f"{name}.keras", save_format="keras")
        record(OUT / f"{name}.keras", name, "keras_zip", **common)
        if name in WEIGHTS_ONLY:
            model.save_weights(OUT / f"{name}.weights.legacy.h5", save_format="h5")
            record(OUT / f"{name}.weights.legacy.h5", name, "hdf5_weights_legacy", **common)
            model.save_weights(OUT / f"{name}.weights.h5")
            record(OUT / f"{name}.weights.h5", name, "hdf5_weights_keras3", **common)
        print(f"{name}: {len(model.layers)} layers{' (' + note + ')' if note else ''}")

    import keras

    meta = {"generator": "tests/keras_files/generate_tfkeras.py", "tensorflow": tf.__version__,
            "keras": keras.__version__, "backend": "tensorflow", "numpy": np.__version__,
            "python": sys.version.split()[0]}
    for entry in entries:
        entry["keras_version"] = keras.__version__
    write_index(OUT / "index_tfkeras.json", meta, entries, models)
    total = sum(p.stat().st_size for p in OUT.iterdir())
    print(f"{len(entries)} files, {total / 1e6:.2f} MB in {OUT}")


if __name__ == "__main__":
    main()
