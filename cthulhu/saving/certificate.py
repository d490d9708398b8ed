"""The certificate: a test vector stored with a model, re-run when the model is loaded.

When cthulhu saves or converts a model it runs it once on a small input (NumPy) and
stores that input and the outputs beside the weights: entries ``certificate/*.npy`` and
a ``"certificate"`` block in a cthulhu file (format version 3), ``cthulhu/*`` entries in
a ``.keras`` zip, a ``cthulhu_certificate`` group in an ``.h5`` (Keras ignores both).
``load_model(path, verify=True)`` (and ``cthulhu convert``) runs the loaded model on the
stored input, on the device asked for, and refuses it when an output differs by more
than the tolerance of its dtype (:data:`TOLERANCE`): a file whose weights were damaged,
a layer whose meaning changed between versions, a device that computes wrongly.

The tolerance is ``|got - expected| <= atol * max(1, max|expected|) + rtol * |expected|``
elementwise, per output dtype:

========  ========  ========
dtype     rtol      atol
========  ========  ========
float64   1e-10     1e-12
float32   1e-4      1e-5
float16   5e-3      5e-3
========  ========  ========

float32 allows for another summation order (a GPU, a BLAS, a block-wise Dask run),
about a hundred float32 rounding steps on the largest output value.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging

import numpy as np

__all__ = ["Certificate", "TOLERANCE", "make", "check", "to_entries", "from_entries",
           "attach", "attached", "CertificateError", "FORMAT", "VERSION"]

log = logging.getLogger(__name__)

FORMAT = "cthulhu-certificate"
VERSION = 1
TOLERANCE = {"float64": (1e-10, 1e-12), "float32": (1e-4, 1e-5), "float16": (5e-3, 5e-3)}
#: inputs plus outputs beyond this are not stored (a model with huge fixed input shapes)
MAX_BYTES = 64 << 20
# sizes tried for axes a model leaves unknown: a U-Net needs multiples of its strides
_SIZES = (16, 32, 8, 64)
_ATTRIBUTE = "_cthulhu_certificate"


class CertificateError(ValueError):
    """A model that does not reproduce its certificate (or a certificate that is malformed)."""


@dataclasses.dataclass(frozen=True)
class Certificate:
    """Inputs and the outputs cthulhu computed from them, and where."""

    inputs: tuple
    outputs: tuple
    computed_on: str = "numpy"
    written_by: str = ""

    def meta(self):
        return {"format": FORMAT, "version": VERSION, "computed_on": self.computed_on,
                "written_by": self.written_by,
                "inputs": [_describe(a) for a in self.inputs],
                "outputs": [_describe(a) for a in self.outputs],
                "tolerance": {k: {"rtol": r, "atol": a} for k, (r, a) in TOLERANCE.items()}}


def _describe(array):
    return {"shape": list(array.shape), "dtype": array.dtype.str}


def attach(model, certificate):
    """Remember ``certificate`` on ``model`` (what a loader found in the file)."""
    setattr(model, _ATTRIBUTE, certificate)


def attached(model):
    """The certificate the file ``model`` was loaded from carried, or None."""
    return getattr(model, _ATTRIBUTE, None)


# ---------------------------------------------------------------------------
# Making
# ---------------------------------------------------------------------------

def make(model, inputs=None, seed=0):
    """Run ``model`` (NumPy) on ``inputs`` (default: seeded random ones of its input
    shapes) and return the :class:`Certificate`, or None when no input fits (a model
    whose shapes cthulhu cannot guess, or whose test vector would exceed ``MAX_BYTES``)."""
    from cthulhu import __version__

    candidates = [inputs] if inputs is not None else _generated(model, seed)
    for xs in candidates:
        arrays = [np.ascontiguousarray(np.asarray(x)) for x in
                  (xs if isinstance(xs, (list, tuple)) else [xs])]
        if sum(a.nbytes for a in arrays) > MAX_BYTES:
            continue
        try:
            y = model.predict(arrays if len(arrays) > 1 else arrays[0])
        except (ValueError, TypeError) as exc:
            if inputs is not None:
                raise
            log.debug("certificate: input shapes %s do not fit: %s",
                      [a.shape for a in arrays], exc)
            continue
        outputs = [np.ascontiguousarray(np.asarray(o)) for o in
                   (y if isinstance(y, (list, tuple)) else [y])]
        if sum(a.nbytes for a in arrays + outputs) > MAX_BYTES:
            continue
        return Certificate(tuple(arrays), tuple(outputs), "numpy", f"cthulhu {__version__}")
    log.info("%s: no certificate recorded (no test input fits)", model.name)
    return None


def _input_specs(model):
    """``[(shape, dtype)]`` of the model's inputs (shapes with the batch axis)."""
    from cthulhu.engine.input_layer import InputLayer

    shapes = model.input_shape
    if getattr(model, "inputs", None) is not None and hasattr(model, "_inputs"):
        return [(tuple(t.shape), t.layer.dtype) for t in model.inputs]
    first = model._stack[0] if getattr(model, "_stack", None) else None
    dtype = first.dtype if isinstance(first, InputLayer) else "float32"
    return [(tuple(shapes), dtype)]


def _generated(model, seed):
    try:
        specs = _input_specs(model)
    except AttributeError:
        return
    bound = _token_bound(model)
    for size in _SIZES:
        rng = np.random.default_rng(seed)
        xs = []
        for shape, dtype in specs:
            concrete = tuple(2 if i == 0 and d is None else (size if d is None else d)
                             for i, d in enumerate(shape))
            dtype = np.dtype(dtype)
            if dtype.kind in "iu":
                xs.append(rng.integers(0, bound, size=concrete).astype(dtype))
            elif dtype.kind == "b":
                xs.append(rng.integers(0, 2, size=concrete).astype(bool))
            else:
                xs.append(rng.standard_normal(concrete).astype(dtype))
        yield xs
        if not any(d is None for shape, _ in specs for d in shape[1:]):
            return  # nothing to vary


def _token_bound(model):
    """Integer inputs are token ids: below the smallest embedding's ``input_dim``."""
    from cthulhu.engine.network import Model

    bounds = []

    def walk(m):
        for layer in m.layers:
            if isinstance(layer, Model):
                walk(layer)
            elif type(layer).__name__ == "TheHydra":
                bounds.append(int(layer.input_dim))

    walk(model)
    return max(1, min(bounds)) if bounds else 2


# ---------------------------------------------------------------------------
# Checking
# ---------------------------------------------------------------------------

def check(model, certificate, device="numpy"):
    """Run ``model`` on the certificate's inputs on ``device`` (``'numpy'``, or any array
    library cthulhu runs on: ``'array_api_strict'``, ``'dask'``, ``'cupy'``, ...) and
    compare with its outputs. Returns a one-line report; raises
    :class:`CertificateError` when an output differs beyond :data:`TOLERANCE`."""
    from cthulhu.engine.utils import to_numpy

    xs = [_on_device(x, device) for x in certificate.inputs]
    y = model.predict(xs if len(xs) > 1 else xs[0])
    ys = y if isinstance(y, (list, tuple)) else [y]
    if len(ys) != len(certificate.outputs):
        raise CertificateError(f"certificate check on {device}: the model gives {len(ys)} "
                               f"outputs, the certificate {len(certificate.outputs)}")
    worst = 0.0
    for i, (got, want) in enumerate(zip(ys, certificate.outputs, strict=True)):
        got = np.asarray(to_numpy(got))
        if got.shape != want.shape:
            raise CertificateError(f"certificate check on {device}: output {i} has shape "
                                   f"{got.shape}, the certificate {want.shape}")
        rtol, atol = TOLERANCE.get(want.dtype.name, TOLERANCE["float32"])
        want64 = want.astype(np.float64)
        scale = max(1.0, float(np.max(np.abs(want64)))) if want.size else 1.0
        error = np.abs(got.astype(np.float64) - want64)
        allowed = atol * scale + rtol * np.abs(want64)
        bad = ~((error <= allowed) | (np.isnan(error) & np.isnan(want64)))
        if np.any(bad):
            where = np.unravel_index(int(np.argmax(np.where(bad, error, -1))), error.shape)
            raise CertificateError(
                f"certificate check failed on {device}: output {i} differs by "
                f"{float(error[where]):.3g} at {tuple(int(j) for j in where)} (expected "
                f"{float(want64[where]):.6g}, got {float(got[where]):.6g}; {want.dtype.name} "
                f"tolerance rtol={rtol:g}, atol={atol:g} x {scale:.3g})")
        if want.size:
            worst = max(worst, float(np.max(error / np.maximum(allowed, 1e-300))))
    return (f"certificate check passed on {device}: {len(ys)} output(s) of the stored test "
            f"vector reproduced (largest error {worst:.2g} of the tolerance)")


def _on_device(x, device):
    if device in (None, "numpy"):
        return x
    if device == "array_api_strict":
        import array_api_strict

        return array_api_strict.asarray(x)
    if device in ("dask", "dask.array"):
        import dask.array as da

        return da.from_array(x, chunks=x.shape)
    if device == "cupy":
        import cupy

        return cupy.asarray(x)
    if device == "torch":
        import torch

        return torch.asarray(x)
    raise ValueError(f"certificate check: unknown device {device!r}; use numpy, "
                     "array_api_strict, dask, cupy or torch")


# ---------------------------------------------------------------------------
# Storing
# ---------------------------------------------------------------------------

def to_entries(certificate):
    """``{"certificate.json": bytes, "input_0.npy": bytes, ..., "output_0.npy": ...}``."""
    entries = {"certificate.json": json.dumps(certificate.meta()).encode()}
    for kind, arrays in (("input", certificate.inputs), ("output", certificate.outputs)):
        for i, array in enumerate(arrays):
            buffer = io.BytesIO()
            np.save(buffer, np.ascontiguousarray(array), allow_pickle=False)
            entries[f"{kind}_{i}.npy"] = buffer.getvalue()
    return entries


def read_zip(source, meta, prefix):
    """The certificate of an open :class:`cthulhu.saving.model_file.ModelFile`: ``meta`` its
    JSON block, its arrays the entries ``<prefix>input_<i>.npy``, ..., each read within
    the shape and dtype the block declares (checked against the entry's size first)."""
    from cthulhu.saving.model_file import check_weight_dtype

    where = source.path
    arrays = {}
    for kind in ("input", "output"):
        declared = meta.get(f"{kind}s") if isinstance(meta, dict) else None
        for i, spec in enumerate(declared if isinstance(declared, list) else []):
            entry = f"{prefix}{kind}_{i}.npy"
            try:
                shape = tuple(int(d) for d in spec["shape"])
                dtype = check_weight_dtype(spec["dtype"], f"{where}: {entry}")
            except (KeyError, TypeError, ValueError):
                raise CertificateError(f"{where}: certificate {kind} {i} declares "
                                       f"{str(spec)[:100]}") from None
            nbytes = int(np.prod(shape, dtype=object)) * dtype.itemsize
            if any(d < 0 for d in shape) or nbytes > min(source.capacity(entry), MAX_BYTES):
                raise CertificateError(f"{where}: certificate entry {entry!r} declares shape "
                                       f"{shape} {dtype}, more than it holds")
            target = np.empty(shape, dtype.newbyteorder("="))
            source.read_array_into(entry, target)
            arrays[f"{kind}_{i}"] = target.astype(dtype, copy=False)
    return from_entries(meta, arrays, where)


def from_entries(meta, arrays, where):
    """A :class:`Certificate` from its JSON block and ``{"input_0": array, ...}``, each
    array checked against the shape and dtype the block declares."""
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CertificateError(f"{where}: the certificate is not a {FORMAT} block")
    if meta.get("version") != VERSION:
        raise CertificateError(f"{where}: certificate version {meta.get('version')!r}; this "
                               f"cthulhu reads version {VERSION}")
    out = {}
    for kind in ("input", "output"):
        declared = meta.get(f"{kind}s")
        if not isinstance(declared, list) or not declared:
            raise CertificateError(f"{where}: the certificate declares no {kind}s")
        values = []
        for i, spec in enumerate(declared):
            array = arrays.get(f"{kind}_{i}")
            if array is None:
                raise CertificateError(f"{where}: certificate {kind} {i} is missing")
            if not isinstance(spec, dict) or list(array.shape) != spec.get("shape") or \
                    array.dtype.str != spec.get("dtype"):
                raise CertificateError(f"{where}: certificate {kind} {i} is not the declared "
                                       f"{spec}")
            values.append(array)
        out[kind] = tuple(values)
    return Certificate(out["input"], out["output"], str(meta.get("computed_on", "")),
                       str(meta.get("written_by", "")))
