"""``Darkness`` (Keras ``Dropout``) and ``SpatialDarkness1D/2D/3D``.

At inference (``training=False``, the default) these layers are the identity.
With ``training=True`` each unit (or, for the spatial versions, each whole
feature map) is dropped with probability ``rate`` and the kept ones are scaled
by ``1 / (1 - rate)``, so the expected output equals the input. A layer given a
``seed`` draws a reproducible sequence of masks: its k-th training call uses the
generator seeded with ``(seed, k)``.
"""

from cthulhu import shapes
from cthulhu.engine.base_layer import Layer
from cthulhu.layers import _args
from cthulhu.names import register_layer
from cthulhu.ops.random import dropout_mask

__all__ = ["Darkness", "SpatialDarkness1D", "SpatialDarkness2D", "SpatialDarkness3D"]


@register_layer
class Darkness(Layer):
    """Randomly set a fraction ``rate`` of the input units to 0 during training.

    Parameters
    ----------
    rate : float
        Fraction of the input units to drop, in ``[0, 1)``.
    noise_shape : tuple, optional
        Shape of the binary mask (``None`` entries take the input's size), e.g.
        ``(batch_size, 1, features)`` to share the mask over timesteps.
    seed : int, optional
        Seed of the random masks.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import Darkness
    >>> layer = Darkness(0.5, seed=1)
    >>> x = xp.ones((2, 4))
    >>> bool(xp.all(layer(x) == x))          # inference: identity
    True
    >>> sorted({float(v) for v in xp.reshape(layer(x, training=True), (-1,))})
    [0.0, 2.0]
    """

    supports_masking = True
    requires_float_input = True

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.rate = _args.rate(rate, "rate", self)
        self.noise_shape = _args.noise_shape(noise_shape, self)
        self.seed = _args.seed(seed, self)
        self._draws = 0

    def compute_output_shape(self, input_shape):
        return shapes.same_shape(input_shape, owner=self)

    def shape_spec(self):
        return {"kind": "dropout"}

    def _noise_shape(self, x):
        """The mask shape for ``x``: ``None`` entries filled from ``x.shape``, checked."""
        return _args.resolve_noise_shape(self.noise_shape, x.shape, self)

    def call(self, x, training=False):
        if not training or self.rate == 0.0:
            return x
        seed = None if self.seed is None else (self.seed, self._draws)
        self._draws += 1
        return x * dropout_mask(x, self._noise_shape(x), self.rate, seed)

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape,
                "seed": self.seed}


class _SpatialDarkness(Darkness):
    """Drop whole feature maps: one draw per (sample, channel)."""

    rank = 1

    def __init__(self, rate, data_format=None, seed=None, **kwargs):
        # Keras 2 configs of the spatial dropouts carry Dropout's noise_shape=None.
        if kwargs.pop("noise_shape", None) is not None:
            raise TypeError(f"{type(self).__name__}: noise_shape is fixed (one draw per "
                            "sample and channel) and cannot be given")
        super().__init__(rate, noise_shape=None, seed=seed, **kwargs)
        self.expected_rank = self.rank + 2
        self.data_format = _args.data_format(data_format, self, self.rank)

    def shape_spec(self):
        return {"kind": "spatial_dropout", "rank": self.rank, "data_format": self.data_format}

    def _noise_shape(self, x):
        batch, _, channels = shapes.split_channels(tuple(x.shape), self.data_format)
        return shapes.join_channels(batch, (1,) * self.rank, channels, self.data_format)

    def get_config(self):
        # Keras 2 writes Dropout's keys, noise_shape (always None here) included
        config = {**Layer.get_config(self), "rate": self.rate, "noise_shape": None,
                  "seed": self.seed}
        if self.rank > 1:
            config["data_format"] = self.data_format
        return config


@register_layer
class SpatialDarkness1D(_SpatialDarkness):
    """Drop entire 1D feature maps (channels) of ``(batch, steps, channels)``.

    ``seed`` is an extra keyword-only argument (the docs' signature is ``(rate)``).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import SpatialDarkness1D
    >>> y = SpatialDarkness1D(0.5, seed=0)(xp.ones((1, 4, 3)), training=True)
    >>> bool(xp.all(y[0, 0, :] == y[0, 3, :]))   # one draw per channel
    True
    """

    rank = 1

    def __init__(self, rate, *, seed=None, **kwargs):
        super().__init__(rate, seed=seed, **kwargs)


@register_layer
class SpatialDarkness2D(_SpatialDarkness):
    """Drop entire 2D feature maps; ``seed`` is an extra keyword-only argument.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import SpatialDarkness2D
    >>> SpatialDarkness2D(0.3)(xp.ones((1, 4, 4, 2))).shape
    (1, 4, 4, 2)
    """

    rank = 2

    def __init__(self, rate, data_format=None, *, seed=None, **kwargs):
        super().__init__(rate, data_format, seed=seed, **kwargs)


@register_layer
class SpatialDarkness3D(_SpatialDarkness):
    """Drop entire 3D feature maps; ``seed`` is an extra keyword-only argument.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import SpatialDarkness3D
    >>> SpatialDarkness3D(0.3, data_format="channels_first")(xp.ones((1, 2, 3, 3, 3))).shape
    (1, 2, 3, 3, 3)
    """

    rank = 3

    def __init__(self, rate, data_format=None, *, seed=None, **kwargs):
        super().__init__(rate, data_format, seed=seed, **kwargs)
