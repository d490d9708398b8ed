"""Every cthulhu layer, under its cthulhu name (see ``docs/layers.md``).

=========================================  =====================================
cthulhu                                    Keras 2
=========================================  =====================================
``Cthalpa1D/2D/3D``                        ``Conv1D/2D/3D``
``Cthalpa1D/2D/3DTranspose``               ``Conv1D/2D/3DTranspose``
``SeparableCthalpa1D/2D/3D``               ``SeparableConv1D/2D`` (3D: cthulhu's)
``DepthwiseCthalpa1D/2D/3D``               ``DepthwiseConv1D/2D`` (3D: cthulhu's)
``UbboSathla1D/2D/3D``                     ``UpSampling1D/2D/3D``
``Xexanoth1D/2D/3D``                       ``ZeroPadding1D/2D/3D``
``Daoloth``                                ``Dense``
``Azatoth``                                ``Activation``
``Darkness``, ``SpatialDarkness1D/2D/3D``  ``Dropout``, ``SpatialDropout1D/2D/3D``
``LuKthu``                                 ``Lambda``
``Laldagorth``                             ``LSTM``
``TheHydra``                               ``Embedding``
=========================================  =====================================

``Cropping1D/2D/3D``, ``Flatten``, ``Input``, ``Reshape``, ``Permute``,
``RepeatVector``, ``ActivityRegularization`` and ``Masking`` keep their Keras names,
as do the layers Keras 2 added beyond the docs: ``BatchNormalization``,
``LayerNormalization``; the merge layers ``Concatenate``, ``Add``, ``Subtract``,
``Multiply``, ``Average``, ``Maximum``, ``Minimum``, ``Dot`` and their functional
forms ``concatenate``, ``add``, ...; ``LeakyReLU``, ``PReLU``, ``ELU``,
``ThresholdedReLU``, ``ReLU``, ``Softmax``; ``GaussianNoise``, ``GaussianDropout``,
``AlphaDropout``; ``MaxPooling1D/2D/3D``, ``AveragePooling1D/2D/3D``,
``GlobalMaxPooling1D/2D/3D``, ``GlobalAveragePooling1D/2D/3D``.
"""

from cthulhu.engine.base_layer import Layer
from cthulhu.engine.input_layer import Input, InputLayer
from cthulhu.layers.advanced_activations import (
    ELU,
    LeakyReLU,
    PReLU,
    ReLU,
    Softmax,
    ThresholdedReLU,
)
from cthulhu.layers.convolutional import Cthalpa1D, Cthalpa2D, Cthalpa3D
from cthulhu.layers.convolutional_transpose import (
    Cthalpa1DTranspose,
    Cthalpa2DTranspose,
    Cthalpa3DTranspose,
)
from cthulhu.layers.core import (
    ActivityRegularization,
    Azatoth,
    Daoloth,
    Flatten,
    Masking,
    Permute,
    RepeatVector,
    Reshape,
)
from cthulhu.layers.dropout import Darkness, SpatialDarkness1D, SpatialDarkness2D, SpatialDarkness3D
from cthulhu.layers.embeddings import TheHydra
from cthulhu.layers.lukthu import LuKthu
from cthulhu.layers.merge import (
    Add,
    Average,
    Concatenate,
    Dot,
    Maximum,
    Minimum,
    Multiply,
    Subtract,
    add,
    average,
    concatenate,
    dot,
    maximum,
    minimum,
    multiply,
    subtract,
)
from cthulhu.layers.noise import AlphaDropout, GaussianDropout, GaussianNoise
from cthulhu.layers.normalization import BatchNormalization, LayerNormalization
from cthulhu.layers.pooling import (
    AveragePooling1D,
    AveragePooling2D,
    AveragePooling3D,
    GlobalAveragePooling1D,
    GlobalAveragePooling2D,
    GlobalAveragePooling3D,
    GlobalMaxPooling1D,
    GlobalMaxPooling2D,
    GlobalMaxPooling3D,
    MaxPooling1D,
    MaxPooling2D,
    MaxPooling3D,
)
from cthulhu.layers.recurrent import Laldagorth
from cthulhu.layers.reshaping import (
    Cropping1D,
    Cropping2D,
    Cropping3D,
    UbboSathla1D,
    UbboSathla2D,
    UbboSathla3D,
    Xexanoth1D,
    Xexanoth2D,
    Xexanoth3D,
)
from cthulhu.layers.separable import (
    DepthwiseCthalpa1D,
    DepthwiseCthalpa2D,
    DepthwiseCthalpa3D,
    SeparableCthalpa1D,
    SeparableCthalpa2D,
    SeparableCthalpa3D,
)

__all__ = [
    "Layer", "Input", "InputLayer",
    "Cthalpa1D", "Cthalpa2D", "Cthalpa3D", "Cthalpa2DTranspose", "Cthalpa3DTranspose",
    "SeparableCthalpa1D", "SeparableCthalpa2D", "DepthwiseCthalpa2D",
    "Cthalpa1DTranspose", "DepthwiseCthalpa1D", "DepthwiseCthalpa3D", "SeparableCthalpa3D",
    "Cropping1D", "Cropping2D", "Cropping3D", "UbboSathla1D", "UbboSathla2D", "UbboSathla3D",
    "Xexanoth1D", "Xexanoth2D", "Xexanoth3D",
    "Daoloth", "Azatoth", "Darkness", "SpatialDarkness1D", "SpatialDarkness2D",
    "SpatialDarkness3D", "Flatten", "Reshape", "Permute", "RepeatVector", "LuKthu",
    "ActivityRegularization", "Masking", "Laldagorth", "TheHydra",
    "BatchNormalization", "LayerNormalization",
    "Concatenate", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Dot",
    "LeakyReLU", "PReLU", "ELU", "ThresholdedReLU", "ReLU", "Softmax",
    "GaussianNoise", "GaussianDropout", "AlphaDropout",
    "MaxPooling1D", "MaxPooling2D", "MaxPooling3D", "AveragePooling1D", "AveragePooling2D",
    "AveragePooling3D", "GlobalMaxPooling1D", "GlobalMaxPooling2D", "GlobalMaxPooling3D",
    "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalAveragePooling3D",
    "concatenate", "add", "subtract", "multiply", "average", "maximum", "minimum", "dot",
]
