"""Weight initializers, with Keras 2's names, defaults, distributions and fan rules.

An initializer is called as ``init(shape, dtype=None)`` and returns a NumPy
array (weights are stored as NumPy in the Keras layout; layers convert them to
the input's library on use). A ``seed`` makes every call reproducible: the same
seed gives the same values, as in Keras 2.

Examples
--------
>>> from cthulhu import initializers
>>> w = initializers.get("glorot_uniform")((3, 3, 16, 32))
>>> w.shape, str(w.dtype)
((3, 3, 16, 32), 'float32')
>>> initializers.compute_fans((3, 3, 16, 32))  # receptive field 9: 9*16 in, 9*32 out
(144, 288)
"""

from __future__ import annotations

import math

import numpy as np

from cthulhu import _identifiers


def compute_fans(shape) -> tuple:
    """``(fan_in, fan_out)`` of a weight in the Keras layout (channels-last kernels).

    2D: ``(rows, cols)``; 3D to 5D convolution kernels ``(*k, in, out)``: the
    receptive field size times ``in`` and ``out``; any other rank: the square
    root of the number of elements for both (Keras 2's fallback).
    """
    shape = tuple(shape)
    if len(shape) == 2:
        return shape[0], shape[1]
    if len(shape) in (3, 4, 5):
        receptive = math.prod(shape[:-2])
        return shape[-2] * receptive, shape[-1] * receptive
    fan = math.sqrt(math.prod(shape))
    return fan, fan


def _dtype(dtype):
    dtype = np.dtype(dtype or "float32")
    if dtype.kind != "f":
        raise ValueError(f"initializers produce floating weights, got dtype {dtype}")
    return dtype


def _check_seed(seed, owner):
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
        raise ValueError(f"{owner}: seed must be an integer or None, got {seed!r}")
    return None if seed is None else int(seed)


class Initializer(_identifiers.Configurable):
    """Base class: ``__call__(shape, dtype=None)`` -> NumPy array, ``get_config``, ``from_config``."""

    def __call__(self, shape, dtype=None):
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class Zeros(Initializer):
    """All zeros."""

    def __call__(self, shape, dtype=None):
        return np.zeros(tuple(shape), dtype=_dtype(dtype))


class Ones(Initializer):
    """All ones."""

    def __call__(self, shape, dtype=None):
        return np.ones(tuple(shape), dtype=_dtype(dtype))


class Constant(Initializer):
    """Every element equal to ``value``."""

    def __init__(self, value=0):
        self.value = value

    def __call__(self, shape, dtype=None):
        return np.full(tuple(shape), self.value, dtype=_dtype(dtype))

    def get_config(self):
        return {"value": self.value}


class _Random(Initializer):
    def _rng(self):
        return np.random.default_rng(self.seed)


class RandomNormal(_Random):
    """Normal distribution with ``mean`` and ``stddev``."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = float(mean), float(stddev)
        self.seed = _check_seed(seed, "RandomNormal")

    def __call__(self, shape, dtype=None):
        values = self._rng().normal(self.mean, self.stddev, size=tuple(shape))
        return values.astype(_dtype(dtype))

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class RandomUniform(_Random):
    """Uniform distribution on ``[minval, maxval)``."""

    def __init__(self, minval=-0.05, maxval=0.05, seed=None):
        if maxval < minval:
            raise ValueError(f"RandomUniform: maxval must be >= minval, got minval={minval!r}, "
                             f"maxval={maxval!r}")
        self.minval, self.maxval = float(minval), float(maxval)
        self.seed = _check_seed(seed, "RandomUniform")

    def __call__(self, shape, dtype=None):
        values = self._rng().uniform(self.minval, self.maxval, size=tuple(shape))
        return values.astype(_dtype(dtype))

    def get_config(self):
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


def _truncated_normal(rng, mean, stddev, shape):
    """Normal samples redrawn until within two standard deviations (TensorFlow's rule)."""
    out = rng.normal(0.0, 1.0, size=shape)
    bad = np.abs(out) > 2.0
    while bad.any():
        out[bad] = rng.normal(0.0, 1.0, size=int(bad.sum()))
        bad = np.abs(out) > 2.0
    return mean + stddev * out


class TruncatedNormal(_Random):
    """Normal distribution with values beyond two standard deviations redrawn."""

    def __init__(self, mean=0.0, stddev=0.05, seed=None):
        self.mean, self.stddev = float(mean), float(stddev)
        self.seed = _check_seed(seed, "TruncatedNormal")

    def __call__(self, shape, dtype=None):
        values = _truncated_normal(self._rng(), self.mean, self.stddev, tuple(shape))
        return values.astype(_dtype(dtype))

    def get_config(self):
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


# Standard deviation of a unit normal truncated to [-2, 2]: Keras 2 divides by it so
# that the truncated draws have the variance the scaling rule asks for.
_TRUNCATED_STD = 0.87962566103423978
_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("normal", "truncated_normal", "untruncated_normal", "uniform")


class VarianceScaling(_Random):
    """Samples scaled to the weight's fans: variance ``scale / n``.

    ``n`` is fan_in, fan_out or their average (``mode``); ``distribution`` is
    ``'truncated_normal'`` (also spelled ``'normal'``, as in Keras 2.2.4+),
    ``'untruncated_normal'`` or ``'uniform'`` (limit ``sqrt(3 * scale / n)``).
    """

    def __init__(self, scale=1.0, mode="fan_in", distribution="normal", seed=None):
        name = type(self).__name__
        if not (isinstance(scale, (int, float)) and scale > 0):
            raise ValueError(f"{name}: scale must be a positive float, got {scale!r}")
        mode = str(mode).lower()
        if mode not in _MODES:
            raise ValueError(f"{name}: mode must be one of {_MODES}, got {mode!r}")
        distribution = str(distribution).lower()
        if distribution not in _DISTRIBUTIONS:
            raise ValueError(f"{name}: distribution must be one of {_DISTRIBUTIONS}, "
                             f"got {distribution!r}")
        self.scale, self.mode, self.distribution = float(scale), mode, distribution
        self.seed = _check_seed(seed, name)

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        fan_in, fan_out = compute_fans(shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}[self.mode]
        variance = self.scale / max(1.0, n)
        rng = self._rng()
        if self.distribution in ("normal", "truncated_normal"):
            values = _truncated_normal(rng, 0.0, math.sqrt(variance) / _TRUNCATED_STD, shape)
        elif self.distribution == "untruncated_normal":
            values = rng.normal(0.0, math.sqrt(variance), size=shape)
        else:
            limit = math.sqrt(3.0 * variance)
            values = rng.uniform(-limit, limit, size=shape)
        return values.astype(_dtype(dtype))

    def get_config(self):
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed}


def _preset(class_name, scale, mode, distribution, doc):
    def __init__(self, seed=None):
        VarianceScaling.__init__(self, scale, mode, distribution, seed)

    def get_config(self):
        return {"seed": self.seed}

    @classmethod
    def from_config(cls, config):
        # Keras 2.2 saves presets as VarianceScaling configs; accept both spellings.
        return cls(seed=config.get("seed"))

    return type(class_name, (VarianceScaling,), {
        "__init__": __init__, "get_config": get_config, "from_config": from_config,
        "__doc__": doc, "__module__": __name__})


GlorotUniform = _preset("GlorotUniform", 1.0, "fan_avg", "uniform",
                        "Glorot (Xavier) uniform: limit ``sqrt(6 / (fan_in + fan_out))``.")
GlorotNormal = _preset("GlorotNormal", 1.0, "fan_avg", "truncated_normal",
                       "Glorot normal: truncated, stddev ``sqrt(2 / (fan_in + fan_out))``.")
HeUniform = _preset("HeUniform", 2.0, "fan_in", "uniform",
                    "He uniform: limit ``sqrt(6 / fan_in)``.")
HeNormal = _preset("HeNormal", 2.0, "fan_in", "truncated_normal",
                   "He normal: truncated, stddev ``sqrt(2 / fan_in)``.")
LecunUniform = _preset("LecunUniform", 1.0, "fan_in", "uniform",
                       "LeCun uniform: limit ``sqrt(3 / fan_in)``.")
LecunNormal = _preset("LecunNormal", 1.0, "fan_in", "truncated_normal",
                      "LeCun normal: truncated, stddev ``sqrt(1 / fan_in)``.")


class Orthogonal(_Random):
    """A random orthogonal matrix (reshaped to the weight's shape) times ``gain``.

    As in Keras 2, the matrix has ``prod(shape[:-1])`` rows and ``shape[-1]``
    columns, its rows (or its columns, if there are more rows) are orthonormal,
    and it is uniformly (Haar) distributed: Keras 2 takes a factor of the SVD
    of a standard normal matrix. The same distribution comes from the LQ
    factorisation of that matrix with a positive diagonal, ``A = L Q``, which
    costs a fraction of an SVD: ``L`` is the Cholesky factor of ``A A^T`` and
    ``Q = L^-1 A`` (twice when ``A`` is close to square, for accuracy): matrix
    products instead of an SVD. ``Laldagorth(10000)`` builds its 10000 x 40000
    recurrent kernel in about two CPU-minutes; the SVD alone took about 17
    (8x less at ``units=2500``, measured single-threaded: 1.9 s against 15.7 s).
    """

    def __init__(self, gain=1.0, seed=None):
        self.gain = float(gain)
        self.seed = _check_seed(seed, "Orthogonal")

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: the weight must have at least 2 dimensions, got shape {shape}")
        dtype = _dtype(dtype)
        rows, cols = math.prod(shape[:-1]), shape[-1]
        if rows == 0 or cols == 0:
            return np.zeros(shape, dtype=dtype)
        # float32 weights are drawn and orthogonalised in float32 (half the time and memory).
        work = np.float32 if dtype.itemsize <= 4 else np.float64
        wide = _orthonormal_rows(self._rng(), min(rows, cols), max(rows, cols), work)
        q = wide if rows <= cols else wide.T
        q = q.reshape(shape)
        if self.gain != 1.0:
            q *= self.gain
        return q.astype(dtype, copy=False)

    def get_config(self):
        return {"gain": self.gain, "seed": self.seed}


def _orthonormal_rows(rng, m, n, work):
    """A Haar-random ``(m, n)`` matrix with orthonormal rows (``m <= n``), in ``work`` dtype.

    CholeskyQR of a standard normal matrix ``A``. Its accuracy depends on the
    condition number of ``A``, about ``(sqrt(n) + sqrt(m)) / (sqrt(n) - sqrt(m))``:
    at most 6 when ``n >= 2m`` (an LSTM's ``(u, 4u)``: 3), where one float32
    pass gives float32 accuracy. Nearer to square, the Gram matrix is too badly
    conditioned for float32: float64 and a second pass (CholeskyQR2) restore
    working precision; a Householder QR takes over should Cholesky still fail.
    """
    fast = work == np.float32 and n >= 2 * m
    a = rng.standard_normal((m, n), dtype=np.float32 if fast else np.float64)
    try:
        q = a
        for _ in range(1 if fast else 2):
            q = _lq_step(q)
        return q.astype(work, copy=False)
    except np.linalg.LinAlgError:
        q, r = np.linalg.qr(a.astype(np.float64).T)
        return (q * np.sign(np.diag(r))).T.astype(work)


def _lq_step(a):
    """``L^-1 a`` with ``L`` the Cholesky factor of ``a a^T`` (positive diagonal)."""
    gram = (a @ a.T).astype(np.float64)
    lower = np.linalg.cholesky(gram)
    return _solve_lower(lower, a)


def _solve_lower(lower, b, block=256):
    """``lower^-1 b`` by blocked forward substitution: the work is in matrix products.

    Each diagonal block is inverted (small, well conditioned: the Gram matrix of a
    normal matrix) and applied with a product, which runs far faster than a solver.
    """
    m = lower.shape[0]
    x = np.empty_like(b)
    for i in range(0, m, block):
        j = min(i + block, m)
        rhs = b[i:j]
        if i:
            rhs = rhs - lower[i:j, :i].astype(b.dtype) @ x[:i]
        x[i:j] = np.linalg.inv(lower[i:j, i:j]).astype(b.dtype) @ rhs
    return x


class Identity(Initializer):
    """``gain`` times the identity matrix; only for 2D weights (Keras 2 rule)."""

    def __init__(self, gain=1.0):
        self.gain = float(gain)

    def __call__(self, shape, dtype=None):
        shape = tuple(shape)
        if len(shape) != 2:
            raise ValueError(f"Identity: the identity initializer needs a 2D weight, got shape {shape}")
        return (self.gain * np.eye(shape[0], shape[1])).astype(_dtype(dtype))

    def get_config(self):
        return {"gain": self.gain}


def lecun_uniform(seed=None):
    return LecunUniform(seed=seed)


def lecun_normal(seed=None):
    return LecunNormal(seed=seed)


def glorot_uniform(seed=None):
    return GlorotUniform(seed=seed)


def glorot_normal(seed=None):
    return GlorotNormal(seed=seed)


def he_uniform(seed=None):
    return HeUniform(seed=seed)


def he_normal(seed=None):
    return HeNormal(seed=seed)


_CLASSES = {cls.__name__: cls for cls in (
    Zeros, Ones, Constant, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling,
    Orthogonal, Identity, GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform,
    LecunNormal)}
_ALIASES = {
    "zeros": Zeros, "zero": Zeros, "ones": Ones, "one": Ones, "constant": Constant,
    "random_normal": RandomNormal, "normal": RandomNormal, "random_uniform": RandomUniform,
    "uniform": RandomUniform, "truncated_normal": TruncatedNormal,
    "variance_scaling": VarianceScaling, "orthogonal": Orthogonal, "identity": Identity,
    "glorot_uniform": GlorotUniform, "glorot_normal": GlorotNormal, "he_uniform": HeUniform,
    "he_normal": HeNormal, "lecun_uniform": LecunUniform, "lecun_normal": LecunNormal,
}


# A plain name looks in the aliases first, a config's class_name in the class names first.
_BY_NAME = {**_CLASSES, **_ALIASES}
_BY_CLASS_NAME = {**_ALIASES, **_CLASSES}


def serialize(initializer) -> dict | str:
    """``{'class_name', 'config'}`` for an initializer object (a plain function: its name)."""
    return _identifiers.serialize(initializer, Initializer)


def deserialize(config, custom_objects=None):
    """An initializer from a name or a ``{'class_name', 'config'}`` dict."""
    if isinstance(config, str):
        return _identifiers.from_name(config, custom_objects, "initializer", _BY_NAME)
    cls, cfg = _identifiers.class_for(config, custom_objects, "initializer", _BY_CLASS_NAME)
    # A custom plain function named in a config dict is called with the config as keywords.
    if hasattr(cls, "from_config"):
        return cls.from_config(cfg)
    return cls(**cfg)


def get(identifier):
    """An initializer from a name, a config dict, an instance or a callable ``(shape, dtype)``."""
    if identifier is None:
        raise ValueError("an initializer is required, got None")
    return _identifiers.get(identifier, deserialize, "initializer")
