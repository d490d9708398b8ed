"""Folded models on the CuPy plugin (emulated CUDA kernels on the CPU): a convolution of
any kind -> BatchNormalization -> ReLU / ReLU(6) / LeakyReLU chain equals the unfolded
layers on the NumPy device, and runs as ONE kernel launch that was handed the batch
norm's scale and shift and the activation: igemm.cu, conv_nd.cu (what igemm.cu does not
take: channels that fill no 16-byte vector, float64, transposed convolutions of those)
and depthwise.cu (the vectorised channels_last kernel and the general one) all apply the
whole epilogue. The cases are tests/support/fold_cases.py's, which the GPU tests share.

The model runs on NumPy arrays routed to the CuPy plugin (``emulated``, as in
test_cupy_ops_emulated.py); the reference is the same model on the NumPy plugin with
folding turned off, layer by layer.
"""

import numpy as np
import pytest

from cthulhu import layers as L
from cthulhu.engine import fusion
from tests.kernels.test_cupy_ops_emulated import emulated  # noqa: F401  (fixture)
from tests.support import fake_cupy
from tests.support import fold_cases as fc


@pytest.mark.parametrize("act", sorted(fc.ACTIVATIONS))
@pytest.mark.parametrize(("label", "shape", "dtype", "producer", "kernel"), fc.CASES,
                         ids=[c[0] for c in fc.CASES])
def test_folded_chain_is_one_launch_equal_to_the_unfolded_numpy_layers(
        emulated, label, shape, dtype, producer, kernel, act):  # noqa: F811
    make_activation, act_code = fc.ACTIVATIONS[act]
    rng = np.random.default_rng(len(label))
    producer, activation = producer(), make_activation()
    model = fc.folded_model(shape, producer, activation, dtype, rng)
    x = rng.standard_normal(shape).astype(dtype)
    with fusion.folding(False):
        want = np.asarray(model(x))          # NumPy device, layer by layer
    fake_cupy.FakeRawModule.launched.clear()
    with emulated, fc.recorded_launches() as launches:
        got = np.asarray(model(x))
    assert fake_cupy.FakeRawModule.launched == [name for name, _ in launches]
    fc.check_one_fused_launch(launches, kernel, producer, act_code, activation, dtype)
    assert got.dtype == want.dtype and got.shape == want.shape
    tol = 1e-10 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_folding_off_runs_the_same_kernel_without_the_batch_norm(emulated):  # noqa: F811
    """The control: without folding the convolution's launch carries no scale/shift
    flags and no activation (the batch norm and the ReLU run as their own layers)."""
    rng = np.random.default_rng(0)
    model = fc.folded_model((2, 7, 8, 3), L.DepthwiseCthalpa2D(3, use_bias=False), L.ReLU(),
                            np.float32, rng)
    x = rng.standard_normal((2, 7, 8, 3)).astype(np.float32)
    with emulated, fusion.folding(False), fc.recorded_launches() as launches:
        model(x)
    depthwise = [s for name, s in launches if name.startswith("cthulhu_depthwise")]
    assert len(depthwise) == 1 and tuple(int(v) for v in depthwise[0][-3:-1]) == (0, 0)
