"""The catalog of cthulhu's layers: one row per public layer (a public alias).

Every row gives a layer's cthulhu name, its Keras 2 and Keras 1 class names,
its shape kind and spatial rank, its documented constructor signature and the
module that defines it. The catalog itself lives in the shape algebra
(:mod:`cthulhu.shapes.catalog`, pure data that imports no layer); this module
re-exports it under a shorter name.

>>> from cthulhu.catalog import CATALOG, lookup
>>> lookup("Conv3DTranspose").name, CATALOG["Daoloth"].keras
('Cthalpa3DTranspose', ('Dense',))
"""

from cthulhu.shapes.catalog import CATALOG, REQUIRED, LayerRow, keras_names, lookup

__all__ = ["CATALOG", "REQUIRED", "LayerRow", "lookup", "keras_names"]
