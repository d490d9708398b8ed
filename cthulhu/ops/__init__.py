"""The heavy operations, each routed by the device registry (:mod:`cthulhu.devices`).

Every op takes arrays of any Array API library and returns one of the same
library, device and dtype. The contract is ``docs/internals.md``, section
``cthulhu.ops``; the generic implementations are in :mod:`cthulhu.ops.generic`.
Importing this package imports no array library.
"""

from cthulhu.ops._args import FUSABLE_ACTIVATIONS
from cthulhu.ops.conv import conv, conv_transpose, depthwise_conv, separable_conv
from cthulhu.ops.dense import matmul
from cthulhu.ops.resample import crop, pad, upsample

__all__ = [
    "FUSABLE_ACTIVATIONS", "conv", "conv_transpose", "crop", "depthwise_conv", "matmul", "pad",
    "separable_conv", "upsample",
]
