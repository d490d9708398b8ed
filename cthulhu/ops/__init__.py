"""The heavy operations, each routed by the device registry (:mod:`cthulhu.devices`).

Every op takes arrays of any Array API library and returns one of the same
library, device and dtype. Each is an object (:class:`cthulhu.ops._op.Op`: ``CONV``,
``MATMUL``, ...; all in :data:`OPS`) that checks its arguments once, builds the
call's geometry with :mod:`cthulhu.shapes` and hands it to a device plugin; the
functions (``conv``, ``matmul``, ...) are thin wrappers around them. The contract is
``docs/internals.md``, section ``cthulhu.ops``; the generic implementations are in
:mod:`cthulhu.ops.generic`. Importing this package imports no array library.
"""

from cthulhu.ops._args import EPILOGUE_ACTIVATIONS, FUSABLE_ACTIVATIONS
from cthulhu.ops._op import Op
from cthulhu.ops.blockwise import BLOCKWISE
from cthulhu.ops.conv import (
    CONV,
    CONV_TRANSPOSE,
    DEPTHWISE_CONV,
    SEPARABLE_CONV,
    conv,
    conv_transpose,
    depthwise_conv,
    separable_conv,
)
from cthulhu.ops.dense import MATMUL, matmul
from cthulhu.ops.pool import GLOBAL_POOL, POOL, global_pool, pool
from cthulhu.ops.resample import CROP, PAD, UPSAMPLE, crop, pad, upsample

#: Every op object by its registry name.
OPS = {op.name: op for op in (CONV, CONV_TRANSPOSE, DEPTHWISE_CONV, SEPARABLE_CONV, MATMUL,
                              UPSAMPLE, PAD, CROP, POOL, GLOBAL_POOL, BLOCKWISE)}

__all__ = [
    "BLOCKWISE", "CONV", "CROP", "CONV_TRANSPOSE", "DEPTHWISE_CONV", "EPILOGUE_ACTIVATIONS",
    "FUSABLE_ACTIVATIONS", "GLOBAL_POOL", "MATMUL", "OPS", "Op", "PAD", "POOL",
    "SEPARABLE_CONV", "UPSAMPLE", "conv", "conv_transpose", "crop", "depthwise_conv",
    "global_pool", "matmul", "pad", "pool", "separable_conv", "upsample",
]
