"""docs/pictures.md and docs/cli.md: their examples run as written, the error line shown
is the real one, and the pictures in docs/img/ are what the code draws today.

``python tests/test_docs_pages.py`` redraws the pictures after a change to the drawing code.
"""

import contextlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from cthulhu.cli import main

DOCS = Path(__file__).resolve().parents[1] / "docs"


def _blocks(name, language):
    text = (DOCS / name).read_text(encoding="utf-8")
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


@contextlib.contextmanager
def _inside(folder):
    here = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(here)


def _run_python_blocks(name):
    namespace = {"__name__": "docs"}
    for block in _blocks(name, "python"):
        exec(compile(block, f"docs/{name}", "exec"), namespace)
    return namespace


def _shape_command():
    line = next(b for b in _blocks("pictures.md", "console") if "--svg" in b).strip()
    argv = shlex.split(line.removeprefix("$ "))
    assert argv[0] == "cthulhu"
    return argv[1:]


def draw(folder):
    """Make the two pictures of docs/pictures.md in ``folder`` as the page does."""
    folder = Path(folder)
    with _inside(folder):
        _run_python_blocks("pictures.md")
        assert main(_shape_command()) == 0
    return folder / "residual.svg", folder / "receptive-field.svg"


def test_docs_pictures_page_runs_and_its_pictures_are_current(tmp_path, capsys):
    residual, receptive = draw(tmp_path)
    assert "rf.svg" in {p.name for p in tmp_path.iterdir()}
    for made, name in ((residual, "residual.svg"), (receptive, "receptive-field.svg")):
        assert made.read_text() == (DOCS / "img" / name).read_text(), (
            f"docs/img/{name} is out of date: run python tests/test_docs_pages.py")


def test_docs_cli_page_python_block_logs(tmp_path):
    # a fresh interpreter: the registry logs its choice once per array library and process
    block = _blocks("cli.md", "python")[0]
    done = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "cthulhu.devices.registry: INFO: 'numpy' arrays: plugin 'numpy'" in done.stderr


def test_docs_cli_page_missing_extra_line_is_the_real_one(monkeypatch, capsys):
    shown = next(b for b in _blocks("cli.md", "console") if "needs the 'dask' extra" in b)
    command, expected = shown.strip().splitlines()
    for name in ("dask", "distributed", "zarr", "h5py", "tqdm"):
        monkeypatch.setitem(sys.modules, name, None)
    assert main(shlex.split(command.removeprefix("$ "))[1:]) == 2
    assert capsys.readouterr().err.strip() == expected


def test_docs_cli_page_version_line(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    line = capsys.readouterr().out.strip()
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    shown = re.search(r"`(cthulhu \d[^`]*)`", page).group(1)
    # the page shows one Python version; the rest of the line is exact
    assert re.sub(r"Python [\d.]+", "Python X", line) == re.sub(r"Python [\d.]+", "Python X", shown)


if __name__ == "__main__":  # redraw docs/img/
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for made in draw(tmp):
            shutil.copy(made, DOCS / "img" / made.name)
            print(f"wrote docs/img/{made.name}")
