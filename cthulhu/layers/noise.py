"""Noise layers: ``GaussianNoise``, ``GaussianDropout`` and ``AlphaDropout`` (Keras 2).

At inference (``training=False``, the default) they are the identity. With
``training=True`` they add or multiply real noise, drawn like the dropout
masks of :mod:`cthulhu.layers.dropout`: on the host by a NumPy generator
(:mod:`cthulhu.ops.noise`), so that a layer given a ``seed`` draws the same
sequence on every library and device (its k-th training call uses the seed
``(seed, k)``), then moved to the input's library, device and dtype.
"""

import math

from cthulhu import shapes
from cthulhu.engine.base_layer import Layer
from cthulhu.layers import _args
from cthulhu.names import register_layer
from cthulhu.ops import noise

__all__ = ["GaussianNoise", "GaussianDropout", "AlphaDropout"]

# The SELU constants (Klambauer et al., 2017), as Keras 2's AlphaDropout writes them.
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946


class _Noise(Layer):
    """Shape-preserving and the identity at inference (the ``pointwise`` kind)."""

    supports_masking = True
    requires_float_input = True

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = _args.seed(seed, self)
        self._draws = 0

    def compute_output_shape(self, input_shape):
        return shapes.same_shape(input_shape, owner=self)

    def shape_spec(self):
        return {"kind": "pointwise"}

    def _next_seed(self):
        """The seed of this training call: ``(seed, k)``, or ``None`` (fresh entropy)."""
        seed = None if self.seed is None else (self.seed, self._draws)
        self._draws += 1
        return seed


@register_layer
class GaussianNoise(_Noise):
    """Add zero-mean normal noise of standard deviation ``stddev`` (training only).

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import GaussianNoise
    >>> layer = GaussianNoise(0.1, seed=0)
    >>> x = xp.zeros((2, 3))
    >>> bool(xp.all(layer(x) == x)), bool(xp.all(layer(x, training=True) != x))
    (True, True)
    """

    def __init__(self, stddev, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.stddev = _args.non_negative_float(stddev, "stddev", self)
        if not math.isfinite(self.stddev):
            raise _args.layer_error(self, f"stddev must be a finite float, got {stddev!r}")

    def call(self, x, training=False):
        if not training:
            return x
        return x + noise.normal(x, x.shape, 0.0, self.stddev, self._next_seed())

    def get_config(self):
        return {**super().get_config(), "stddev": self.stddev, "seed": self.seed}


@register_layer
class GaussianDropout(_Noise):
    """Multiply by normal noise of mean 1 and standard deviation ``sqrt(rate / (1 - rate))``.

    Only with ``training=True`` and ``0 < rate < 1``, as in Keras.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import GaussianDropout
    >>> x = xp.ones((2, 3))
    >>> bool(xp.all(GaussianDropout(0.5)(x) == x))
    True
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.rate = _args.rate(rate, "rate", self)

    def call(self, x, training=False):
        if not training or self.rate == 0.0:
            return x
        stddev = math.sqrt(self.rate / (1.0 - self.rate))
        return x * noise.normal(x, x.shape, 1.0, stddev, self._next_seed())

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@register_layer
class AlphaDropout(_Noise):
    """Dropout that keeps the mean and variance of self-normalising (SELU) activations.

    With ``training=True`` each unit is dropped with probability ``rate`` and set
    to SELU's negative saturation ``-alpha * scale``, then everything is
    rescaled by ``a`` and shifted by ``b`` (Keras 2's formulas) so that a
    standard normal input keeps mean 0 and variance 1. ``noise_shape`` as in
    ``Darkness``: ``None`` entries take the input's size.

    Examples
    --------
    >>> import array_api_strict as xp
    >>> from cthulhu.layers import AlphaDropout
    >>> y = AlphaDropout(0.5, seed=0)(xp.zeros((1, 1000)), training=True)
    >>> len({round(float(v), 4) for v in xp.reshape(y, (-1,))})   # kept and dropped units
    2
    """

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(seed, **kwargs)
        self.rate = _args.rate(rate, "rate", self)
        self.noise_shape = _args.noise_shape(noise_shape, self)

    def call(self, x, training=False):
        if not training or self.rate == 0.0:
            return x
        rate = self.rate
        shape = _args.resolve_noise_shape(self.noise_shape, x.shape, self)
        kept = noise.keep_mask(x, shape, rate, self._next_seed())
        alpha_p = -_SELU_ALPHA * _SELU_SCALE
        a = ((1 - rate) * (1 + rate * alpha_p**2)) ** -0.5
        b = -a * alpha_p * rate
        return a * (x * kept + alpha_p * (1 - kept)) + b

    def get_config(self):
        # Keras 2 leaves noise_shape out of the config (it is lost on reloading); kept here
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape,
                "seed": self.seed}
