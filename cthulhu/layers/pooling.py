"""Pooling layers (Keras 2): ``MaxPooling1D/2D/3D``, ``AveragePooling1D/2D/3D`` and
``GlobalMaxPooling1D/2D/3D``, ``GlobalAveragePooling1D/2D/3D``.

Windows of ``pool_size`` every ``strides`` (``None``: ``pool_size``), ``'valid'`` or
TensorFlow's ``'same'`` padding, whose padded samples are *excluded*: a maximum never
sees them and an average divides by the number of real samples under the window.
The arguments are checked once, at construction, by the ``pooling`` and
``global_pooling`` kinds of :mod:`cthulhu.shapes`; the layers call
:func:`cthulhu.ops.pool` and :func:`cthulhu.ops.global_pool`. Unlike cropping or
up-sampling, the 1D pooling layers take ``data_format`` (default ``channels_last``),
as in Keras 2. The global layers take ``keepdims`` (tf.keras 2.6+).
"""

from cthulhu import ops, shapes
from cthulhu.engine.base_layer import Layer
from cthulhu.layers import _args
from cthulhu.layers._common import constructor_arguments, namespace
from cthulhu.names import register_layer

__all__ = ["MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D",
           "AveragePooling2D", "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
           "GlobalMaxPooling3D", "GlobalAveragePooling1D", "GlobalAveragePooling2D",
           "GlobalAveragePooling3D"]


class _Pooling(Layer):
    """Max or average pooling over windows, every rank (the public classes fix it)."""

    rank = 2
    kind = "max"
    requires_float_input = True   # ops.pool works on floating inputs

    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.expected_rank = self.rank + 2
        self.data_format = _args.data_format(data_format, self)
        self._spec = shapes.normalize_spec({
            "kind": "pooling", "rank": self.rank, "pool_size": pool_size, "strides": strides,
            "padding": padding, "data_format": self.data_format,
            "class_name": type(self).__name__, "name": self.name})
        self.pool_size = self._spec["pool_size"]
        self.strides = self._spec["strides"]
        self.padding = self._spec["padding"]

    def compute_output_shape(self, input_shape):
        return shapes.get_kind("pooling").output_shape(self._spec, input_shape, self)

    def shape_spec(self):
        return {"kind": "pooling", "rank": self.rank, "pool_size": self.pool_size,
                "strides": self.strides, "padding": self.padding,
                "data_format": self.data_format}

    def call(self, x):
        # the shape algebra refuses a window larger than a 'valid' input, naming this layer
        self.compute_output_shape(tuple(x.shape))
        return ops.pool(x, self.pool_size, strides=self.strides, padding=self.padding,
                        data_format=self.data_format, kind=self.kind)

    # A block of a volume runs with the pads its block plan gives (Layer.call_with_pads):
    # the part of the whole array's padding beside the block, excluded from the windows.
    explicit_pads = True

    def _call_padded(self, x, pads):
        return ops.pool(x, self.pool_size, strides=self.strides,
                        padding=pads,
                        data_format=self.data_format, kind=self.kind)

    def get_config(self):
        # Keras 2's keys; its 1D layers too store pool_size and strides as 1-tuples
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": self.data_format}


class _GlobalPooling(Layer):
    """Max or average over every spatial position, every rank."""

    rank = 2
    kind = "max"
    requires_float_input = True

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.expected_rank = self.rank + 2
        self.data_format = _args.data_format(data_format, self)
        self.keepdims = _args.boolean(keepdims, "keepdims", self)
        self._spec = shapes.normalize_spec({
            "kind": "global_pooling", "rank": self.rank, "data_format": self.data_format,
            "keepdims": self.keepdims, "class_name": type(self).__name__, "name": self.name})

    def compute_output_shape(self, input_shape):
        return shapes.get_kind("global_pooling").output_shape(self._spec, input_shape, self)

    def shape_spec(self):
        return {"kind": "global_pooling", "rank": self.rank, "data_format": self.data_format,
                "keepdims": self.keepdims}

    def call(self, x):
        return ops.global_pool(x, data_format=self.data_format, kind=self.kind,
                               keepdims=self.keepdims)

    def get_config(self):
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


# ------------------------------------------------------------------- max pooling


@register_layer
class MaxPooling1D(_Pooling):
    """Maximum over windows of ``pool_size`` steps of ``(batch, steps, features)``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import MaxPooling1D
    >>> x = xp.reshape(xp.asarray([1.0, 5.0, 2.0, 4.0, 3.0]), (1, 5, 1))
    >>> MaxPooling1D(2, padding="same")(x)[0, :, 0]
    Array([5., 4., 3.], dtype=array_api_strict.float64)
    """

    rank = 1

    def __init__(self, pool_size=2, strides=None, padding="valid",
                 data_format="channels_last", **kwargs):
        super().__init__(**constructor_arguments(locals()))


@register_layer
class MaxPooling2D(_Pooling):
    """Maximum over ``pool_size`` windows of images (Keras ``MaxPooling2D``).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import MaxPooling2D
    >>> MaxPooling2D((2, 2), strides=2, padding="same")(xp.ones((1, 9, 9, 4))).shape
    (1, 5, 5, 4)
    """

    rank = 2

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**constructor_arguments(locals()))


@register_layer
class MaxPooling3D(_Pooling):
    """Maximum over ``pool_size`` windows of volumes (Keras ``MaxPooling3D``).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import MaxPooling3D
    >>> MaxPooling3D()(xp.ones((1, 4, 6, 8, 2))).shape
    (1, 2, 3, 4, 2)
    """

    rank = 3

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**constructor_arguments(locals()))


# --------------------------------------------------------------- average pooling


@register_layer
class AveragePooling1D(_Pooling):
    """Mean over windows of ``pool_size`` steps; ``'same'`` divides by the real samples.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import AveragePooling1D
    >>> x = xp.reshape(xp.asarray([1.0, 5.0, 2.0, 4.0, 3.0]), (1, 5, 1))
    >>> AveragePooling1D(2, padding="same")(x)[0, :, 0]
    Array([3., 3., 3.], dtype=array_api_strict.float64)
    """

    rank = 1
    kind = "average"

    def __init__(self, pool_size=2, strides=None, padding="valid",
                 data_format="channels_last", **kwargs):
        super().__init__(**constructor_arguments(locals()))


@register_layer
class AveragePooling2D(_Pooling):
    """Mean over ``pool_size`` windows of images (Keras ``AveragePooling2D``).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import AveragePooling2D
    >>> AveragePooling2D(3, strides=1, padding="same")(xp.ones((1, 4, 4, 1)))[0, 0, :, 0]
    Array([1., 1., 1., 1.], dtype=array_api_strict.float64)
    """

    rank = 2
    kind = "average"

    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**constructor_arguments(locals()))


@register_layer
class AveragePooling3D(_Pooling):
    """Mean over ``pool_size`` windows of volumes (Keras ``AveragePooling3D``).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import AveragePooling3D
    >>> AveragePooling3D(2, data_format="channels_first")(xp.ones((1, 3, 4, 4, 4))).shape
    (1, 3, 2, 2, 2)
    """

    rank = 3
    kind = "average"

    def __init__(self, pool_size=(2, 2, 2), strides=None, padding="valid", data_format=None,
                 **kwargs):
        super().__init__(**constructor_arguments(locals()))


# ---------------------------------------------------------------- global pooling


@register_layer
class GlobalMaxPooling1D(_GlobalPooling):
    """Maximum over the steps: ``(batch, steps, features)`` to ``(batch, features)``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import GlobalMaxPooling1D
    >>> GlobalMaxPooling1D(keepdims=True)(xp.ones((2, 5, 3))).shape
    (2, 1, 3)
    """

    rank = 1

    def __init__(self, data_format="channels_last", keepdims=False, **kwargs):
        super().__init__(**constructor_arguments(locals()))


@register_layer
class GlobalMaxPooling2D(_GlobalPooling):
    """Maximum over the rows and columns of images: ``(batch, channels)``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import GlobalMaxPooling2D
    >>> GlobalMaxPooling2D()(xp.ones((2, 4, 5, 3))).shape
    (2, 3)
    """

    rank = 2

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**constructor_arguments(locals()))


@register_layer
class GlobalMaxPooling3D(_GlobalPooling):
    """Maximum over the three spatial axes of volumes: ``(batch, channels)``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import GlobalMaxPooling3D
    >>> GlobalMaxPooling3D(data_format="channels_first")(xp.ones((2, 3, 4, 4, 4))).shape
    (2, 3)
    """

    rank = 3

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**constructor_arguments(locals()))


@register_layer
class GlobalAveragePooling1D(_GlobalPooling):
    """Mean over the steps; with a mask (``Masking``, ``TheHydra(mask_zero=True)``) the
    mean of the unmasked steps only, as Keras 2.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import GlobalAveragePooling1D
    >>> x = xp.reshape(xp.asarray([1.0, 2.0, 6.0]), (1, 3, 1))
    >>> GlobalAveragePooling1D()(x)
    Array([[3.]], dtype=array_api_strict.float64)
    >>> GlobalAveragePooling1D()(x, mask=xp.asarray([[True, True, False]]))
    Array([[1.5]], dtype=array_api_strict.float64)
    """

    rank = 1
    kind = "average"
    supports_masking = True

    def __init__(self, data_format="channels_last", keepdims=False, **kwargs):
        super().__init__(**constructor_arguments(locals()))

    def call(self, x, mask=None):
        if mask is None:
            return super().call(x)
        # Keras 2: sum(x * mask) / sum(mask) over the steps
        xp = namespace(x)
        steps = shapes.spatial_axes(3, self.data_format)[0]
        channel = shapes.channels_axis(3, self.data_format)
        weights = xp.expand_dims(xp.astype(mask, x.dtype), axis=channel)
        total = xp.sum(x * weights, axis=steps, keepdims=self.keepdims)
        return total / xp.sum(weights, axis=steps, keepdims=self.keepdims)

    def compute_mask(self, x, mask=None):
        return None


@register_layer
class GlobalAveragePooling2D(_GlobalPooling):
    """Mean over the rows and columns of images (Keras ``GlobalAveragePooling2D``).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import GlobalAveragePooling2D
    >>> GlobalAveragePooling2D(keepdims=True)(xp.ones((2, 4, 5, 3))).shape
    (2, 1, 1, 3)
    """

    rank = 2
    kind = "average"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**constructor_arguments(locals()))


@register_layer
class GlobalAveragePooling3D(_GlobalPooling):
    """Mean over the three spatial axes of volumes (Keras ``GlobalAveragePooling3D``).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import GlobalAveragePooling3D
    >>> GlobalAveragePooling3D()(xp.ones((2, 4, 4, 4, 3))).shape
    (2, 3)
    """

    rank = 3
    kind = "average"

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**constructor_arguments(locals()))
