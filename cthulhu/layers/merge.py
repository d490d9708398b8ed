"""Merge layers (Keras 2): ``Add``, ``Subtract``, ``Multiply``, ``Average``, ``Maximum``,
``Minimum``, ``Concatenate`` and ``Dot``, and their functional forms ``add``,
``subtract``, ``multiply``, ``average``, ``maximum``, ``minimum``, ``concatenate``, ``dot``.

Each is called on a *list* of arrays of one library. Shapes follow Keras 2
(the ``merge``, ``concatenate`` and ``dot`` kinds of :mod:`cthulhu.shapes`,
checked on every call): element-wise merges broadcast (axes aligned at the end,
an input of lower rank gains axes of size 1 after its batch axis, sizes equal
or 1), the batch sizes must agree. The element-wise merges are one array
operation per input; ``Concatenate`` is one ``concat``; ``Dot`` one batched
``matmul`` (Keras' ``batch_dot``).
"""

import functools
import math

from cthulhu import shapes
from cthulhu.engine.base_layer import Layer
from cthulhu.layers import _args
from cthulhu.layers._common import device_of
from cthulhu.names import register_layer
from cthulhu.ops import eltwise

__all__ = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot"]


class _MergeBase(Layer):
    """A layer of several inputs: checks the list, its library and its shapes on every call."""

    supports_masking = True
    requires_float_input = True
    _kind = None

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._spec = shapes.normalize_spec({"kind": self._kind, **self._spec_args(),
                                            "class_name": type(self).__name__,
                                            "name": self.name})

    def _spec_args(self):
        return {}

    def compute_output_shape(self, input_shape):
        return shapes.get_kind(self._kind).output_shape(self._spec, input_shape, self)

    def shape_spec(self):
        return {"kind": self._kind, **self._spec_args()}

    def _inputs(self, inputs):
        """``(xp, arrays)``; the shapes were checked by ``compute_output_shape``."""
        import array_api_compat

        if not isinstance(inputs, (list, tuple)):
            raise _args.layer_error(self, "a merge layer is called on a list of arrays, got "
                                          f"one array of shape {tuple(inputs.shape)}")
        xs = list(inputs)
        try:
            xp = array_api_compat.array_namespace(*xs)
        except TypeError as exc:
            raise _args.layer_error(self, f"the inputs must be arrays of one library: {exc}",
                                    TypeError) from exc
        # the shape algebra once per new list of shapes (a model calls its merges with
        # the same shapes every batch); a refused list is never remembered
        given = tuple(tuple(x.shape) for x in xs)
        if given != self.__dict__.get("_checked_shapes"):
            self.compute_output_shape(list(given))
            self._checked_shapes = given
        return xp, xs

    def _guarded(self, function, *args, **kwargs):
        """``function(*args, **kwargs)``, a library's own refusal (devices, dtypes) naming
        this layer."""
        try:
            return function(*args, **kwargs)
        except (ValueError, TypeError) as exc:
            raise _args.layer_error(self, f"cannot merge the inputs: {exc}", type(exc)) from exc

    def _check_mask_list(self, inputs, mask):
        if not isinstance(mask, (list, tuple)) or len(mask) != len(inputs):
            raise _args.layer_error(self, "the mask must be a list with one entry per input, got "
                                          f"{type(mask).__name__}")


class _Merge(_MergeBase):
    """An element-wise merge (``op`` of the ``merge`` kind), Keras 2's broadcasting."""

    _kind = "merge"
    _op = None

    def _spec_args(self):
        return {"op": self._op}

    def call(self, inputs):
        xp, aligned = self._aligned(inputs)
        return self._guarded(self._merge, xp, aligned)

    def _aligned(self, inputs):
        """``(xp, arrays)``, Keras 2's alignment: inputs of lower rank gain axes after the
        batch axis (then they broadcast)."""
        xp, xs = self._inputs(inputs)
        ndim = max(x.ndim for x in xs)
        aligned = []
        for x in xs:
            for _ in range(ndim - x.ndim):
                x = xp.expand_dims(x, axis=1)
            aligned.append(x)
        return xp, aligned

    def _merge(self, xp, xs):
        raise NotImplementedError

    def compute_mask(self, x, mask=None):
        if mask is None or (isinstance(mask, (list, tuple)) and all(m is None for m in mask)):
            return None
        self._check_mask_list(x, mask)
        present = [m for m in mask if m is not None]
        xp = _namespace(present[0])
        return functools.reduce(xp.logical_and, present)


def _namespace(x):
    import array_api_compat

    return array_api_compat.array_namespace(x)


def _accumulate(xs, op):
    """``op`` over the inputs in order: one array operation per input after the first."""
    out = op(xs[0], xs[1]) if len(xs) > 1 else xs[0]
    for x in xs[2:]:
        out = op(out, x)
    return out


@register_layer
class Add(_Merge):
    """The sum of the inputs.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Add
    >>> Add()([xp.ones((2, 3)), xp.ones((2, 3))])
    Array([[2., 2., 2.],
           [2., 2., 2.]], dtype=array_api_strict.float64)
    """

    _op = "add"

    def _merge(self, xp, xs):
        return _accumulate(xs, lambda a, b: a + b)

    def takes_activation_epilogue(self):
        # a residual block's Add -> ReLU: a model folds the activation into this call
        # (cthulhu.engine.fusion), one layer call and one array fewer
        return True

    def call_with_epilogue(self, inputs, epilogue):
        if epilogue.bias is not None or epilogue.scale is not None or epilogue.shift is not None:
            raise _args.layer_error(self, "takes an epilogue of an activation alone, got "
                                          f"the parts {epilogue.parts()}")
        _, aligned = self._aligned(inputs)
        # the ops' add: the sum in one fresh array, the activation in place where the
        # device plugin can (NumPy), the same arithmetic as the two layers
        return self._guarded(eltwise.add, aligned, epilogue)


@register_layer
class Subtract(_Merge):
    """The first input minus the second (exactly two inputs).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Subtract
    >>> Subtract()([xp.ones((1, 2)), xp.ones((1, 2))])
    Array([[0., 0.]], dtype=array_api_strict.float64)
    """

    _op = "subtract"

    def _merge(self, xp, xs):
        return xs[0] - xs[1]


@register_layer
class Multiply(_Merge):
    """The element-wise product of the inputs.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Multiply
    >>> Multiply()([xp.full((1, 2), 2.0), xp.full((1, 1), 3.0)])     # broadcast
    Array([[6., 6.]], dtype=array_api_strict.float64)
    """

    _op = "multiply"

    def _merge(self, xp, xs):
        return _accumulate(xs, lambda a, b: a * b)


@register_layer
class Average(_Merge):
    """The mean of the inputs: their sum, divided by their number (as Keras 2).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Average
    >>> Average()([xp.zeros((1, 2)), xp.ones((1, 2))])
    Array([[0.5, 0.5]], dtype=array_api_strict.float64)
    """

    _op = "average"

    def _merge(self, xp, xs):
        return _accumulate(xs, lambda a, b: a + b) / len(xs)


@register_layer
class Maximum(_Merge):
    """The element-wise maximum of the inputs.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Maximum
    >>> Maximum()([xp.asarray([[1.0, 5.0]]), xp.asarray([[3.0, 2.0]])])
    Array([[3., 5.]], dtype=array_api_strict.float64)
    """

    _op = "maximum"

    def _merge(self, xp, xs):
        return _accumulate(xs, xp.maximum)


@register_layer
class Minimum(_Merge):
    """The element-wise minimum of the inputs.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Minimum
    >>> Minimum()([xp.asarray([[1.0, 5.0]]), xp.asarray([[3.0, 2.0]])])
    Array([[1., 2.]], dtype=array_api_strict.float64)
    """

    _op = "minimum"

    def _merge(self, xp, xs):
        return _accumulate(xs, xp.minimum)


@register_layer
class Concatenate(_MergeBase):
    """The inputs joined along ``axis`` (default ``-1``; never the batch axis).

    The inputs must have one rank and agree on every other axis. Any dtype is
    taken (concatenating moves values), as long as the inputs share it or are
    all floating (then they are promoted).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Concatenate
    >>> Concatenate()([xp.ones((2, 3)), xp.zeros((2, 1))]).shape
    (2, 4)
    """

    _kind = "concatenate"
    requires_float_input = False

    def __init__(self, axis=-1, **kwargs):
        self.axis = axis
        super().__init__(**kwargs)
        self.axis = self._spec["axis"]

    def _spec_args(self):
        return {"axis": self.axis}

    def call(self, inputs):
        xp, xs = self._inputs(inputs)
        dtypes = {x.dtype for x in xs}
        if len(dtypes) > 1 and not all(xp.isdtype(d, "real floating") for d in dtypes):
            raise _args.layer_error(self, "the inputs must share one dtype (or all be floating), "
                                          f"got {sorted(str(d) for d in dtypes)}", TypeError)
        return self._guarded(xp.concat, xs, axis=self.axis)

    def compute_mask(self, x, mask=None):
        if mask is None or (isinstance(mask, (list, tuple)) and all(m is None for m in mask)):
            return None
        self._check_mask_list(x, mask)
        xp = _namespace(next(m for m in mask if m is not None))
        # Keras 2: a missing mask is all True; a mask of lower rank gains a last axis
        masks = []
        for array, m in zip(x, mask, strict=True):
            if m is None:
                m = xp.ones(tuple(array.shape), dtype=xp.bool, device=device_of(array))
            elif m.ndim < array.ndim:
                m = xp.expand_dims(m, axis=-1)
            masks.append(m)
        return xp.all(self._guarded(xp.concat, masks, axis=self.axis), axis=-1)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


def _l2_normalize(xp, x, axis):
    """``x / sqrt(max(sum(x**2, axis), 1e-12))``: TensorFlow's ``l2_normalize``."""
    square_sum = xp.sum(x * x, axis=axis, keepdims=True)
    floor = xp.asarray(1e-12, dtype=x.dtype, device=device_of(x))
    return x * (1.0 / xp.sqrt(xp.maximum(square_sum, floor)))


def _batch_dot(xp, x, y, a0, a1):
    """Keras 2's ``batch_dot``: ``x``'s other axes, then ``y``'s, per batch item."""
    batch = x.shape[0]
    x = xp.moveaxis(x, a0, -1)
    y = xp.moveaxis(y, a1, 1)
    rest_x, rest_y = tuple(x.shape[1:-1]), tuple(y.shape[2:])
    depth = x.shape[-1]
    out_shape = (batch, *rest_x, *rest_y) if rest_x or rest_y else (batch, 1)
    if 0 in x.shape or 0 in y.shape:
        # Nothing to multiply (an empty sum is 0); also spares Dask's reshape, which
        # cannot regroup the chunks of an empty array.
        return xp.zeros(out_shape, dtype=xp.result_type(x.dtype, y.dtype),
                        device=device_of(x))
    x = xp.reshape(x, (batch, math.prod(rest_x), depth))
    y = xp.reshape(y, (batch, depth, math.prod(rest_y)))
    return xp.reshape(xp.matmul(x, y), out_shape)


@register_layer
class Dot(_MergeBase):
    """The dot product of two inputs over ``axes``, per batch item (Keras ``batch_dot``).

    ``axes`` is an int (the same axis of both inputs) or a pair; it counts the
    batch axis (0), which cannot be one of them. With ``normalize=True`` each
    input is first divided by its L2 norm along its axis, so the result is a
    cosine similarity. The result has the first input's other axes, then the
    second's (shape ``(batch, 1)`` when none remain).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Dot
    >>> Dot(axes=1)([xp.ones((2, 3)), xp.ones((2, 3))])
    Array([[3.],
           [3.]], dtype=array_api_strict.float64)
    """

    _kind = "dot"

    def __init__(self, axes, normalize=False, **kwargs):
        self.axes, self.normalize = axes, normalize
        super().__init__(**kwargs)
        axes = self._spec["axes"]
        self.axes = list(axes) if isinstance(axes, tuple) else axes
        self.normalize = self._spec["normalize"]

    def _spec_args(self):
        return {"axes": self.axes, "normalize": self.normalize}

    def call(self, inputs):
        xp, xs = self._inputs(inputs)
        x, y = xs
        a0, a1 = shapes.get_kind("dot").resolve(self._spec, (x.ndim, y.ndim), self)
        if self.normalize:
            x, y = _l2_normalize(xp, x, a0), _l2_normalize(xp, y, a1)
        return self._guarded(_batch_dot, xp, x, y, a0, a1)

    def compute_mask(self, x, mask=None):
        return None

    def get_config(self):
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


# ------------------------------------------------------------- functional forms
def add(inputs, **kwargs):
    """``Add(**kwargs)(inputs)``: the functional form of :class:`Add`."""
    return Add(**kwargs)(inputs)


def subtract(inputs, **kwargs):
    """``Subtract(**kwargs)(inputs)``."""
    return Subtract(**kwargs)(inputs)


def multiply(inputs, **kwargs):
    """``Multiply(**kwargs)(inputs)``."""
    return Multiply(**kwargs)(inputs)


def average(inputs, **kwargs):
    """``Average(**kwargs)(inputs)``."""
    return Average(**kwargs)(inputs)


def maximum(inputs, **kwargs):
    """``Maximum(**kwargs)(inputs)``."""
    return Maximum(**kwargs)(inputs)


def minimum(inputs, **kwargs):
    """``Minimum(**kwargs)(inputs)``."""
    return Minimum(**kwargs)(inputs)


def concatenate(inputs, axis=-1, **kwargs):
    """``Concatenate(axis=axis, **kwargs)(inputs)``.

    >>> import array_api_strict as xp
    >>> from cthulhu.layers import concatenate
    >>> concatenate([xp.ones((1, 2)), xp.ones((1, 3))]).shape
    (1, 5)
    """
    return Concatenate(axis=axis, **kwargs)(inputs)


def dot(inputs, axes, normalize=False, **kwargs):
    """``Dot(axes=axes, normalize=normalize, **kwargs)(inputs)``."""
    return Dot(axes=axes, normalize=normalize, **kwargs)(inputs)
