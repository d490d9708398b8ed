"""Utilities around models: pictures of a model's graph and of a layer chain's receptive field.

Pure Python (no Graphviz needed): the SVG is written here. Keras users know
:func:`plot_model` and :func:`model_to_dot` from ``keras.utils``.
"""

from cthulhu.utils.receptive_field import plot_receptive_field
from cthulhu.utils.vis_utils import Drawing, model_to_dot, plot_model

__all__ = ["Drawing", "model_to_dot", "plot_model", "plot_receptive_field"]
