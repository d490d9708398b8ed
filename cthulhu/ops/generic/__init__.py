"""The generic implementation of every heavy op, written only against the Array API standard.

It runs for any compliant library (tested with ``array-api-strict`` and with
PyTorch through ``array-api-compat``) and is the fallback whenever no device
plugin serves an array's namespace, or a plugin declines a call. It is also
the reference the fast plugins are compared with in the tests (``Op.reference``).

Each function follows the plugin contract (``docs/internals.md``): ``(x, *weights,
geometry=...)`` with the call's resolved geometry, no epilogue (the op applies it).
"""

from cthulhu.ops.generic.conv import conv, conv_transpose, depthwise_conv, separable_conv
from cthulhu.ops.generic.misc import bilinear_taps, matmul, pad, upsample
from cthulhu.ops.generic.pool import global_pool, pool

__all__ = ["bilinear_taps", "conv", "conv_transpose", "depthwise_conv", "global_pool", "matmul",
           "pad", "pool", "separable_conv", "upsample"]
