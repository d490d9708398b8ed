"""The models: ``Pile`` (a stack of layers), ``Lump`` (a graph of layers), saving and loading.

Examples
--------
>>> from cthulhu.models import Pile, Lump, load_model, save_model
"""

from cthulhu.engine.lump import Lump
from cthulhu.engine.network import Model
from cthulhu.engine.pile import Pile
from cthulhu.saving.config import model_from_config
from cthulhu.saving.files import load_model, model_from_json, save_model

__all__ = ["Pile", "Lump", "Model", "load_model", "save_model", "model_from_config",
           "model_from_json"]
