"""Developer sessions: ``nox -s tests``, ``nox -s lint``, ``nox -s docs``, ``nox -s bench``."""

import nox

nox.options.sessions = ["tests", "lint"]


@nox.session
def tests(session):
    session.install("-e", ".[test]")
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session):
    session.install("ruff>=0.5")
    session.run("ruff", "check", "cthulhu", "tests", "benchmarks", "noxfile.py")


@nox.session
def docs(session):
    """Run every Python example in docs/*.md and the docstring examples."""
    session.install("-e", ".[test]")
    session.run(
        "python", "-m", "pytest", "tests/test_docs.py", "tests/layers/test_docs_layers.py",
        "tests/engine/test_docs_models.py", "tests/shapes/test_shapes_doctests.py",
        "tests/shapes/test_symbolic.py", "tests/test_doc_examples.py", *session.posargs,
    )


@nox.session
def bench(session):
    session.install("-e", ".[test,bench]")
    session.run("python", "-m", "benchmarks", *session.posargs)
