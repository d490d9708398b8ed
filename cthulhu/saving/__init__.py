"""Reading (and, later, writing) model files of other libraries: ``cthulhu.saving.keras``.

cthulhu's own file format lives in ``cthulhu.engine.saving``.
"""
