"""Developer sessions: ``nox -s tests``, ``lint``, ``docs``, ``site``, ``install``, ``bench``.

The tools come from the PEP 735 dependency groups of pyproject.toml (nox >= 2025.02.09
reads them; pip needs no ``--group`` support).
"""

import nox

nox.options.sessions = ["tests", "lint"]
PYPROJECT = nox.project.load_toml("pyproject.toml")


def _groups(*names):
    return [req for name in names for req in nox.project.dependency_groups(PYPROJECT, name)]


@nox.session
def tests(session):
    """The test suite, with the PyTorch peer (its comparisons skip without it)."""
    session.install("-e", ".[dask]", *_groups("test", "peer"))
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session):
    session.install(*_groups("lint"))
    session.run("ruff", "check", "cthulhu", "tests", "benchmarks", "noxfile.py", ".ci")


@nox.session
def docs(session):
    """Run every Python example in docs/*.md and the docstring examples."""
    session.install("-e", ".[dask]", *_groups("test"))
    session.run(
        "python", "-m", "pytest", "tests/test_docs.py", "tests/layers/test_docs_layers.py",
        "tests/engine/test_docs_models.py", "tests/shapes/test_shapes_doctests.py",
        "tests/shapes/test_symbolic.py", "tests/test_doc_examples.py",
        "tests/test_docs_pages.py", *session.posargs,
    )


@nox.session
def site(session):
    """Build the documentation site into site/ (warnings fail the build)."""
    session.install(*_groups("docs"))
    session.run("python", "-m", "mkdocs", "build", "--strict", *session.posargs)


@nox.session
def install(session):
    """The slow tests that install cthulhu into fresh virtual environments."""
    session.install("-e", ".[dask]", *_groups("test"))
    session.run("python", "-m", "pytest", "-m", "install", *session.posargs)


@nox.session
def bench(session):
    session.install("-e", ".[dask]", *_groups("test", "bench"))
    session.run("python", "-m", "benchmarks", *session.posargs)
