"""``LuKthu`` (Keras ``Lambda``): wrap an arbitrary function of the input as a layer."""

import inspect

from cthulhu.engine.base_layer import Layer
from cthulhu.layers import _args
from cthulhu.names import register_layer
from cthulhu.names.functions import deserialize_function, in_safe_mode, serialize_function

__all__ = ["LuKthu"]

# Unknown sizes are replaced by two different probe sizes; output axes that change
# between the two runs are reported as unknown (None).
_PROBE_SIZES = (2, 3)


@register_layer
class LuKthu(Layer):
    """Wrap ``function(inputs, **arguments)`` as a layer.

    Parameters
    ----------
    function : callable
        Takes the input array (or a list of arrays when the layer is called on a
        list) and returns an array or a list of arrays. If it accepts a ``mask``
        argument, the incoming mask is passed to it.
    output_shape : tuple, callable or None
        A tuple gives the output shape without the batch axis (the batch size is
        the input's); a callable maps the full input shape (or list of shapes)
        to the full output shape. ``None``: inferred by running ``function`` on
        zeros of the input shape (a saved model needs a declared shape to load
        in safe mode: inferring it would call the function stored in the file).
        A result whose shape disagrees with a declared shape raises ``ValueError``.
    mask : callable, array or None
        ``mask(inputs, input_mask)`` computing the output mask, or a fixed mask.
    arguments : dict, optional
        Extra keyword arguments for ``function``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import LuKthu
    >>> LuKthu(lambda x: x ** 2)(xp.asarray([[1.0, 3.0]]))
    Array([[1., 9.]], dtype=array_api_strict.float64)
    >>> LuKthu(lambda t: t[0] * t[1], output_shape=(2,))([xp.ones((1, 2)), xp.ones((1, 2))]).shape
    (1, 2)
    """

    def __init__(self, function, output_shape=None, mask=None, arguments=None, **kwargs):
        super().__init__(**kwargs)
        if not callable(function):
            raise _args.layer_error(self, f"function must be callable, got {function!r}",
                                    TypeError)
        if output_shape is not None and not callable(output_shape):
            if not isinstance(output_shape, (list, tuple)):
                raise _args.layer_error(self, "output_shape must be a tuple, a function or "
                                              f"None, got {output_shape!r}", TypeError)
            output_shape = tuple(output_shape)
        if arguments is not None and not isinstance(arguments, dict):
            raise _args.layer_error(self, f"arguments must be a dict, got {arguments!r}",
                                    TypeError)
        self.function = function
        self._output_shape = output_shape
        self.mask = mask
        self.arguments = dict(arguments or {})
        self.supports_masking = mask is not None

    # ------------------------------------------------------------------ calling
    def call(self, x, mask=None):
        kwargs = dict(self.arguments)
        if _accepts(self.function, "mask"):
            kwargs["mask"] = mask
        y = self.function(x, **kwargs)
        if self._output_shape is not None:
            self._check_result(x, y)
        return y

    def _check_result(self, x, y):
        """A result must have the declared shape: a wrong one would flow on silently."""
        in_shape = [tuple(t.shape) for t in x] if isinstance(x, (list, tuple)) else tuple(x.shape)
        want = self.compute_output_shape(in_shape)
        many = isinstance(want, list)
        if many != isinstance(y, (list, tuple)) or (many and len(want) != len(y)):
            raise _args.layer_error(self, f"the function returned {_describe(y)}, but "
                                          f"output_shape declares {want}")
        for got, expected in zip(y if many else [y], want if many else [want], strict=True):
            shape = getattr(got, "shape", None)
            if shape is None or not _agrees(tuple(shape), expected):
                raise _args.layer_error(self, f"the function returned {_describe(y)}, but "
                                              f"output_shape declares {want}")

    def compute_mask(self, x, mask=None):
        if self.mask is None:
            return super().compute_mask(x, mask)
        if callable(self.mask):
            return self.mask(x, mask)
        return self.mask

    # ------------------------------------------------------------------- shapes
    def compute_output_shape(self, input_shape):
        spec = self._output_shape
        if spec is None:
            return self._probe(input_shape)
        if callable(spec):
            out = spec(input_shape)
            return [tuple(s) for s in out] if isinstance(out, list) else tuple(out)
        first = input_shape[0] if isinstance(input_shape, list) else input_shape
        return (first[0], *spec)

    def _probe(self, input_shape):
        """The output shape found by running the function on zeros of the input shape."""
        import numpy as np  # only to make probe inputs: the function itself is the user's

        multi = isinstance(input_shape, list)
        shape_list = input_shape if multi else [input_shape]
        unknown = any(d is None for s in shape_list for d in s)
        runs = []
        for size in _PROBE_SIZES[: 2 if unknown else 1]:
            arrays = [np.zeros(tuple(size if d is None else d for d in s), dtype=self.dtype)
                      for s in shape_list]
            try:
                out = self.function(arrays if multi else arrays[0], **self.arguments)
            except Exception as exc:
                raise _args.layer_error(
                    self, f"could not infer the output shape by running the function on an "
                          f"input of shape {input_shape} ({type(exc).__name__}: {exc}); "
                          "pass output_shape=") from exc
            runs.append([tuple(o.shape) for o in out] if isinstance(out, (list, tuple))
                        else tuple(out.shape))
        if len(runs) == 1:
            return runs[0]
        return _merge(runs[0], runs[1])

    # ------------------------------------------------------------------- config
    def get_config(self):
        spec = self._output_shape
        if callable(spec):
            spec = serialize_function(spec)
        mask = serialize_function(self.mask) if callable(self.mask) else None
        return {**super().get_config(), "function": serialize_function(self.function),
                "output_shape": spec, "mask": mask, "arguments": dict(self.arguments)}

    @classmethod
    def from_config(cls, config):
        """The layer ``get_config`` describes. Calls nothing the config names.

        In safe mode (the default, and what ``load_model`` uses) a config
        without a declared ``output_shape`` is refused: the shape would be
        inferred by calling the function named in the file. A function given as
        a Python object (a reader put the caller's ``custom_objects`` function
        there) may be called.
        """
        config = dict(config)
        label = f"LuKthu {config.get('name', '?')!r}"
        # A function object in the config is the caller's own (a config read from a file
        # holds only names and code): inferring the shape calls the caller's code.
        if config.get("output_shape") is None and in_safe_mode() and not callable(
                config.get("function")):
            raise ValueError(
                f"{label}: no declared output_shape, and inferring one would call the function "
                "stored in the file; refused in safe mode. Declare output_shape= when building "
                "the model (and save it again), or load with safe_mode=False only if you trust "
                "the file (that runs code from it)")
        config["function"] = deserialize_function(config.get("function"),
                                                  what=f"{label} function")
        for key in ("output_shape", "mask"):
            if isinstance(config.get(key), dict):
                config[key] = deserialize_function(config[key], what=f"{label} {key}")
        return cls(**config)


def _merge(a, b):
    """Shapes from two probe runs: axes that differ are unknown."""
    if isinstance(a, list):
        return [_merge(x, y) for x, y in zip(a, b, strict=True)]
    return tuple(p if p == q else None for p, q in zip(a, b, strict=True))


def _agrees(got, want):
    """Known sizes of ``want`` equal ``got`` (unknown: None, or NaN in a lazy array's shape)."""
    if len(got) != len(want):
        return False
    return all(w is None or g is None or g != g or g == w for g, w in zip(got, want, strict=True))


def _describe(y):
    if isinstance(y, (list, tuple)):
        return f"a list of shapes {[tuple(getattr(t, 'shape', ())) for t in y]}"
    shape = getattr(y, "shape", None)
    return f"shape {tuple(shape)}" if shape is not None else f"a {type(y).__name__}"


def _accepts(fn, name):
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params
