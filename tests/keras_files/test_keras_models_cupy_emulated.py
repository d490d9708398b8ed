"""Models loaded from Keras files run on the CuPy plugin and predict what Keras predicted,
on the CPU: the plugin's Python side (shapes, launch geometry, argument packing) launches
the CUDA kernels compiled for the host by the emulator (tests/kernels), with NumPy arrays
routed to the plugin (the ``emulated`` fixture of test_cupy_ops_emulated.py).

The reference is Keras's own ``predict`` (``<model>.truth.npz``), within the certificate's
tolerance. Each test also records which of the plugin's ops served a call and which
kernels launched, so it cannot pass by running the NumPy plugin instead. The emulator runs
every CUDA thread on the CPU: the recorded batches are cut to one sample (the fixtures'
models are small; the module takes seconds once the emulator's kernels are built).
"""

from __future__ import annotations

import numpy as np
import pytest

from cthulhu.devices.cupy_ import _ops
from tests.keras_files.test_keras_models import (
    BUILDABLE,
    _inputs_outputs,
    _load,
    assert_like_keras,
    missing_class,
    tolerance,
)
from tests.kernels.conftest import emulator  # noqa: F401  (fixture of `emulated`)
from tests.kernels.test_cupy_ops_emulated import emulated  # noqa: F401  (fixture)
from tests.support import fake_cupy
from tests.support.keras_fixture_index import sibling

pytest.importorskip("h5py")

# (folder, model): the plugin ops the model must use on the CuPy plugin (a kernel launch
# for each but strict-float32 matmul, which real CuPy hands to cuBLAS and the stand-in to
# NumPy), and the prefixes of kernels that must have launched.
MODELS = {
    # Conv1D/2D/3D, channels_last: igemm.cu or conv_nd.cu
    ("keras3", "family_conv"): ({"conv"}, ["cthulhu_conv_nd"]),
    # Dense on a 3-D input (a Pile): the plugin's matmul
    ("keras3", "family_dense"): ({"matmul"}, []),
    # a functional model (Lump) calling a nested model
    ("tfkeras", "nested"): ({"matmul"}, []),
    # Embedding -> LSTM -> Dense: the LSTM's projections are the plugin's matmul
    ("keras3", "text_lstm"): ({"matmul"}, []),
    # Keras 1 Merge of two branches (mode='concat'/'sum' words of Keras 1)
    ("keras1", "k1_merge"): ({"matmul"}, []),
    # a Lump with an Add merge after causal, dilated Conv1D
    ("tfkeras", "tcn"): ({"conv"}, ["cthulhu_conv_nd", "cthulhu_igemm"]),
    # Keras 1 Embedding -> LSTM (consume_less='gpu': the four gates in one weight), Keras 1's
    # gate order converted
    ("keras1", "k1_lstm_fused"): ({"matmul"}, []),
    # Keras 1 Deconvolution2D, dim_ordering 'th' (channels_first), strided
    ("keras1", "k1_deconv_th"): ({"conv_transpose"}, ["cthulhu_conv_transpose"]),
    # UpSampling1D/2D/3D, both data formats: upsample.cu
    ("keras3", "family_upsampling"): ({"upsample"}, ["cthulhu_upsample"]),
    # DepthwiseConv2D: depthwise.cu
    ("keras3", "family_depthwise"): ({"depthwise_conv"}, ["cthulhu_depthwise"]),
    # SeparableConv1D/2D: the depthwise kernels, then the pointwise product
    ("keras3", "family_separable"): ({"separable_conv"}, ["cthulhu_depthwise"]),
    # Conv2DTranspose/Conv3DTranspose with strides and output_padding
    ("keras3", "family_conv_transpose"): ({"conv_transpose"}, ["cthulhu_conv_transpose"]),
}
# Models with pooling layers (MaxPooling, GlobalAveragePooling): pool.cu's kernels, and
# everything around them on the plugin's kernels.
POOLING = {
    # a Lump with Add merges, batch norm folded into the convolutions
    ("keras3", "resnet"): ({"conv", "matmul", "global_pool"}, ["cthulhu_global_pool"]),
    ("keras3", "mobilenet"): ({"conv", "depthwise_conv", "global_pool"},
                              ["cthulhu_depthwise", "cthulhu_global_pool"]),
    ("keras3", "unet2d_cf"): ({"conv", "conv_transpose", "upsample", "pool"},
                              ["cthulhu_upsample", "cthulhu_pool"]),
    ("keras3", "unet3d"): ({"conv", "conv_transpose", "upsample", "pool"},
                           ["cthulhu_upsample", "cthulhu_pool"]),
}
PLUGIN_OPS = ("conv", "conv_transpose", "depthwise_conv", "separable_conv", "matmul",
              "upsample", "pool", "global_pool")


def _entry(folder, model):
    fmt = "hdf5_model" if folder == "keras1" else "keras_zip"
    return sibling(folder, model, fmt)


@pytest.fixture
def served(monkeypatch):
    """The names of the plugin ops that computed a result (not ``NotImplemented``)."""
    names = []
    for name in PLUGIN_OPS:
        original = getattr(_ops, name)

        def spy(*args, _name=name, _original=original, **kwargs):
            result = _original(*args, **kwargs)
            if result is not NotImplemented:
                names.append(_name)
            return result

        monkeypatch.setattr(_ops, name, spy)
    return names


def _check(emulated, served, folder, model_name, ops, kernels):  # noqa: F811
    entry = _entry(folder, model_name)
    assert any(f == folder and e["file"] == entry["file"] for f, e in BUILDABLE), \
        f"{entry['file']} is not among the files cthulhu builds"
    model = _load(folder, entry)
    inputs, outputs = _inputs_outputs(folder, entry)
    inputs, outputs = [x[:1] for x in inputs], [y[:1] for y in outputs]
    fake_cupy.FakeRawModule.launched.clear()
    with emulated:
        got = model(inputs if len(inputs) > 1 else inputs[0])
    got = [np.asarray(y) for y in (got if isinstance(got, (list, tuple)) else [got])]
    launched = list(fake_cupy.FakeRawModule.launched)
    assert set(served) >= ops, (model_name, served)
    for prefix in kernels:
        assert any(name.startswith(prefix) for name in launched), (prefix, launched)
    assert_like_keras(got, outputs, what=(folder, model_name, "cupy emulated"),
                      **tolerance(folder, model_name))


@pytest.mark.parametrize(("folder", "model_name"), list(MODELS))
def test_loaded_model_on_emulated_cupy_matches_keras(emulated, served, folder,  # noqa: F811
                                                     model_name):
    _check(emulated, served, folder, model_name, *MODELS[folder, model_name])


@pytest.mark.parametrize(("folder", "model_name"), list(POOLING))
def test_loaded_model_with_pooling_on_emulated_cupy_matches_keras(emulated, served,  # noqa: F811
                                                                 folder, model_name):
    """The pooling layers are in the catalog: these files load and match, pooling on
    pool.cu's kernels."""
    assert missing_class(folder, model_name) is None
    _check(emulated, served, folder, model_name, *POOLING[folder, model_name])


def test_the_spy_sees_numpy_when_the_plugin_is_off(served):
    """Without ``emulated`` the same model runs on the NumPy plugin: nothing is recorded
    (the recording is not vacuous)."""
    entry = _entry("keras3", "family_conv")
    inputs, outputs = _inputs_outputs("keras3", entry)
    fake_cupy.FakeRawModule.launched.clear()
    got = _load("keras3", entry)([x[:1] for x in inputs])
    assert served == [] and fake_cupy.FakeRawModule.launched == []
    assert_like_keras(list(got), [y[:1] for y in outputs])
