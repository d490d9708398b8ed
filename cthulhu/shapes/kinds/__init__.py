"""Layer kinds: one :class:`Kind` object per family of layers, registered in :data:`KINDS`.

=============== ========= =======================================================
kind            role      module
=============== ========= =======================================================
conv            window    :mod:`.window` (``Cthalpa1D/2D/3D``; ``causal`` in 1D)
depthwise_conv  window    :mod:`.window` (``DepthwiseCthalpa2D``)
separable_conv  window    :mod:`.window` (``SeparableCthalpa1D/2D``)
conv_transpose  window    :mod:`.window` (``Cthalpa2D/3DTranspose``)
pooling         window    :mod:`.pooling` (padding excluded from the windows)
global_pooling  whole     :mod:`.pooling`
upsampling      resample  :mod:`.resample` (``UbboSathla1D/2D/3D``)
zero_padding    pad       :mod:`.resample` (``Xexanoth1D/2D/3D``)
cropping        crop      :mod:`.resample` (``Cropping1D/2D/3D``)
pointwise       pointwise :mod:`.pointwise` (activations, dropout, masking, ...)
spatial_dropout pointwise :mod:`.pointwise` (``SpatialDarkness1D/2D/3D``)
dense           pointwise :mod:`.pointwise` (``Daoloth``; on channels_last, else whole)
along_axis      pointwise :mod:`.axes` (``BatchNormalization``, ``LayerNormalization``,
                          ``Softmax``: along the channels, else whole)
per_position    pointwise :mod:`.axes` (``PReLU``: every spatial axis shared, else whole)
merge           merge     :mod:`.merge` (``Add``, ``Multiply``, ...: element-wise, several
                          inputs; whole when an input broadcasts along a spatial axis)
concatenate     merge     :mod:`.merge` (along the channels, else whole)
dot             whole     :mod:`.merge` (``Dot``: Keras' ``batch_dot`` of two inputs)
flatten, reshape, permute, repeat_vector, embedding, lstm: whole, :mod:`.whole`
opaque          opaque    :mod:`.whole` (known by its own ``compute_output_shape``)
=============== ========= =======================================================

See :mod:`.base` for what a kind owns, and docs/shapes.md ("Adding a kind").
"""

from . import axes, merge, pointwise, pooling, resample, whole, window  # noqa: F401  (they register)
from .base import KINDS, ROLES, Kind, SpatialKind, get_kind, register

__all__ = ["Kind", "SpatialKind", "KINDS", "ROLES", "get_kind", "register"]
