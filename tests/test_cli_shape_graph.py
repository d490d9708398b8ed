"""``cthulhu shape`` on graphs written as a ``Lump`` is built (skip connections).

The graph text is checked against the real thing: the same U-Net built from
layer objects (``Lump``) gives every node's output shape (``model.graph()``) and
the halo the fused runner plans with (``cthulhu.blockwise.GraphProgram``), and a
chain written as a graph prints the chain's own spatial analysis.
"""

import subprocess
import sys

import pytest

from cthulhu import layers as L
from cthulhu.cli import main
from cthulhu.models import Lump
from cthulhu.shapes import ShapeError
from cthulhu.shapes.parse import is_graph, parse_graph

UNET = """
skip = Cthalpa3D(4, 3, padding='same', activation='relu')(x)
down = Cthalpa3D(8, 2, strides=2)(skip)
down = Cthalpa3D(8, 3, padding='same')(down)
bottom = Cthalpa3D(16, 3, strides=2, padding='same')(down)
up = Cthalpa3DTranspose(8, 3, strides=2, padding='same')(bottom)
half = Cthalpa3D(8, 3, padding='same')(Concatenate()([down, up]))
full = Cthalpa3D(4, 2, padding='same')(UbboSathla3D(2)(half))
out = Cthalpa3D(1, 1, activation='sigmoid')(Add()([skip, full]))
"""


def _unet_lump():
    """The graph of UNET, from layer objects (``Lump``)."""
    x = L.Input(shape=(None, None, None, 2))
    skip = L.Cthalpa3D(4, 3, padding="same", activation="relu")(x)
    down = L.Cthalpa3D(8, 2, strides=2)(skip)
    down = L.Cthalpa3D(8, 3, padding="same")(down)
    bottom = L.Cthalpa3D(16, 3, strides=2, padding="same")(down)
    up = L.Cthalpa3DTranspose(8, 3, strides=2, padding="same")(bottom)
    half = L.Cthalpa3D(8, 3, padding="same")(L.Concatenate()([down, up]))
    full = L.Cthalpa3D(4, 2, padding="same")(L.UbboSathla3D(2)(half))
    out = L.Cthalpa3D(1, 1, activation="sigmoid")(L.Add()([skip, full]))
    return Lump(x, out)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _rows(out):
    """node name -> (output shape text, receptive field text, jump text) from the table."""
    lines = out.split("\n\n")[0].splitlines()
    header = lines[0]
    starts = [header.index(c) for c in ("node", "layer", "inputs", "output shape",
                                       "receptive field", "jump")]
    rows = {}
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        rows[cells[0]] = cells
    return rows


def test_unet_text_matches_the_lump_of_layer_objects(capsys):
    from cthulhu.blockwise import GraphProgram

    shape = (1, 24, 32, 16, 2)
    code, out, err = run(capsys, "shape", UNET, "--input", str(shape))
    assert code == 0 and err == ""
    model = _unet_lump()
    program = GraphProgram(model, [shape])
    halo = " x ".join(str(h) for h in program.halo)
    assert f"halo (before, after):  {halo}" in out
    rf = " x ".join(str(a.receptive_field) for a in program.axis_info)
    assert f"receptive field:       {rf}" in out
    # every node's output shape, in graph order, is the model's
    rows = _rows(out)
    names = ["skip", "down", "down_2", "bottom", "up", "concatenate_1", "half",
             "ubbosathla3d_1", "full", "add_1", "out"]
    assert list(rows) == ["x", *names]
    want = [program.graph.shapes[n] for n in program.graph.order]   # from the layer objects
    assert [rows[name][3] for name in names] == [str(s) for s in want]
    import numpy as np

    assert model.predict(np.zeros(shape, np.float32)).shape == want[-1]
    assert rows["concatenate_1"][2] == "down_2, up"
    assert rows["add_1"][2] == "skip, full"
    assert rows["bottom"][5] == "4 x 4 x 4" and rows["out"][5] == "1 x 1 x 1"


def test_symbolic_unet_keeps_formulas_and_requirements(capsys):
    code, out, _ = run(capsys, "shape", UNET, "--input", "b, d, h, w, 2")
    assert code == 0
    assert "(b, floor(d/2), floor(h/2), floor(w/2), 8)" in _rows(out)["down"][3]
    assert "requires:              d >= 2" in out
    code, out, err = run(capsys, "shape", UNET, "--input", "b, d, h, w, 2", "--bind", "d=31",
                         "h=32", "w=32")
    assert code == 2 and out == "" and "Concatenate" in err and "differ" in err


@pytest.mark.parametrize("chain, shape", [
    ("Cthalpa3D(8, 3) | UbboSathla3D(2) | Cropping3D(1)", "b, d, h, w, 1"),
    ("Cthalpa2D(4, 3, strides=2, padding='same') | Cthalpa2DTranspose(2, 3, strides=2) | "
     "Xexanoth2D(((1, 2), (0, 3))) | Cthalpa2D(1, 5, dilation_rate=2)", "(1, 40, 33, 1)"),
    ("Cthalpa1D(2, 3, padding='causal') | Cthalpa1D(2, 4, strides=3)", "(2, 50, 3)"),
])
def test_a_chain_written_as_a_graph_has_the_chains_analysis(capsys, chain, shape):
    parts = [p.strip() for p in chain.split(" | ")]
    text = "; ".join(f"n{i} = {p}({'x' if i == 0 else f'n{i - 1}'})"
                     for i, p in enumerate(parts))
    code, as_chain, _ = run(capsys, "shape", chain, "--input", shape)
    assert code == 0
    code, as_graph, _ = run(capsys, "shape", text, "--input", shape)
    assert code == 0
    analysis = [line for line in as_chain.split("\n\n")[1].splitlines()
                if not line.startswith("spatial analysis")]
    assert as_graph.split("\n\n")[1].splitlines()[1:] == analysis
    chain_rows = as_chain.split("\n\n")[0].splitlines()[2:]
    graph_rows = _rows(as_graph)
    for i, row in enumerate(chain_rows):   # shapes, receptive fields and jumps per layer
        cells = row.split("  ")
        cells = [c.strip() for c in cells if c.strip()]
        assert graph_rows[f"n{i}"][3:] == cells[2:]


def test_several_inputs_by_name_and_a_final_expression(capsys):
    text = ("f = Cthalpa2D(2, 3, padding='same')(fine)\n"
            "Add()([f, UbboSathla2D(2)(coarse)])")
    code, out, err = run(capsys, "shape", text, "-i", "coarse=b, 16, 15, 2", "-i",
                         "fine=1, 32, 30, 2")
    assert code == 0 and err == ""
    rows = _rows(out)
    assert list(rows) == ["fine", "coarse", "f", "ubbosathla2d_1", "add_1"]
    assert rows["add_1"][3] == "(1, 32, 30, 2)" and rows["ubbosathla2d_1"][3] == "(b, 32, 30, 2)"
    assert rows["ubbosathla2d_1"][4:] == ["-", "-"]      # not read from the first input
    assert "outputs:               add_1" in out
    # the analysis is from the first input the text reads (fine), to the output
    assert "spatial analysis:      from fine to add_1" in out
    assert "halo (before, after):  (1, 1) x (1, 1)" in out


def test_a_graph_that_needs_whole_axes_says_so(capsys):
    text = "a = Cthalpa2D(2, 3)(x); f = Flatten()(a); d = Daoloth(3)(f)"
    code, out, _ = run(capsys, "shape", text, "-i", "(1, 9, 9, 1)")
    assert code == 0
    assert _rows(out)["d"][3] == "(1, 3)" and _rows(out)["a"][4] == "3 x 3"
    assert "spatial analysis of d from x: none (Flatten (node 'f'" in out


@pytest.mark.parametrize("argv, message", [
    (["a = Cthalpa2D(2, 3)", "-i", "1, 8, 8, 1"], "Layer(...)(inputs)"),
    (["a = Cthalpa2D(2, 3)(x, y)", "-i", "1, 8, 8, 1"], "takes one input"),
    (["a = Add()([[x, x]])", "-i", "1, 8, 8, 1"], "a list of inputs holds names"),
    (["a = Add()([])", "-i", "1, 8, 8, 1"], "a list of inputs holds names"),
    (["a = Cthalpa2D(2, 3)(x + 1)", "-i", "1, 8, 8, 1"], "an input must be a name"),
    (["a, b = Cthalpa2D(2, 3)(x)", "-i", "1, 8, 8, 1"], "expected 'name = Layer"),
    (["a = Cthalpa2D(2, 3)(x); import os", "-i", "1, 8, 8, 1"], "expected 'name = Layer"),
    (["a = __import__('os').system('true')(x)", "-i", "1, 8, 8, 1"], "expected a layer call"),
    (["a = Cthalpa2D(2, __import__('os'))(x)", "-i", "1, 8, 8, 1"], "literals"),
    (["a = Nyarlathotep(2)(x)", "-i", "1, 8, 8, 1"], "unknown layer 'Nyarlathotep'"),
    (["a = Cthalpa2D(2, 3)(x); b = Add()([a, y])", "-i", "1, 8, 8, 1"], "NAME=SHAPE"),
    (["a = Cthalpa2D(2, 3)(x)", "-i", "y=1, 8, 8, 1"], "no input 'y'"),
    (["a = Cthalpa2D(2, 3)(x); b = Add()([a, y])", "-i", "x=1, 8, 8, 1"], "no shape for"),
    (["a = Cthalpa2D(2, 3)(x)", "-i", "x=1, 8, 8, 1", "-i", "x=1, 8, 8, 1"], "given twice"),
    (["a = Cthalpa2D(2, 3)(x)", "-i", "1, 8, 8, 1", "--svg", "g.svg"], "--svg draws chains"),
    (["a = Cthalpa2D(2, 3)(x); b = Add()([a, x])", "-i", "1, 8, 8, 1"], "sizes differ"),
    (["Cthalpa2D(2, 3)", "-i", "1, 8, 8, 1", "-i", "1, 8, 8, 1"], "a chain has one input"),
])
def test_graph_errors_are_one_line(capsys, argv, message):
    code, out, err = run(capsys, "shape", *argv)
    assert code == 2 and out == ""
    assert err.startswith("cthulhu shape: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_parse_graph_ids_rebinding_and_nesting():
    g = parse_graph("x = Cthalpa1D(2, 3)(x)\nx = Add()([x, Cthalpa1D(2, 1)(x)])\n"
                    "y = Cthalpa1D(1, 1)(x)")
    assert [(n, s) for n, _, s in g.nodes] == [("x_2", "x"), ("cthalpa1d_1", "x_2"),
                                                ("x_3", ["x_2", "cthalpa1d_1"]), ("y", "x_3")]
    assert g.inputs == ["x"] and g.outputs == ["y"]
    assert g.labels["cthalpa1d_1"] == "Cthalpa1D(2, 1)"
    assert is_graph("a = Cthalpa1D(2, 3)(x)") and not is_graph("Cthalpa1D(2, 3) | Flatten()")
    assert not is_graph("Cthalpa1D(2, 3, padding='same')")
    with pytest.raises(ShapeError, match="a layer applied to its inputs"):
        parse_graph("a = Cthalpa1D(2, 3)(Cthalpa1D(2, 3))")


def test_graph_text_imports_no_numpy():
    code = ("import sys\nfrom cthulhu.cli import main\n"
            f"main(['shape', {UNET!r}, '--input', 'b, d, h, w, 1'])\n"
            "print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def _doc_examples(page):
    """``(argv, shown lines)`` of each ``$ cthulhu shape "a = ..."`` example (a graph) in a
    docs page: the command (over several lines when a quote spans them) and the output
    lines printed under it (``...`` marks a cut)."""
    import shlex
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "docs" / page).read_text(encoding="utf-8")
    blocks, current = [], None
    for line in text.splitlines():      # fenced blocks, opening and closing fences paired
        if line.startswith("```"):
            if current is None:
                current = []
            else:
                blocks.append(current)
                current = None
        elif current is not None:
            current.append(line)
    found = []
    for lines in blocks:
        if not lines or not lines[0].startswith("$ cthulhu shape") or \
                "=" not in "\n".join(lines).split("--input")[0]:
            continue
        for end in range(len(lines)):   # the command ends where its quotes close
            try:
                argv = shlex.split("\n".join(lines[:end + 1])[2:])
                break
            except ValueError:
                continue
        found.append((argv[1:], lines[end + 1:]))
    return found


@pytest.mark.parametrize("page", ["shapes.md", "out-of-core.md"])
def test_the_docs_graph_examples_print_what_they_show(capsys, page):
    examples = _doc_examples(page)
    assert examples, f"docs/{page} lost its cthulhu shape graph example"
    for argv, shown in examples:
        code, out, err = run(capsys, *argv)
        assert code == 0 and err == ""
        if "..." in shown:              # an excerpt: the lines shown, in order, at the end
            tail = shown[shown.index("...") + 1:]
            assert out.splitlines()[-len(tail):] == tail
        else:
            assert out.splitlines() == shown
