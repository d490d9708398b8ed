"""Generate the Keras 2 reference fixture of the pooling layers (issue 10).

``MaxPooling1D/2D/3D``, ``AveragePooling1D/2D/3D``, ``GlobalMaxPooling1D/2D/3D`` and
``GlobalAveragePooling1D/2D/3D``: both paddings, strides, both data formats, float16/32/64,
``keepdims``, a masked ``GlobalAveragePooling1D``. Runs ONLY under a TensorFlow virtual
environment, never in the test suite (``test_keras_pooling.py`` reads the stored files
with plain NumPy)::

    /tmp/tfenv/bin/python tests/keras_reference/generate_pooling.py

It writes ``keras2_reference_pooling.npz`` and ``keras2_reference_pooling.json`` in the
format of ``generate_layers2.py``, whose case runner it uses. Where TensorFlow's CPU
kernels refuse a ``channels_first`` 2D pooling (NCHW), the case runs as
Keras's ``channels_last`` layer on the transposed input, transposed back, and its
``note`` says so (the stored config is the ``channels_first`` layer's).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import generate_layers2 as base  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

NPZ = HERE / "keras2_reference_pooling.npz"
INDEX = HERE / "keras2_reference_pooling.json"


def build_cases():
    cases = []
    add = cases.append
    case = base.case
    spatial = {1: (9,), 2: (7, 6), 3: (5, 6, 4)}
    for name in ("Max", "Average"):
        low = name.lower()
        for rank in (1, 2, 3):
            cls = f"{name}Pooling{rank}D"
            shape = (2, *spatial[rank], 3)
            first = (2, 3, *spatial[rank])
            add(case(f"{low}{rank}d_default", cls, {}, shape))
            add(case(f"{low}{rank}d_same_k3_s2", cls,
                     {"pool_size": 3, "strides": 2, "padding": "same"}, shape))
            add(case(f"{low}{rank}d_same_k3_s1", cls,
                     {"pool_size": 3, "strides": 1, "padding": "same"}, shape))
            add(case(f"{low}{rank}d_valid_mixed", cls,
                     {"pool_size": (3, 2, 2)[:rank], "strides": (2, 1, 2)[:rank]}, shape))
            add(case(f"{low}{rank}d_same_cf", cls,
                     {"pool_size": 2, "strides": (1, 2, 1)[:rank], "padding": "same",
                      "data_format": "channels_first"}, first))
            add(case(f"{low}{rank}d_valid_cf", cls,
                     {"pool_size": 3, "strides": 2, "data_format": "channels_first"}, first))
        cls = f"{name}Pooling2D"
        add(case(f"{low}2d_f64", cls, {"pool_size": 3, "strides": 2, "padding": "same",
                                       "dtype": "float64"}, (2, 7, 6, 3), dtype="float64"))
        add(case(f"{low}2d_f16", cls, {"pool_size": 3, "strides": 2, "padding": "same",
                                       "dtype": "float16"}, (2, 7, 6, 3), dtype="float16"))
    for name in ("Max", "Average"):
        low = name.lower()
        for rank in (1, 2, 3):
            cls = f"Global{name}Pooling{rank}D"
            shape = (2, *spatial[rank], 3)
            add(case(f"global_{low}{rank}d", cls, {}, shape))
            add(case(f"global_{low}{rank}d_keepdims", cls, {"keepdims": True}, shape))
            add(case(f"global_{low}{rank}d_cf_keepdims", cls,
                     {"data_format": "channels_first", "keepdims": True},
                     (2, 3, *spatial[rank])))
        add(case(f"global_{low}2d_f64", f"Global{name}Pooling2D", {"dtype": "float64"},
                 (2, 5, 4, 3), dtype="float64"))
        add(case(f"global_{low}2d_f16", f"Global{name}Pooling2D", {"dtype": "float16"},
                 (2, 5, 4, 3), dtype="float16"))
    add(case("global_average1d_masked", "GlobalAveragePooling1D", {}, (3, 6, 2),
             mask=[(0, 1), (0, 4), (1, 5), (2, 0), (2, 1), (2, 2)]))
    add(case("global_average1d_masked_keepdims", "GlobalAveragePooling1D",
             {"keepdims": True}, (3, 6, 2), mask=[(0, 1), (2, 3)]))
    return cases


def _channels_last_twin(cls):
    """Keras's ``cls`` running channels_first as its channels_last layer on the transposed
    input, transposed back (TensorFlow's CPU pooling kernels refuse NCHW in some cases)."""
    keras_cls = getattr(base.L, cls)

    class Twin(keras_cls):
        def call(self, inputs):
            rank = len(inputs.shape)
            self.data_format = "channels_last"
            try:
                y = super().call(tf.transpose(inputs, (0, *range(2, rank), 1)))
            finally:
                self.data_format = "channels_first"
            return tf.transpose(y, (0, rank - 1, *range(1, rank - 1)))

    Twin.__name__ = cls
    return Twin


def _run(number, case_id, cls, kwargs, shapes, options, arrays):
    try:
        return base.run_case(number, case_id, cls, kwargs, shapes, options, arrays)
    except tf.errors.InvalidArgumentError:
        if kwargs.get("data_format") != "channels_first":
            raise
    original = getattr(base.L, cls)
    setattr(base.L, cls, _channels_last_twin(cls))
    try:
        entry = base.run_case(number, case_id, cls, kwargs, shapes, options, arrays)
    finally:
        setattr(base.L, cls, original)
    entry["note"] = ("run as Keras's channels_last layer on the transposed input: "
                     "TensorFlow's CPU pooling kernel refused NCHW")
    return entry


def main():
    tf.config.set_visible_devices([], "GPU")
    arrays, index = {}, []
    for number, (case_id, cls, kwargs, shapes, options) in enumerate(build_cases(), start=1):
        index.append(_run(number, case_id, cls, kwargs, shapes, options, arrays))
    ids = [e["id"] for e in index]
    if len(set(ids)) != len(ids):
        sys.exit("duplicate case ids")
    np.savez_compressed(NPZ, **arrays)
    import keras

    meta = {"generator": "tests/keras_reference/generate_pooling.py",
            "tensorflow": tf.__version__, "keras": keras.__version__, "numpy": np.__version__,
            "seed": base.SEED, "cases": index}
    INDEX.write_text(json.dumps(base.jsonable(meta), indent=1) + "\n")
    print(f"{len(index)} cases, {len(arrays)} arrays, {NPZ.stat().st_size / 1e6:.2f} MB npz, "
          f"{INDEX.stat().st_size / 1e6:.2f} MB json")


if __name__ == "__main__":
    main()
