"""The optional parts of cthulhu: which modules each extra brings, and what to install.

The distribution on the package index is ``cthulhu-layers`` (``cthulhu`` there is an
unrelated project); the import name is ``cthulhu``. Every install hint cthulhu prints
comes from :func:`install_hint`, so it names the right distribution. Standard library
only: the command line checks extras before it imports anything heavy.
"""

from __future__ import annotations

import importlib.util

DISTRIBUTION = "cthulhu-layers"

#: extra -> the top-level modules it installs (pyproject.toml's optional dependencies;
#: tests/test_packaging.py checks that the two agree).
EXTRAS = {
    "dask": ("dask", "distributed", "zarr", "h5py", "tqdm"),
    "keras": ("h5py",),
    "cuda12": ("cupy",),
    "cuda13": ("cupy",),
}

#: what a missing module tells the user to install
_EXTRA_OF_MODULE = {"dask": "dask", "distributed": "dask", "zarr": "dask", "h5py": "keras",
                    "tqdm": "dask", "cupy": "cuda12"}


class MissingExtraError(ModuleNotFoundError):
    """An optional part of cthulhu is used without its extra installed."""


def install_hint(extra: str) -> str:
    """The command that installs ``extra``, e.g. ``pip install "cthulhu-layers[dask]"``."""
    if extra in ("cuda12", "cuda13"):
        return (f'pip install "{DISTRIBUTION}[cuda12]" (CUDA 12) or '
                f'"{DISTRIBUTION}[cuda13]" (CUDA 13)')
    return f'pip install "{DISTRIBUTION}[{extra}]"'


def missing_modules(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (nothing is imported)."""
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; expected one of {sorted(EXTRAS)}")
    return [name for name in EXTRAS[extra] if importlib.util.find_spec(name) is None]


def require(extra: str, what: str) -> None:
    """Raise :class:`MissingExtraError` (one line: what needs it, what to install) when
    a module of ``extra`` is missing."""
    missing = missing_modules(extra)
    if missing:
        error = MissingExtraError(
            f"{what} needs the '{extra}' extra ({', '.join(missing)} not installed): "
            f"{install_hint(extra)}, or in a source checkout: pip install -e \".[{extra}]\"")
        error.name = missing[0]
        raise error


def explain_missing(exc: ModuleNotFoundError) -> str | None:
    """One line for a ``ModuleNotFoundError`` of a module some extra provides, else ``None``."""
    top = (exc.name or "").partition(".")[0]
    extra = _EXTRA_OF_MODULE.get(top)
    if extra is None:
        return None
    return f"{top} is not installed; it comes with the '{extra}' extra: {install_hint(extra)}"
