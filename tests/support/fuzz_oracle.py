"""The fuzzer's oracle: what a layer may do with an input, on every device.

A case is a layer class, constructor arguments and an input. It passes when

* construction raises ``ValueError``/``TypeError`` whose message names the
  layer's class, or succeeds; and then, on NumPy, array-api-strict and Dask
  (odd chunks; nothing computed while the layer is called),
* the call raises ``ValueError``/``TypeError`` naming the layer (class and
  name) - for Dask either when called or when computed - or returns a result
  of the input's library whose shape is ``compute_output_shape`` of the input
  shape and whose dtype follows the dtype rule below;
* the devices agree: all refuse, or all succeed with the same numbers
  (``training=True`` draws random masks: then only shapes and dtypes count).

Dtype rule: a floating input gives results of its floating type (native byte
order); other inputs of layers that only move values (cropping, padding,
reshaping, masking) keep their dtype; ``TheHydra`` gives its table's dtype for
integer indices.
"""

from __future__ import annotations

import math
import traceback

import numpy as np

from cthulhu import layers as L
from cthulhu.engine.input_layer import Input
from cthulhu.models import Lump, Pile

try:
    import array_api_strict
except ImportError:  # the fuzzer still runs NumPy and Dask
    array_api_strict = None
try:
    import dask
    import dask.array as da
    from dask.callbacks import Callback
except ImportError:
    dask = da = Callback = None

CLEAN = (ValueError, TypeError)
_STRICT_ARRAY = type(array_api_strict.asarray(0.0)) if array_api_strict is not None else None
TOLERANCE = {2: 2e-2, 4: 2e-4, 8: 1e-9}
BUDGET = 2_000_000  # output elements per case


class FuzzFailure(AssertionError):
    """A case that broke the contract; the message says which rule and where."""


def _describe(case):
    cls, args, kwargs, x = case["cls"], case["args"], case["kwargs"], case["x"]
    first = x[0] if case["kind"] in ("arrays", "merge") else x
    shape = getattr(first, "shape", None)
    dtype = getattr(first, "dtype", type(x).__name__)
    return (f"{cls.__name__}(*{args!r}, **{kwargs!r}) on {case['kind']} shape={shape} "
            f"dtype={dtype} chunks={case.get('chunks')} training={case.get('training')}")


def _fail(case, message, exc=None):
    detail = ""
    if exc is not None:
        detail = "\n" + "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    raise FuzzFailure(f"{message}\n  case: {_describe(case)}{detail}")


def _check_clean(case, exc, layer, where):
    """``exc`` must be a ValueError/TypeError naming the layer (its class, and its name once known)."""
    cls = case["cls"]
    message = str(exc)
    if not isinstance(exc, CLEAN):
        _fail(case, f"{where}: raised {type(exc).__name__}, not ValueError/TypeError", exc)
    if cls.__name__ not in message:
        _fail(case, f"{where}: the message does not name the layer class {cls.__name__}: "
                    f"{message!r}", exc)
    if layer is not None and layer.name not in message:
        _fail(case, f"{where}: the message does not name the layer {layer.name!r}: "
                    f"{message!r}", exc)


def construct(case):
    """The layer, or ``None`` after a clean construction error."""
    cls = case["cls"]
    try:
        return cls(*case["args"], **case["kwargs"])
    except Exception as exc:  # the oracle judges every exception
        _check_clean(case, exc, None, "construction")
        return None


class _Computes(Callback if Callback is not None else object):
    """Counts Dask graph executions while active."""

    def __init__(self):
        super().__init__()
        self.count = 0

    def _start(self, dsk):
        self.count += 1


def _as_list(y):
    return list(y) if isinstance(y, (list, tuple)) else [y]


def _expected_shapes(layer, shape):
    out = layer.compute_output_shape(shape)
    if isinstance(out, list):
        return [tuple(s) for s in out]
    return [tuple(out)]


def _shape_of(x):
    """The input shape, or the list of input shapes of a merge layer's list of arrays."""
    if isinstance(x, (list, tuple)):
        return [tuple(a.shape) for a in x]
    return tuple(x.shape)


def _first(x):
    return x[0] if isinstance(x, (list, tuple)) else x


def _native(dtype):
    return np.dtype(dtype).newbyteorder("=")


def _expected_dtype(case, layer, x_dtype):
    x_dtype = np.dtype(x_dtype)
    if x_dtype.kind == "f":
        return _native(x_dtype)
    if case["cls"] is L.TheHydra:
        return np.dtype(layer.dtype)
    return _native(x_dtype)


def _to_numpy(y):
    if isinstance(y, np.ndarray):
        return y
    return np.from_dlpack(y)


def _run_device(case, layer, device, x):
    """``("ok", [numpy results])`` or ``("error", exc)`` for one device."""
    training = case.get("training", False)
    if hasattr(layer, "reset_states"):
        layer.reset_states()
    where = f"{device} call"
    counter = _Computes() if device == "dask" else None
    try:
        if counter is not None:
            with counter:
                y = layer(x, training=training)
            if counter.count:
                _fail(case, f"dask: calling the layer computed the graph {counter.count} times")
        else:
            y = layer(x, training=training)
    except FuzzFailure:
        raise
    except Exception as exc:  # judged below
        _check_clean(case, exc, layer, where)
        return "error", exc
    outs = _as_list(y)
    try:
        expected = _expected_shapes(layer, _shape_of(x))
    except Exception as exc:  # judged below
        _fail(case, f"{device}: the call succeeded but compute_output_shape raised", exc)
    if len(expected) != len(outs):
        _fail(case, f"{device}: {len(outs)} outputs, compute_output_shape says {len(expected)}")
    results = []
    for out, shape in zip(outs, expected, strict=True):
        if tuple(out.shape) != shape:
            _fail(case, f"{device}: output shape {tuple(out.shape)} != compute_output_shape "
                        f"{shape}")
        if device == "dask":
            if not isinstance(out, da.Array):
                _fail(case, f"dask: the result is a {type(out).__name__}, not a Dask array")
            declared = out.dtype
            try:
                out = out.compute(scheduler="sync")
            except FuzzFailure:
                raise
            except Exception as exc:  # judged below
                _check_clean(case, exc, layer, "dask compute")
                return "error", exc
            if np.dtype(out.dtype) != np.dtype(declared):
                _fail(case, f"dask: the graph declares dtype {declared} but computes "
                            f"{out.dtype}")
        elif device == "numpy" and not isinstance(out, np.ndarray):
            _fail(case, f"numpy: the result is a {type(out).__name__}, not a NumPy array")
        elif device == "strict" and type(out) is not _STRICT_ARRAY:
            _fail(case, f"strict: the result is a {type(out).__name__}, not array-api-strict")
        host = _to_numpy(out)
        want = _expected_dtype(case, layer, _first(case["x"]).dtype)
        if _native(host.dtype) != want or (device != "strict" and host.dtype != want):
            _fail(case, f"{device}: result dtype {host.dtype}, expected {want}")
        results.append(host)
    return "ok", results


def _close(case, device, got, ref):
    if case.get("training"):
        return
    for g, r in zip(got, ref, strict=True):
        if g.dtype.kind not in "fc":
            if not np.array_equal(g, r):
                _fail(case, f"{device} disagrees with numpy (exact dtype {g.dtype})")
            continue
        finite = np.abs(r[np.isfinite(r)]) if r.size else np.zeros(1)
        scale = 1.0 + (float(finite.max()) if finite.size else 0.0)
        tol = TOLERANCE.get(np.dtype(g.dtype).itemsize // (2 if g.dtype.kind == "c" else 1),
                            1e-6)
        same_nan = np.array_equal(np.isnan(g), np.isnan(r))
        both = np.isfinite(g) & np.isfinite(r)
        if not same_nan or not np.array_equal(np.isinf(g), np.isinf(r)) or (
                both.any() and np.abs(g[both] - r[both]).max() > tol * scale):
            worst = np.abs(g[both] - r[both]).max() if both.any() else "nan/inf pattern"
            _fail(case, f"{device} disagrees with numpy: max difference {worst} "
                        f"(tolerance {tol * scale})")


def _too_big(layer, x):
    """Whether the promised output exceeds the fuzzer's budget (then only shapes are checked)."""
    try:
        shapes = _expected_shapes(layer, _shape_of(x))
    except Exception:  # the call itself will show how the layer refuses it
        return False
    return sum(math.prod(s) for s in shapes if all(isinstance(n, int) for n in s)) > BUDGET


def devices_for(x):
    """The devices an input can be given to (array-api-strict takes native standard dtypes)."""
    out = ["numpy"]
    if da is not None:
        out.append("dask")
    if array_api_strict is not None:
        try:
            for a in (x if isinstance(x, list) else [x]):
                array_api_strict.asarray(a)
            out.append("strict")
        except (TypeError, ValueError):
            pass
    return out


def convert(device, x, chunks):
    if isinstance(x, list):  # a merge layer's inputs, one chunking each
        return [convert(device, a, c) for a, c in zip(x, chunks, strict=True)]
    if device == "dask":
        return da.from_array(x, chunks=chunks)
    if device == "strict":
        return array_api_strict.asarray(x)
    return x


def _check_array_list(case, layer, xs):
    """A list of arrays: refused cleanly, or (``LuKthu``) results of the promised shapes."""
    try:
        y = layer(xs)
    except Exception as exc:  # judged below
        _check_clean(case, exc, layer, "list-of-arrays call")
        return "refused a list of arrays"
    try:
        expected = _expected_shapes(layer, [tuple(t.shape) for t in xs])
    except Exception as exc:  # judged below
        _fail(case, "a list of arrays was taken but compute_output_shape refuses it", exc)
    got = [tuple(t.shape) for t in _as_list(y)]
    if got != expected:
        _fail(case, f"list of arrays: output shapes {got} != compute_output_shape {expected}")
    return "ok"


def _check_model_refuses(case, layer, x):
    """A model given a Python value refuses it at its input, naming the model."""
    model = Pile([layer])
    try:
        model.predict(x)
    except Exception as exc:  # judged below
        if not isinstance(exc, CLEAN) or model.name not in str(exc):
            _fail(case, f"Pile.predict on a Python {case['kind']}: {type(exc).__name__} not "
                        f"naming the model {model.name!r}: {exc}", exc)
        return
    _fail(case, f"Pile.predict accepted a Python {case['kind']}")


def _check_models(case, layer, x, ref):
    """The layer inside a Pile (predicted in batches of 2) and a Lump gives its own result.

    Stateful layers carry states across batches, so they are run in one batch.
    """
    if getattr(layer, "stateful", False) or any(a.ndim == 0 for a in _as_list(x)):
        return
    if isinstance(x, list):  # a merge layer: a Lump of several inputs
        inp = [Input(batch_shape=(None, *a.shape[1:])) for a in x]
    else:
        inp = Input(batch_shape=(None, *x.shape[1:]))
    try:
        out = layer(inp)
    except Exception as exc:  # judged below
        _fail(case, "the layer took the array but not an Input of its shape", exc)
    if isinstance(x, list):
        runs = [(Lump(inp, out), x)]
    else:
        runs = [(Pile([layer]), x), (Lump(inp, out), x)]
    if da is not None and not isinstance(x, list):
        # on Dask, predict runs the model fused, block by block (a spatial layer's valid copy)
        runs.append((Pile([layer]), da.from_array(x, chunks=case["chunks"])))
    for model, given in runs:
        if hasattr(layer, "reset_states"):
            layer.reset_states()
        where = f"{type(model).__name__}.predict on {type(given).__module__.split('.')[0]}"
        try:
            y = model.predict(given, batch_size=2)
            if da is not None and isinstance(y, da.Array):
                y = y.compute(scheduler="sync")
        except Exception as exc:  # judged below
            _fail(case, f"{where} failed where the layer succeeded", exc)
        _close(case, where, [np.asarray(y)], ref)


def check_case(case):
    """Run one case through the oracle; raises :class:`FuzzFailure` on a broken rule."""
    layer = construct(case)
    if layer is None:
        return "refused at construction"
    x = case["x"]
    if case["kind"] == "arrays":
        return _check_array_list(case, layer, x)
    if case["kind"] not in ("array", "merge"):
        try:
            layer(x)
        except Exception as exc:  # judged below
            _check_clean(case, exc, layer, f"{case['kind']} input")
        else:
            _fail(case, f"a Python {case['kind']} input was accepted")
        _check_model_refuses(case, layer, x)
        return "refused a non-array"
    if _too_big(layer, x):
        return "output too large to compute here"
    outcomes = {}
    for device in devices_for(x):
        outcomes[device] = _run_device(case, layer, device, convert(device, x, case["chunks"]))
    ref_kind, ref = outcomes["numpy"]
    for device, (kind, value) in outcomes.items():
        if kind != ref_kind:
            shown = value if kind == "error" else ref
            _fail(case, f"devices disagree: numpy {ref_kind}, {device} {kind}: {shown!r}")
        if kind == "ok" and device != "numpy":
            _close(case, device, value, ref)
    if ref_kind == "ok" and len(ref) == 1 and not case.get("training"):
        _check_models(case, layer, x, ref)
    return ref_kind
