"""Whole models against PyTorch CPU, the same weights in the same run (issue 10's speed line).

``python -m benchmarks.bench_models [--threads 2] [--runs 15] [--batch 8]``

Three models, built once in cthulhu (channels_last, NumPy) and once in ``torch.nn`` (NCHW,
its native layout) with the same weights, checked equal before any timing:

* ``resnet``: a ResNet-style classifier on 32x32x3 images: a 3x3 stem, three residual
  blocks (conv-BN-ReLU-conv-BN, ``Add`` with the identity or a strided 1x1 projection,
  ReLU) of 16, 32 and 64 channels, ``GlobalAveragePooling2D``, ``Daoloth(10, softmax)``.
* ``unet3d``: a 3D U-Net on one 128^3 one-channel volume (conv-BN-ReLU, max pooling
  down, stride-2 transposed convolutions up, ``Concatenate`` skips; :func:`unet3d`).
* ``mobilenet``: a MobileNetV2 inverted-residual block on 56x56x24: 1x1 expansion to
  144 channels, BN, ReLU6, 3x3 depthwise, BN, ReLU6, 1x1 projection, BN, ``Add`` with
  the input.

Timed: cthulhu's ``model(x)`` with batch norms folded into the convolutions
(:mod:`cthulhu.engine.fusion`, the default), the same with folding off, and the torch
module under ``inference_mode`` (its BatchNorm2d in eval mode, not fused). Best of
``--runs`` rounds alternating the libraries (``bench_conv``'s timing loop), threads
limited alike (``threads.limit``, threadpoolctl for BLAS, ``torch.set_num_threads``).
On a shared machine only the minimum means anything. Printed: ms per call and
``ratio = cthulhu / torch`` (lower is better; issue 10's targets: at most 1.0 for the
ResNet-style classifier at batch 8 and for the 3D U-Net on a 128^3 volume).
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import sys

import numpy as np

from benchmarks.bench_conv import _best, _inner, _oihw, _steady_allocator


def _set_conv(torch, module, layer):
    weights = layer.get_weights()
    module.weight.data = _oihw(torch, weights[0]) if not _is_depthwise(layer) else \
        torch.from_numpy(np.ascontiguousarray(np.transpose(weights[0], (2, 3, 0, 1))))
    if len(weights) > 1:
        module.bias.data = torch.from_numpy(weights[1])


def _is_depthwise(layer):
    return type(layer).__name__.startswith("Depthwise")


def _set_bn(torch, module, layer):
    gamma, beta, mean, var = layer.get_weights()
    module.weight.data, module.bias.data = torch.from_numpy(gamma), torch.from_numpy(beta)
    module.running_mean.data, module.running_var.data = (torch.from_numpy(mean),
                                                         torch.from_numpy(var))
    module.eps = layer.epsilon


def _randomize(model, seed):
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        weights = layer.get_weights()
        if type(layer).__name__ == "BatchNormalization":
            n = weights[0].shape[0]
            layer.set_weights([rng.uniform(0.5, 1.5, n).astype(np.float32),
                               rng.uniform(-0.2, 0.2, n).astype(np.float32),
                               rng.uniform(-0.2, 0.2, n).astype(np.float32),
                               rng.uniform(0.5, 2.0, n).astype(np.float32)])
        elif weights:
            fan_in = int(np.prod(weights[0].shape[:-1]))
            layer.set_weights([(rng.standard_normal(w.shape) / np.sqrt(fan_in)).astype(np.float32)
                               for w in weights])


# ------------------------------------------------------------------ ResNet-style classifier


def resnet(batch):
    """``(cthulhu model, torch module, x)``."""
    import torch
    from torch import nn

    from cthulhu import layers as L
    from cthulhu.models import Lump

    convs, bns = [], []

    def conv(filters, k, s=1):
        layer = L.Cthalpa2D(filters, k, strides=s, padding="same", use_bias=False)
        convs.append(layer)
        return layer

    def bn():
        layer = L.BatchNormalization(epsilon=1e-5)
        bns.append(layer)
        return layer

    def block(t, filters, stride):
        y = L.ReLU()(bn()(conv(filters, 3, stride)(t)))
        y = bn()(conv(filters, 3)(y))
        short = t if stride == 1 else bn()(conv(filters, 1, stride)(t))
        return L.ReLU()(L.Add()([y, short]))

    x_in = L.Input(shape=(32, 32, 3))
    t = L.ReLU()(bn()(conv(16, 3)(x_in)))
    for filters, stride in ((16, 1), (32, 2), (64, 2)):
        t = block(t, filters, stride)
    t = L.GlobalAveragePooling2D()(t)
    dense = L.Daoloth(10, activation="softmax")
    model = Lump(x_in, dense(t))
    _randomize(model, 0)

    class Conv(nn.Module):
        """TensorFlow's 'same': for stride 2 on an even size the extra zero goes after."""

        def __init__(self, layer):
            super().__init__()
            w = layer.get_weights()[0]
            k, s = w.shape[0], layer.strides[0]
            self.pad = (0, 1, 0, 1) if s == 2 and k == 3 else None
            self.conv = nn.Conv2d(w.shape[2], w.shape[3], k, s,
                                  padding=0 if s == 2 else k // 2, bias=False)
            _set_conv(torch, self.conv, layer)

        def forward(self, x):
            return self.conv(x if self.pad is None else nn.functional.pad(x, self.pad))

    def tbn(layer):
        module = nn.BatchNorm2d(layer.get_weights()[0].shape[0])
        _set_bn(torch, module, layer)
        return module

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            c, b = iter(convs), iter(bns)
            self.stem = nn.Sequential(Conv(next(c)), tbn(next(b)), nn.ReLU())
            self.blocks = nn.ModuleList()
            for stride in (1, 2, 2):
                parts = nn.ModuleDict({"c1": Conv(next(c)), "b1": tbn(next(b)),
                                       "c2": Conv(next(c)), "b2": tbn(next(b))})
                if stride != 1:
                    parts["cs"], parts["bs"] = Conv(next(c)), tbn(next(b))
                self.blocks.append(parts)
            self.fc = nn.Linear(64, 10)
            kernel, bias = dense.get_weights()
            self.fc.weight.data = torch.from_numpy(np.ascontiguousarray(kernel.T))
            self.fc.bias.data = torch.from_numpy(bias)

        def forward(self, x):
            x = self.stem(x)
            for p in self.blocks:
                y = p["b2"](p["c2"](torch.relu(p["b1"](p["c1"](x)))))
                short = p["bs"](p["cs"](x)) if "cs" in p else x
                x = torch.relu(y + short)
            return torch.softmax(self.fc(x.mean(dim=(2, 3))), dim=1)

    x = np.random.default_rng(1).standard_normal((batch, 32, 32, 3), dtype=np.float32)
    return model, Net().eval(), x


# ------------------------------------------------------------------ MobileNet-style block


def mobilenet(batch):
    import torch
    from torch import nn

    from cthulhu import layers as L
    from cthulhu.models import Lump

    x_in = L.Input(shape=(56, 56, 24))
    expand = L.Cthalpa2D(144, 1, use_bias=False)
    depthwise = L.DepthwiseCthalpa2D(3, padding="same", use_bias=False)
    project = L.Cthalpa2D(24, 1, use_bias=False)
    bns = [L.BatchNormalization(epsilon=1e-5) for _ in range(3)]
    t = L.ReLU(6.0)(bns[0](expand(x_in)))
    t = L.ReLU(6.0)(bns[1](depthwise(t)))
    t = bns[2](project(t))
    model = Lump(x_in, L.Add()([t, x_in]))
    _randomize(model, 2)

    def tbn(layer):
        module = nn.BatchNorm2d(layer.get_weights()[0].shape[0])
        _set_bn(torch, module, layer)
        return module

    c1 = nn.Conv2d(24, 144, 1, bias=False)
    dw = nn.Conv2d(144, 144, 3, padding=1, groups=144, bias=False)
    c2 = nn.Conv2d(144, 24, 1, bias=False)
    for module, layer in ((c1, expand), (dw, depthwise), (c2, project)):
        _set_conv(torch, module, layer)
    body = nn.Sequential(c1, tbn(bns[0]), nn.ReLU6(), dw, tbn(bns[1]), nn.ReLU6(), c2,
                         tbn(bns[2]))

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = body

        def forward(self, x):
            return self.body(x) + x

    x = np.random.default_rng(3).standard_normal((batch, 56, 56, 24), dtype=np.float32)
    return model, Block().eval(), x


# ------------------------------------------------------------------ 3D U-Net


def unet3d(batch, size=128):
    """A 3D U-Net on a ``size``^3 one-channel volume: two levels down (conv-BN-ReLU,
    2x2x2 max pooling) of 8 and 16 filters, a 32-filter bottom, two levels up
    (2x2x2 stride-2 transposed convolution, ``Concatenate`` with the skip,
    conv-BN-ReLU), a 1x1x1 sigmoid head. ``batch`` volumes (the issue: one 128^3)."""
    import torch
    from torch import nn

    from cthulhu import layers as L
    from cthulhu.models import Lump

    pairs = []  # (cthulhu conv, cthulhu bn) in build order

    def cbr(t, filters):
        conv = L.Cthalpa3D(filters, 3, padding="same", use_bias=False)
        bn = L.BatchNormalization(epsilon=1e-5)
        pairs.append((conv, bn))
        return L.ReLU()(bn(conv(t)))

    x_in = L.Input(shape=(size, size, size, 1))
    e1 = cbr(x_in, 8)
    e2 = cbr(L.MaxPooling3D(2)(e1), 16)
    bottom = cbr(L.MaxPooling3D(2)(e2), 32)
    up2 = L.Cthalpa3DTranspose(16, 2, strides=2)
    d2 = cbr(L.Concatenate()([up2(bottom), e2]), 16)
    up1 = L.Cthalpa3DTranspose(8, 2, strides=2)
    d1 = cbr(L.Concatenate()([up1(d2), e1]), 8)
    head = L.Cthalpa3D(1, 1, activation="sigmoid")
    model = Lump(x_in, head(d1))
    _randomize(model, 4)

    def tcbr(conv, bn):
        w = conv.get_weights()[0]
        module = nn.Conv3d(w.shape[3], w.shape[4], 3, padding=1, bias=False)
        _set_conv(torch, module, conv)
        norm = nn.BatchNorm3d(w.shape[4])
        _set_bn(torch, norm, bn)
        return nn.Sequential(module, norm, nn.ReLU())

    def tup(layer):
        kernel, bias = layer.get_weights()  # Keras: (*k, filters, in)
        module = nn.ConvTranspose3d(kernel.shape[4], kernel.shape[3], 2, stride=2)
        module.weight.data = torch.from_numpy(
            np.ascontiguousarray(np.transpose(kernel, (4, 3, 0, 1, 2))))
        module.bias.data = torch.from_numpy(bias)
        return module

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.e1, self.e2, self.bottom, self.d2, self.d1 = (tcbr(*p) for p in pairs)
            self.up2, self.up1 = tup(up2), tup(up1)
            self.pool = nn.MaxPool3d(2)
            self.head = nn.Conv3d(8, 1, 1)
            _set_conv(torch, self.head, head)

        def forward(self, x):
            e1 = self.e1(x)
            e2 = self.e2(self.pool(e1))
            b = self.bottom(self.pool(e2))
            d2 = self.d2(torch.cat([self.up2(b), e2], dim=1))
            d1 = self.d1(torch.cat([self.up1(d2), e1], dim=1))
            return torch.sigmoid(self.head(d1))

    x = np.random.default_rng(5).standard_normal((batch, size, size, size, 1),
                                                   dtype=np.float32)
    return model, Net().eval(), x


MODELS = {"resnet": resnet, "mobilenet": mobilenet, "unet3d": unet3d}
BATCH = {"unet3d": 1}  # one 128^3 volume, whatever --batch says


def check(model, net, x):
    """Max |cthulhu - torch| relative to the output's scale (raises past 1e-3)."""
    import torch

    from cthulhu.engine import fusion

    with torch.inference_mode():
        theirs = net(torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))).numpy()
    if theirs.ndim >= 4:
        theirs = np.moveaxis(theirs, 1, -1)
    ours = np.asarray(model(x))
    with fusion.folding(False):
        plain = np.asarray(model(x))
    scale = max(1.0, float(np.abs(theirs).max()))
    err = max(float(np.abs(ours - theirs).max()), float(np.abs(plain - theirs).max())) / scale
    if err > 1e-3:
        raise AssertionError(f"cthulhu and torch differ by {err:.2e} (relative)")
    return err


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_models",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--runs", type=int, default=int(os.environ.get("CTHULHU_BENCH_RUNS", 15)))
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--only", default="", help="comma-separated model names")
    args = parser.parse_args([] if argv is None else argv)

    import threadpoolctl
    import torch

    from cthulhu.devices.numpy_ import _native, threads
    from cthulhu.engine import fusion

    _steady_allocator()
    command = shlex.join([os.path.basename(sys.executable), "-m", "benchmarks.bench_models",
                          *(sys.argv[1:] if argv is None else argv)])
    print(f"# command: {command}")
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"{args.threads} threads; NumPy {np.__version__}, torch {torch.__version__}; "
          f"native: {_native.describe()}")
    print(f"# batch {args.batch} (unet3d: 1), best of {args.runs} rounds (alternating libraries); ms per "
          "call; ratio = cthulhu / torch (lower is better)")
    wanted = [w for w in args.only.split(",") if w] or list(MODELS)
    torch.set_num_threads(args.threads)
    print(f"{'model':12s} {'max rel err':>11s} {'folded':>9s} {'unfolded':>9s} {'torch':>9s} "
          f"{'ratio':>6s} {'unf. ratio':>10s}")
    with threadpoolctl.ThreadpoolController().limit(limits=args.threads, user_api="blas"), \
            threads.limit(args.threads), torch.inference_mode():
        for name in wanted:
            model, net, x = MODELS[name](BATCH.get(name, args.batch))
            err = check(model, net, x)
            tx = torch.from_numpy(np.ascontiguousarray(np.moveaxis(x, -1, 1)))

            def ours(model=model, x=x):
                return model(x)

            def plain(model=model, x=x):
                with fusion.folding(False):
                    return model(x)

            def theirs(net=net, tx=tx):
                return net(tx)

            ours_s, theirs_s = _best(ours, args.runs, (_inner(ours), _inner(theirs)), theirs)
            plain_s, theirs2_s = _best(plain, args.runs, (_inner(plain), _inner(theirs)),
                                       theirs)
            t = min(theirs_s, theirs2_s)
            print(f"{name:12s} {err:11.1e} {ours_s * 1e3:9.3f} {plain_s * 1e3:9.3f} "
                  f"{t * 1e3:9.3f} {ours_s / t:6.2f} {plain_s / t:10.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
