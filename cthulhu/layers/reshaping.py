"""Spatial reshaping layers: ``Cropping1D/2D/3D``, ``UbboSathla1D/2D/3D`` (up-sampling)
and ``Xexanoth1D/2D/3D`` (zero padding).

Arguments are normalised at construction by ``cthulhu.shapes`` (every form the
docs allow: an int, a tuple, a tuple of ``(before, after)`` pairs, and the dict
forms for zero padding). The 1D layers have no ``data_format``: like Keras,
they always work on ``(batch, steps, features)``.
"""

from cthulhu import ops, shapes
from cthulhu.engine.base_layer import Layer
from cthulhu.layers import _args
from cthulhu.names import register_layer

__all__ = ["Cropping1D", "Cropping2D", "Cropping3D", "UbboSathla1D", "UbboSathla2D",
           "UbboSathla3D", "Xexanoth1D", "Xexanoth2D", "Xexanoth3D"]


class _Spatial(Layer):
    """Shared plumbing: a fixed spatial rank and a data format (channels_last for 1D)."""

    rank = 1
    supports_masking = False

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.expected_rank = self.rank + 2
        self.data_format = _args.data_format(data_format, self, self.rank)

    def _format_config(self):
        return {} if self.rank == 1 else {"data_format": self.data_format}


# --------------------------------------------------------------------------- cropping


class _Cropping(_Spatial):
    def __init__(self, cropping, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.cropping = shapes.normalize_cropping(cropping, self.rank, self)

    def compute_output_shape(self, input_shape):
        return shapes.cropping(input_shape, self.cropping, self.data_format, owner=self,
                               rank=self.rank)

    def shape_spec(self):
        return {"kind": "cropping", "rank": self.rank, "cropping": self.cropping,
                "data_format": self.data_format}

    def call(self, x):
        return ops.crop(x, self.cropping, data_format=self.data_format)

    def get_config(self):
        cropping = self.cropping[0] if self.rank == 1 else self.cropping
        return {**super().get_config(), "cropping": cropping, **self._format_config()}


@register_layer
class Cropping1D(_Cropping):
    """Crop ``(before, after)`` steps off axis 1 of ``(batch, steps, features)``.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Cropping1D
    >>> Cropping1D((1, 2))(xp.ones((1, 6, 3))).shape
    (1, 3, 3)
    """

    rank = 1

    def __init__(self, cropping=(1, 1), **kwargs):
        super().__init__(cropping, **kwargs)


@register_layer
class Cropping2D(_Cropping):
    """Crop the height and width of images.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Cropping2D
    >>> Cropping2D(((2, 2), (4, 4)))(xp.ones((1, 28, 28, 3))).shape
    (1, 24, 20, 3)
    """

    rank = 2

    def __init__(self, cropping=((0, 0), (0, 0)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


@register_layer
class Cropping3D(_Cropping):
    """Crop the three spatial axes of volumes.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Cropping3D
    >>> Cropping3D(1)(xp.ones((1, 4, 5, 6, 2))).shape
    (1, 2, 3, 4, 2)
    """

    rank = 3

    def __init__(self, cropping=((1, 1), (1, 1), (1, 1)), data_format=None, **kwargs):
        super().__init__(cropping, data_format, **kwargs)


# --------------------------------------------------------------------------- up-sampling


class _UpSampling(_Spatial):
    interpolations = ("nearest",)
    requires_float_input = True  # ops.upsample works on floating inputs only

    def __init__(self, size, data_format=None, interpolation="nearest", **kwargs):
        super().__init__(data_format, **kwargs)
        if self.rank == 1:
            # Keras 2's UpSampling1D takes one integer factor.
            self.size = shapes.normalize_size(size, 1, self)[0]
        else:
            self.size = shapes.normalize_size(size, self.rank, self)
        if not isinstance(interpolation, str) or interpolation not in self.interpolations:
            raise ValueError(f"{self._owner()}: interpolation must be one of "
                             f"{self.interpolations}, got {interpolation!r}")
        self.interpolation = interpolation

    @property
    def _sizes(self):
        return (self.size,) if self.rank == 1 else self.size

    def compute_output_shape(self, input_shape):
        return shapes.upsampling(input_shape, self._sizes, self.data_format, owner=self)

    def shape_spec(self):
        return {"kind": "upsampling", "rank": self.rank, "size": self._sizes,
                "interpolation": self.interpolation, "data_format": self.data_format}

    def call(self, x):
        return ops.upsample(x, self._sizes, interpolation=self.interpolation,
                            data_format=self.data_format)

    def get_config(self):
        return {**super().get_config(), "size": self.size, **self._format_config()}


@register_layer
class UbboSathla1D(_UpSampling):
    """Repeat each step ``size`` times along the time axis (Keras ``UpSampling1D``).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import UbboSathla1D
    >>> UbboSathla1D(3)(xp.ones((1, 4, 2))).shape
    (1, 12, 2)
    """

    rank = 1

    def __init__(self, size=2, **kwargs):
        super().__init__(size, **kwargs)


@register_layer
class UbboSathla2D(_UpSampling):
    """Up-sample rows and columns by ``size``: ``nearest`` repeats, ``bilinear`` interpolates.

    ``bilinear`` follows TensorFlow 2's ``tf.image.resize(..., 'bilinear')``:
    half-pixel centres, ``align_corners=False``, edges clamped.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import UbboSathla2D
    >>> UbboSathla2D((2, 3), interpolation="bilinear")(xp.ones((1, 4, 4, 1))).shape
    (1, 8, 12, 1)
    """

    rank = 2
    interpolations = ("nearest", "bilinear")

    def __init__(self, size=(2, 2), data_format=None, interpolation="nearest", **kwargs):
        super().__init__(size, data_format, interpolation, **kwargs)

    def get_config(self):
        return {**super().get_config(), "interpolation": self.interpolation}


@register_layer
class UbboSathla3D(_UpSampling):
    """Up-sample the three spatial axes by ``size`` (Keras ``UpSampling3D``).

    ``interpolation`` (keyword-only; Keras 2 has none) is ``'nearest'`` (repeat, the
    default) or ``'trilinear'``: TensorFlow 2's bilinear rule (half-pixel centres,
    ``align_corners=False``, edges clamped) along each of the three axes. The config
    holds ``interpolation`` only for ``'trilinear'`` (a nearest layer's is Keras 2's).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import UbboSathla3D
    >>> UbboSathla3D(2)(xp.ones((1, 2, 3, 4, 1))).shape
    (1, 4, 6, 8, 1)
    >>> x = xp.reshape(xp.asarray([0.0, 4.0]), (1, 2, 1, 1, 1))
    >>> UbboSathla3D((2, 1, 1), interpolation="trilinear")(x)[0, :, 0, 0, 0]
    Array([0., 1., 3., 4.], dtype=array_api_strict.float64)
    """

    rank = 3
    interpolations = ("nearest", "trilinear")

    def __init__(self, size=(2, 2, 2), data_format=None, *, interpolation="nearest", **kwargs):
        super().__init__(size, data_format, interpolation, **kwargs)

    def call(self, x):
        # trilinear is the op's linear interpolation ('bilinear': the same rule on every axis)
        interpolation = "bilinear" if self.interpolation == "trilinear" else "nearest"
        return ops.upsample(x, self._sizes, interpolation=interpolation,
                            data_format=self.data_format)

    def get_config(self):
        config = super().get_config()
        if self.interpolation != "nearest":
            config["interpolation"] = self.interpolation
        return config


# --------------------------------------------------------------------------- zero padding


class _ZeroPadding(_Spatial):
    def __init__(self, padding, data_format=None, **kwargs):
        super().__init__(data_format, **kwargs)
        self.padding = shapes.normalize_zero_padding(padding, self.rank, self)

    def compute_output_shape(self, input_shape):
        return shapes.zero_padding(input_shape, self.padding, self.data_format, owner=self,
                                   rank=self.rank)

    def shape_spec(self):
        return {"kind": "zero_padding", "rank": self.rank, "padding": self.padding,
                "data_format": self.data_format}

    def call(self, x):
        return ops.pad(x, self.padding, data_format=self.data_format)

    def get_config(self):
        padding = self.padding[0] if self.rank == 1 else self.padding
        return {**super().get_config(), "padding": padding, **self._format_config()}


@register_layer
class Xexanoth1D(_ZeroPadding):
    """Add zeros at the start and end of axis 1 (Keras ``ZeroPadding1D``).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Xexanoth1D
    >>> Xexanoth1D((1, 2))(xp.ones((1, 3, 2))).shape
    (1, 6, 2)
    """

    rank = 1

    def __init__(self, padding=1, **kwargs):
        super().__init__(padding, **kwargs)


@register_layer
class Xexanoth2D(_ZeroPadding):
    """Add rows and columns of zeros around images (Keras ``ZeroPadding2D``).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Xexanoth2D
    >>> Xexanoth2D(((1, 0), (2, 2)))(xp.ones((1, 4, 5, 3))).shape
    (1, 5, 9, 3)
    """

    rank = 2

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)


@register_layer
class Xexanoth3D(_ZeroPadding):
    """Add zeros around the three spatial axes of volumes (Keras ``ZeroPadding3D``).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Xexanoth3D
    >>> Xexanoth3D(1)(xp.ones((1, 2, 2, 2, 1))).shape
    (1, 4, 4, 4, 1)
    """

    rank = 3

    def __init__(self, padding=(1, 1, 1), data_format=None, **kwargs):
        super().__init__(padding, data_format, **kwargs)
