"""Lengths along one axis: convolution, transposed convolution, pooling, crop, pad, up-sample.

Every formula is integer arithmetic written with ``+ - *``, ``//`` and the
helpers of ``_arith`` only, so it works for ints, ``None`` (unknown: ``None``
out) and symbolic sizes alike. ``docs/shapes.md`` derives each formula.

Notation: ``n`` input length, ``k`` kernel size, ``s`` stride, ``d`` dilation,
``K = d*(k-1) + 1`` the dilated kernel size (the span of one window).
"""

from ._arith import MAX_SIZE, at_least, ceildiv, check_dim, check_size_limit, is_int, smax
from .errors import ShapeTypeError, shape_error
from .normalize import normalize_padding

__all__ = [
    "dilated_kernel_size", "conv_length", "conv_padding", "conv_transpose_length",
    "conv_transpose_padding", "conv_transpose_output_padding", "pool_length",
    "crop_length", "pad_length", "upsample_length",
]


def _positive(value, name, owner):
    if not is_int(value):
        raise shape_error(owner, f"{name} must be a positive integer, got {value!r}",
                          ShapeTypeError)
    if value <= 0:
        raise shape_error(owner, f"{name} must be a positive integer, got {value!r}")
    return check_size_limit(value, name, owner)


def _axis_args(kernel, stride, dilation, owner):
    if (kernel.__class__ is int and stride.__class__ is int and dilation.__class__ is int
            and 0 < kernel <= MAX_SIZE and 0 < stride <= MAX_SIZE and 0 < dilation <= MAX_SIZE
            and (stride == 1 or dilation == 1)):
        return dilation * (kernel - 1) + 1      # the common case, checked without a call
    _positive(kernel, "kernel_size", owner)
    _positive(stride, "strides", owner)
    _positive(dilation, "dilation_rate", owner)
    if stride > 1 and dilation > 1:
        raise shape_error(owner, "strides > 1 cannot be combined with dilation_rate > 1, "
                                 f"got strides={stride} and dilation_rate={dilation}")
    return dilated_kernel_size(kernel, dilation)


def _explicit_pair(padding, owner):
    """An explicit ``(lo, hi)`` padding pair of ints (negative = crop), or None if a string."""
    if isinstance(padding, str):
        return None
    if isinstance(padding, (list, tuple)) and len(padding) == 2 and all(map(is_int, padding)):
        return tuple(padding)
    raise shape_error(owner, "padding must be 'valid', 'same', 'causal' or an explicit "
                             f"(before, after) pair of ints, got {padding!r}")


def dilated_kernel_size(kernel, dilation=1):
    """``K = d*(k-1) + 1``: the number of input samples one window spans."""
    return dilation * (kernel - 1) + 1


def conv_length(n, kernel, stride=1, padding="valid", dilation=1, *, owner=None):
    """Output length of a convolution (Keras 2 ``conv_output_length``).

    ``valid``: ``(n - K) // s + 1`` and requires ``n >= K``; ``same`` and
    ``causal``: ``ceil(n / s)``; an explicit ``(lo, hi)`` pair:
    ``(n + lo + hi - K) // s + 1``.

    >>> conv_length(224, 3, 2, "same")
    112
    >>> conv_length(10, 3, 1, "valid", dilation=2)
    6
    """
    K = _axis_args(kernel, stride, dilation, owner)
    pair = _explicit_pair(padding, owner)
    n = check_dim(n, "input length", owner)
    if pair is None:
        pair = normalize_padding(padding, owner)
    return _conv_out(n, K, stride, pair, owner)


def _conv_out(n, K, stride, padding, owner=None):
    """The formula of :func:`conv_length` on checked arguments (the fast path of chains).

    ``K`` is the dilated kernel size, ``padding`` a lower-case padding name or an
    explicit ``(lo, hi)`` pair of ints and ``n`` a checked size.
    """
    if n is None:
        return None
    if padding == "valid":
        padded = n
    elif padding.__class__ is str:
        return ceildiv(n, stride)
    else:
        padded = n + padding[0] + padding[1]
    if padded.__class__ is not int or padded < K:
        # symbols record the condition; a short int raises (the message is built only then)
        padded = at_least(padded, K, f"padded input length (dilated kernel size {K})", owner)
    return (padded - K) // stride + 1


def conv_padding(n, kernel, stride=1, padding="valid", dilation=1, *, owner=None):
    """The explicit zero padding ``(lo, hi)`` that makes a ``valid`` convolution match ``padding``.

    ``valid``: ``(0, 0)``. ``causal``: ``(K - 1, 0)``. ``same`` (TensorFlow):
    ``total = max((ceil(n/s) - 1)*s + K - n, 0)``, ``lo = total // 2``,
    ``hi = total - lo`` (the odd extra goes at the end). With ``s == 1`` the
    total is ``K - 1`` whatever ``n``; otherwise an unknown ``n`` gives
    ``(None, None)``.

    >>> conv_padding(5, 4, 1, "same")
    (1, 2)
    >>> conv_padding(7, 3, 2, "same")
    (1, 1)
    """
    K = _axis_args(kernel, stride, dilation, owner)
    pair = _explicit_pair(padding, owner)
    if pair is not None:
        return pair
    padding = normalize_padding(padding, owner)
    return _conv_pad(check_dim(n, "input length", owner), K, stride, padding, owner)


def _conv_pad(n, K, stride, padding, owner=None):
    """The formula of :func:`conv_padding` on checked arguments (``K`` dilated)."""
    if padding.__class__ is not str:
        return padding
    if padding == "valid":
        return (0, 0)
    if padding == "causal":
        return (K - 1, 0)
    if stride == 1:
        total = K - 1
    elif n is None:
        return (None, None)
    else:
        # With n = q*s - r (0 <= r < s) the unclipped total is K - s + r, which is
        # never negative when K >= s: no max() needed, so symbols stay affine.
        total = (ceildiv(n, stride) - 1) * stride + K - n
        if K < stride:
            total = smax(total, 0, "'same' padding total", owner)
    lo = total // 2
    return (lo, total - lo)


def _transpose_padding_arg(padding, owner):
    return normalize_padding(padding, owner, allowed=("valid", "same"))


def _check_output_padding(output_padding, stride, owner):
    if output_padding is None:
        return None
    if not is_int(output_padding):
        raise shape_error(owner, f"output_padding must be an int or None, got {output_padding!r}",
                          ShapeTypeError)
    if output_padding < 0 or output_padding >= stride:
        raise shape_error(owner, f"output_padding must be >= 0 and smaller than the stride "
                                 f"{stride}, got {output_padding}")
    return output_padding


def conv_transpose_length(n, kernel, stride=1, padding="valid", output_padding=None,
                          dilation=1, *, owner=None):
    """Output length of a transposed convolution (Keras 2 ``deconv_length``).

    Without ``output_padding`` (``p``): ``valid`` ``n*s + max(K - s, 0)``,
    ``same`` ``n*s``. With it: ``(n - 1)*s + K - 2*pad + p`` where ``pad`` is
    ``0`` for ``valid`` and ``K // 2`` for ``same``. ``0 <= p < s``.

    >>> conv_transpose_length(112, 3, 2, "same")
    224
    >>> conv_transpose_length(5, 3, 2, "valid", output_padding=1)
    12
    """
    K = _axis_args(kernel, stride, dilation, owner)
    padding = _transpose_padding_arg(padding, owner)
    output_padding = _check_output_padding(output_padding, stride, owner)
    n = check_dim(n, "input length", owner)
    return _conv_transpose_out(n, kernel, K, stride, padding, output_padding, owner)


def _conv_transpose_out(n, kernel, K, stride, padding, output_padding, owner=None):
    """The formula of :func:`conv_transpose_length` on checked arguments (``K`` dilated)."""
    if n is None:
        return None
    if n.__class__ is not int or n < 1:
        n = at_least(n, 1, "transposed convolution input length", owner)
    if output_padding is None:
        extra = max(K - stride, 0) if padding == "valid" else 0
        return n * stride + extra
    pad = 0 if padding == "valid" else K // 2
    out = (n - 1) * stride + K - 2 * pad + output_padding
    if is_int(out) and out < 1:
        raise shape_error(owner, f"transposed convolution of length {n} with kernel {kernel}, "
                                 f"padding 'same' and output_padding {output_padding} "
                                 f"has an empty output (length {out})")
    if out.__class__ is int:
        return out
    # Only 'same' with an even K and p = 0 can be empty ((n-1)*s for n = 1).
    return at_least(out, 1, "transposed convolution output length", owner)


def conv_transpose_padding(kernel, stride, padding, output_padding=None, dilation=1, n=None,
                           *, owner=None):
    """Padding ``(lo, hi)`` of the direct convolution equal to a transposed convolution.

    A transposed convolution (the gradient of a convolution, as TensorFlow's
    ``conv2d_transpose`` with Keras' output length ``L``) equals:

    1. insert ``s - 1`` zeros between input samples (length ``(n-1)*s + 1``),
    2. pad ``lo`` zeros before and ``hi`` after (negative = crop),
    3. run a stride-1 convolution with dilation ``d`` and the spatially
       flipped kernel (``in``/``out`` channels swapped).

    With ``P`` the before-padding of the forward convolution that TensorFlow
    derives from ``L`` (``0`` for ``valid``; for ``same`` half, rounded down,
    of ``max((ceil(L/s)-1)*s + K - L, 0)``): ``lo = K - 1 - P`` and
    ``hi = L - 1 - (n-1)*s + P``. The result does not depend on ``n``
    (``n`` is only validated); closed forms are in docs/shapes.md.

    >>> conv_transpose_padding(3, 2, "same")
    (2, 1)
    >>> conv_transpose_padding(3, 2, "valid", output_padding=1)
    (2, 3)
    """
    K = _axis_args(kernel, stride, dilation, owner)
    padding = _transpose_padding_arg(padding, owner)
    p = _check_output_padding(output_padding, stride, owner)
    check_dim(n, "input length", owner)
    return _conv_transpose_pad(K, stride, padding, p)


def _conv_transpose_pad(K, s, padding, p):
    """The formula of :func:`conv_transpose_padding` on checked arguments (``K`` dilated)."""
    # The closed forms below equal K - 1 - P and L - 1 - (n-1)*s + P for every n
    # (derived in docs/shapes.md; tests compare them with a scatter-add through L).
    # They are used even when n is known, so that a block of any length (the Dask
    # device asks per block) gets the same answer.
    if p is None:
        if padding == "valid":
            return (K - 1, max(K - 1, s - 1))
        P = max(K - s, 0) // 2
        return (K - 1 - P, s - 1 + P)
    if padding == "valid":
        return (K - 1, K - 1 + p)
    # 'same' with p: L = (n-1)*s + K % 2 + p, so ceil(L/s) = n except when K is even
    # and p == 0, where it is n - 1 (TensorFlow itself rejects that case at run time).
    if K % 2 == 0 and p == 0:
        P = max(K - s, 0) // 2
    else:
        P = max(2 * (K // 2) - p, 0) // 2
    return (K - 1 - P, K % 2 + p - 1 + P)


def conv_transpose_output_padding(n, kernel, stride=1, padding="valid", dilation=1, *,
                                  owner=None):
    """The ``output_padding`` that makes a transposed convolution undo ``conv_length``.

    Returns ``p`` (an int, or ``None`` meaning "leave it inferred") such that
    ``conv_transpose_length(conv_length(n, ...), ..., output_padding=p) == n``.
    ``valid``: ``p = (n - K) mod s``. ``same``: ``p = n - (ceil(n/s) - 1)*s - K % 2``,
    except that ``p == s`` (``K`` even, ``s`` divides ``n``) gives ``None``, whose
    inferred length ``ceil(n/s)*s`` is ``n``.

    >>> conv_transpose_output_padding(7, 3, 2, "valid")
    0
    >>> conv_transpose_output_padding(8, 3, 2, "valid")
    1
    """
    K = _axis_args(kernel, stride, dilation, owner)
    padding = _transpose_padding_arg(padding, owner)
    n = check_dim(n, "input length", owner)
    if n is None:
        return None
    if padding == "valid":
        n = at_least(n, K, f"input length (dilated kernel size {K})", owner)
        return (n - K) - ((n - K) // stride) * stride
    n = at_least(n, 1, "input length", owner)
    p = n - (ceildiv(n, stride) - 1) * stride - K % 2
    if K % 2 == 1 or stride == 1:
        # K odd: p in [0, s-1]. s == 1: p = 1 - K % 2 = 1 >= s only for K even -> None.
        if K % 2 == 0:
            return None
        return p
    if not is_int(p):
        raise shape_error(owner, "the output_padding that inverts a 'same' convolution with an "
                                 f"even kernel depends on whether {stride} divides {n}; "
                                 "bind the symbols first")
    return None if p == stride else p


def pool_length(n, pool_size, stride=None, padding="valid", *, owner=None):
    """Output length of pooling: ``conv_length`` with ``k = pool_size``, ``s = stride or pool_size``."""
    padding = normalize_padding(padding, owner, allowed=("valid", "same"))
    return conv_length(n, pool_size, pool_size if stride is None else stride, padding,
                       owner=owner)


def crop_length(n, lo, hi, *, owner=None):
    """``n - lo - hi``; the cropping must leave at least one sample."""
    return _crop_out(check_dim(n, "input length", owner), lo, hi, owner)


def _crop_out(n, lo, hi, owner=None):
    """The formula of :func:`crop_length` on a checked size."""
    if n is None:
        return None
    if n.__class__ is not int or n <= lo + hi:
        n = at_least(n, lo + hi + 1, f"length of the axis cropped by ({lo}, {hi})", owner)
    return n - lo - hi


def pad_length(n, lo, hi, *, owner=None):
    """``n + lo + hi`` (zero padding)."""
    return _pad_out(check_dim(n, "input length", owner), lo, hi)


def _pad_out(n, lo, hi):
    """The formula of :func:`pad_length` on a checked size."""
    return None if n is None else n + lo + hi


def upsample_length(n, size, *, owner=None):
    """``n * size`` (nearest or bilinear up-sampling by an integer factor)."""
    _positive(size, "size", owner)
    return _upsample_out(check_dim(n, "input length", owner), size)


def _upsample_out(n, size):
    """The formula of :func:`upsample_length` on a checked size."""
    return None if n is None else n * size
