"""The pictures: ``plot_model`` (a model's layer graph) and ``cthulhu shape --svg`` (receptive
field and jump). Checked by parsing the SVG: boxes, arrows, skip lanes, and numbers against
plain-loop references."""

import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from fractions import Fraction

import pytest

from cthulhu.cli import main
from cthulhu.layers import Cthalpa2D, Cthalpa3D, Daoloth, Flatten, Input, LuKthu
from cthulhu.models import Lump, Pile
from cthulhu.utils import model_to_dot, plot_model, plot_receptive_field

SVG = "{http://www.w3.org/2000/svg}"


def _add(name):
    return LuKthu(lambda t: t[0] + t[1], output_shape=lambda s: s[0], name=name)


def _residual():
    x = Input(shape=(32, 32, 8), name="image")
    y = Cthalpa2D(8, 3, padding="same", name="conv_a")(x)
    y = Cthalpa2D(8, 3, padding="same", name="conv_b")(y)
    return Lump(x, _add("skip_add")([x, y]), name="residual")


def _parse(svg_text):
    root = ET.fromstring(svg_text)
    boxes, texts = {}, {}
    for g in root.iter(f"{SVG}g"):
        if g.get("class") == "node":
            rect = g.find(f"{SVG}rect")
            name = g.find(f"{SVG}title").text
            boxes[name] = tuple(float(rect.get(k)) for k in ("x", "y", "width", "height"))
            # runs of spaces are written as space + NBSP, so that renderers keep them
            texts[name] = [t.text.replace("\u00a0", " ") for t in g.iter(f"{SVG}text")]
    edges = {}
    for g in root.iter(f"{SVG}g"):
        if (g.get("class") or "").startswith("edge"):
            edges[(g.get("data-from"), g.get("data-to"))] = (g.get("class"),
                                                             g.find(f"{SVG}path").get("d"))
    return root, boxes, texts, edges


def _points(d):
    numbers = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", d)]
    return list(zip(numbers[0::2], numbers[1::2], strict=True))


def test_plot_model_residual_nodes_edges_and_skip_lane(tmp_path):
    model = _residual()
    drawing = plot_model(model, to_file=tmp_path / "m.svg")
    assert (tmp_path / "m.svg").read_text() == drawing.svg
    root, boxes, texts, edges = _parse(drawing.svg)
    assert set(boxes) == {"image", "conv_a", "conv_b", "skip_add"}
    assert texts["conv_a"] == ["conv_a (Cthalpa2D)", "in:  (None, 32, 32, 8)",
                               "out: (None, 32, 32, 8)"]
    assert texts["image"] == ["image (InputLayer)", "out: (None, 32, 32, 8)"]
    assert texts["skip_add"][1] == "in:  [(None, 32, 32, 8), (None, 32, 32, 8)]"
    assert set(edges) == {("image", "conv_a"), ("conv_a", "conv_b"), ("conv_b", "skip_add"),
                          ("image", "skip_add")}
    skips = {k for k, (cls, _) in edges.items() if cls == "edge skip"}
    assert skips == {("image", "skip_add")}
    # the skip arrow runs right of the boxes it passes, from the image box to the add box
    points = _points(edges[("image", "skip_add")][1])
    lane = max(x for x, _ in points)
    for name in ("conv_a", "conv_b"):
        x, _, w, _ = boxes[name]
        assert lane > x + w
    ix, iy, iw, ih = boxes["image"]
    assert points[0] == pytest.approx((ix + iw, iy + ih / 2), abs=0.1)
    ax, ay, aw, ah = boxes["skip_add"]
    assert points[-1][1] == pytest.approx(ay + ah / 2, abs=0.1)
    assert ax + aw <= points[-1][0] <= ax + aw + 3
    # everything on the canvas, no box over another
    width, height = float(root.get("width")), float(root.get("height"))
    assert lane < width
    rects = list(boxes.values())
    for i, (x, y, w, h) in enumerate(rects):
        assert 0 <= x and x + w <= width and 0 <= y and y + h <= height
        for x2, y2, w2, h2 in rects[i + 1:]:
            assert x + w <= x2 or x2 + w2 <= x or y + h <= y2 or y2 + h2 <= y


def test_plot_model_nested_skips_get_separate_lanes():
    x = Input(shape=(16, 16, 16, 1), name="volume")
    a = Cthalpa3D(4, 3, padding="same", name="enc1")(x)
    b = Cthalpa3D(4, 3, padding="same", name="enc2")(a)
    c = Cthalpa3D(4, 3, padding="same", name="mid")(b)
    d = _add("join2")([b, c])
    e = _add("join1")([a, d])
    _, _, _, edges = _parse(plot_model(Lump(x, e), to_file=None).svg)
    inner = max(x for x, _ in _points(edges[("enc2", "join2")][1]))
    outer = max(x for x, _ in _points(edges[("enc1", "join1")][1]))
    assert outer > inner  # the longer connection goes round the shorter one


def _crosses(segment, box):
    """Whether an axis-parallel segment enters the inside of a box."""
    (x0, y0), (x1, y1) = segment
    bx, by, bw, bh = box
    lo_x, hi_x, lo_y, hi_y = min(x0, x1), max(x0, x1), min(y0, y1), max(y0, y1)
    return lo_x < bx + bw and hi_x > bx and lo_y < by + bh and hi_y > by


def test_plot_model_skip_arrows_cross_no_box():
    # two branches side by side: the left one's skip must not run through the right one
    a, b = Input(shape=(4,), name="left_in"), Input(shape=(4,), name="right_in")
    left = Daoloth(4, name="l2")(Daoloth(4, name="l1")(a))
    right = Daoloth(4, name="r2")(Daoloth(4, name="r1")(b))
    out = _add("final")([_add("join_l")([a, left]), _add("join_r")([b, right])])
    _, boxes, _, edges = _parse(plot_model(Lump([a, b], out), to_file=None).svg)
    skips = {k: d for k, (cls, d) in edges.items() if cls == "edge skip"}
    assert set(skips) == {("left_in", "join_l"), ("right_in", "join_r")}
    for (src, dst), d in skips.items():
        assert d.startswith("M") and "C" not in d and "Q" not in d  # straight segments only
        points = _points(d)
        for segment in zip(points, points[1:], strict=False):
            for name, box in boxes.items():
                if name not in (src, dst):
                    assert not _crosses(segment, box), (src, dst, name, segment)
        # it leaves its source and reaches its target
        sx, sy, sw, sh = boxes[src]
        tx, ty, tw, th = boxes[dst]
        assert sx <= points[0][0] <= sx + sw and sy <= points[0][1] <= sy + sh
        assert tx - 3 <= points[-1][0] <= tx + tw + 3 and ty - 3 <= points[-1][1] <= ty + th


def test_plot_model_pile_and_shared_layer():
    model = Pile([Cthalpa3D(4, 3, input_shape=(16, 16, 16, 1), name="conv"), Flatten(name="flat"),
                  Daoloth(3, name="dense")], name="small")
    _, boxes, texts, edges = _parse(plot_model(model, to_file=None).svg)
    assert list(boxes) == ["small_input", "conv", "flat", "dense"]
    assert texts["conv"][2] == "out: (None, 14, 14, 14, 4)"
    assert texts["flat"][2] == f"out: (None, {14 ** 3 * 4})"
    assert set(edges) == {("small_input", "conv"), ("conv", "flat"), ("flat", "dense")}

    shared = Daoloth(4, name="shared")
    a, b = Input(shape=(4,), name="a"), Input(shape=(4,), name="b")
    model = Lump([a, b], _add("sum")([shared(a), shared(b)]))
    _, boxes, _, edges = _parse(plot_model(model, to_file=None).svg)
    assert sorted(boxes) == ["a", "b", "shared", "sum"]
    assert set(edges) == {("a", "shared"), ("b", "shared"), ("shared", "sum")}


def test_plot_model_dot_text_and_files(tmp_path):
    model = _residual()
    dot = model_to_dot(model)
    assert dot.startswith('digraph "residual" {') and dot.rstrip().endswith("}")
    assert len(re.findall(r"^  n\d+ \[label=", dot, flags=re.M)) == 4
    assert len(re.findall(r"^  n\d+ -> n\d+", dot, flags=re.M)) == 4
    assert "conv_a (Cthalpa2D)\\nin:  (None, 32, 32, 8)" in dot
    plot_model(model, to_file=tmp_path / "m.dot")
    assert (tmp_path / "m.dot").read_text() == dot
    drawing = plot_model(model, to_file=None)
    assert drawing._repr_svg_() == drawing.svg
    if shutil.which("dot") is None:
        with pytest.raises(ValueError, match=r"Graphviz's 'dot' program, which is not installed"):
            plot_model(model, to_file=tmp_path / "m.png")
    else:
        plot_model(model, to_file=tmp_path / "m.png")
        assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_model_bad_arguments():
    with pytest.raises(TypeError, match="plot_model: expected a Pile or a Lump, got Daoloth"):
        plot_model(Daoloth(3), to_file=None)
    with pytest.raises(ValueError, match="rankdir must be 'TB' or 'LR', got 'XY'"):
        plot_model(_residual(), to_file=None, rankdir="XY")


# ---------------------------------------------------------------- receptive field
def _brute_force_1d(layers, n=64):
    """Receptive field and jump by tracing input indices through plain loops.

    ``layers``: ("conv", k, s) or ("up", size). Returns per layer (rf, jump) where rf is
    the span of input samples one middle output sample depends on and jump the input
    distance between neighbouring output samples (averaged over one period).
    """
    deps = [{i} for i in range(n)]  # deps[o] = input samples feeding output o
    results = []
    for layer in layers:
        if layer[0] == "conv":
            _, k, s = layer
            deps = [set().union(*deps[o * s:o * s + k]) for o in range((len(deps) - k) // s + 1)]
        else:
            deps = [deps[o // layer[1]] for o in range(len(deps) * layer[1])]
        mid = len(deps) // 2
        rf = max(deps[mid]) - min(deps[mid]) + 1
        period = 8
        jump = Fraction(min(deps[mid + period]) - min(deps[mid]), period)
        results.append((rf, jump))
    return results


def test_receptive_field_picture_matches_a_plain_loop_trace():
    texts = ["Cthalpa1D(4, 3, strides=2)", "Cthalpa1D(4, 3)", "UbboSathla1D(2)",
             "Cthalpa1D(4, 2, strides=2)"]
    expected = _brute_force_1d([("conv", 3, 2), ("conv", 3, 1), ("up", 2), ("conv", 2, 2)])
    svg = plot_receptive_field(texts, "b, n, 1")
    root = ET.fromstring(svg)
    rows = [g for g in root.iter(f"{SVG}g") if g.get("class") == "layer"]
    assert [g.get("data-layer") for g in rows] == texts
    for g, (rf, jump) in zip(rows, expected, strict=True):
        assert int(g.get("data-receptive-field")) == rf
        num, _, den = g.get("data-jump").partition("/")
        assert Fraction(int(num), int(den or 1)) == jump
        scale = float(g.get("data-scale"))
        bar = next(r for r in g.iter(f"{SVG}rect") if r.get("class") == "rf")
        assert float(bar.get("width")) / scale == pytest.approx(rf, abs=0.01)
        chosen = [c for c in g.iter(f"{SVG}circle") if c.get("class") == "sample chosen"]
        assert len(chosen) == 1
        centre = float(bar.get("x")) + float(bar.get("width")) / 2
        assert float(chosen[0].get("cx")) == pytest.approx(centre, abs=0.1)
        others = sorted(float(c.get("cx")) for c in g.iter(f"{SVG}circle"))
        gaps = [(b - a) / scale for a, b in zip(others, others[1:], strict=False)]
        assert len(gaps) >= 4 and gaps == pytest.approx([float(jump)] * len(gaps), abs=0.01)


def test_cli_shape_svg_writes_the_picture_without_numpy(tmp_path):
    path = tmp_path / "rf.svg"
    code = ("import sys\nfrom cthulhu.cli import main\n"
            f"main(['shape', 'Cthalpa3D(8, 3) | UbboSathla3D(2)', '-i', 'b, d, h, w, 1', "
            f"'--svg', {str(path)!r}, '--axis', '2'])\n"
            "print('numpy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"
    root = ET.fromstring(path.read_text())
    rows = [g for g in root.iter(f"{SVG}g") if g.get("class") == "layer"]
    assert [(g.get("data-receptive-field"), g.get("data-jump")) for g in rows] == \
        [("3", "1"), ("3", "1/2")]
    assert "along axis 3 (spatial axis 2)" in path.read_text()


@pytest.mark.parametrize("argv, message", [
    (["Daoloth(3)", "-i", "(None, 4)"], "--svg: receptive field picture: the chain has no spatial"),
    (["Cthalpa2D(3, 3)", "-i", "(None, 8, 8, 1)", "--axis", "2"],
     "axis must be a spatial axis number in 0..1, got 2"),
])
def test_cli_shape_svg_errors_are_one_line(capsys, tmp_path, argv, message):
    code = main(["shape", *argv, "--svg", str(tmp_path / "x.svg")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1
    assert not (tmp_path / "x.svg").exists()


@pytest.mark.parametrize("module", ["cthulhu.utils.vis_utils", "cthulhu.utils.receptive_field",
                                    "cthulhu.config"])
def test_docstring_examples(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
