"""The block plan picture: plan_volume computes nothing, and the SVG shows the real plan."""

import subprocess
import xml.etree.ElementTree as ET

import dask.array as da
import numpy as np
import pytest
import zarr

import cthulhu
from cthulhu.blockwise import volume
from cthulhu.cli import main
from cthulhu.cli.predict import example_model

SVG = "{http://www.w3.org/2000/svg}"


def _rects(svg, panel_axes):
    root = ET.fromstring(svg)
    panel = next(g for g in root.iter(f"{SVG}g") if g.get("data-axes") == panel_axes)
    return panel, [r for r in panel.iter(f"{SVG}rect")]


def _num(rect, name):
    return float(rect.get(name))


@pytest.fixture
def stored(tmp_path):
    zarr.create_array(store=str(tmp_path / "in.zarr"), shape=(50, 70, 90), chunks=(32,) * 3,
                      dtype="float32")
    return str(tmp_path / "in.zarr")


def test_plan_draws_the_grid_the_edge_blocks_and_one_blocks_halo(stored):
    plan = cthulhu.plan_volume(example_model(), stored, block_shape=(20, 32, 32))
    # three 3x3x3 'same' convolutions: a halo of 3 on every side, jump 1
    assert plan.grid == (3, 3, 3) and plan.blocks == 27 and plan.edge == (10, 6, 26)
    svg = plan.svg()
    for axes, (rows, cols) in {"1,2": (1, 2), "0,2": (0, 2)}.items():
        panel, rects = _rects(svg, axes)
        (vol,) = [r for r in rects if r.get("class") == "volume"]
        scale = _num(vol, "width") / plan.input_shape[cols]
        assert _num(vol, "height") == pytest.approx(plan.input_shape[rows] * scale, abs=0.06)
        blocks = [r for r in rects if r.get("class") in ("block", "block edge")]
        assert len(blocks) == plan.grid[rows] * plan.grid[cols]
        edges = [r for r in blocks if r.get("class") == "block edge"]
        # the last row and the last column are the ragged ones: 3 + 3 - 1 cells
        assert len(edges) == plan.grid[rows] + plan.grid[cols] - 1
        widths = sorted({round(_num(r, "width") / scale) for r in blocks})
        assert widths == sorted({plan.block[cols], plan.edge[cols]})
        # the middle block (1, 1, 1) and its halo: its input region, 3 samples wider
        (chosen,) = [r for r in rects if r.get("class") == "chosen"]
        (halo,) = [r for r in rects if r.get("class") == "halo"]
        x0, y0 = _num(vol, "x"), _num(vol, "y")
        start_c, start_r = plan.block[cols], plan.block[rows]
        assert _num(chosen, "x") == pytest.approx(x0 + start_c * scale, abs=0.06)
        assert _num(chosen, "y") == pytest.approx(y0 + start_r * scale, abs=0.06)
        assert _num(halo, "x") == pytest.approx(x0 + (start_c - 3) * scale, abs=0.06)
        assert _num(halo, "width") == pytest.approx((plan.block[cols] + 6) * scale, abs=0.06)
        assert _num(halo, "height") == pytest.approx((plan.block[rows] + 6) * scale, abs=0.06)
    assert plan._repr_svg_() == svg and svg in plan._repr_html_()
    assert "27 blocks" in plan.line() and "halo (3, 3, 3)" in plan.line()


def test_plan_of_a_lazy_input_computes_nothing_and_writes_nothing(tmp_path, compute_counter):
    lazy = da.random.default_rng(0).standard_normal((40, 40, 40), chunks=20).astype("float32")
    with compute_counter() as counter:
        plan = cthulhu.plan_volume(example_model(), lazy)
        plan.svg()
    assert counter.count == 0
    assert list(tmp_path.iterdir()) == []


def test_predict_volume_draws_the_plan_before_computing(tmp_path, stored, monkeypatch):
    def failing(self, block):
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(volume.VolumeJob, "run_block", failing)
    with pytest.raises(RuntimeError):
        cthulhu.predict_volume(example_model(), stored, tmp_path / "out.zarr", block_shape=32,
                               plan=tmp_path / "plan.svg", progress=False)
    root = ET.parse(tmp_path / "plan.svg").getroot()
    assert root.tag == f"{SVG}svg"
    assert sum(1 for r in root.iter(f"{SVG}rect") if r.get("class") == "chosen") == 2


def test_cli_plan_only_draws_and_creates_no_output(tmp_path, stored, capsys):
    example_model().save(tmp_path / "model.cthulhu")
    code = main(["predict", str(tmp_path / "model.cthulhu"), "--input", stored, "--output",
                 str(tmp_path / "out.zarr"), "--plan", str(tmp_path / "plan.svg"), "--plan-only"])
    out = capsys.readouterr().out
    assert code == 0 and "blocks of" in out and "plan.svg" in out
    assert not (tmp_path / "out.zarr").exists()
    ET.parse(tmp_path / "plan.svg")


def test_plan_renders_as_an_image(tmp_path, stored):
    rsvg = pytest.importorskip("shutil").which("rsvg-convert")
    if rsvg is None:
        pytest.skip("rsvg-convert (Debian's librsvg2-bin) is not installed")
    cthulhu.plan_volume(example_model(), stored, block_shape=32).save(tmp_path / "plan.svg")
    subprocess.run([rsvg, str(tmp_path / "plan.svg"), "-o", str(tmp_path / "plan.png")],
                   check=True, timeout=60)
    assert (tmp_path / "plan.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plan_of_every_rank(tmp_path):
    from cthulhu import layers as L
    from cthulhu.models import Pile

    one = Pile([L.InputLayer(input_shape=(None, 1)), L.Cthalpa1D(2, 3, padding="same"),
                L.UbboSathla1D(2)])
    plan = cthulhu.plan_volume(one, np.zeros((100,), np.float32), block_shape=30)
    assert plan.grid == (7,) and plan.edge == (20,)  # the output is 200 long
    _rects(plan.svg(), "0")
    two = Pile([L.InputLayer(input_shape=(None, None, 1)), L.Cthalpa2D(2, 5, strides=2)])
    plan = cthulhu.plan_volume(two, np.zeros((41, 30), np.float32), block_shape=8)
    assert plan.output_shape == (19, 13, 2) and plan.grid == (3, 2)  # 2 channels kept
    _, rects = _rects(plan.svg(), "0,1")
    assert sum(r.get("class", "").startswith("block") for r in rects) == 6


def draw_docs_picture(folder):
    """docs/img/plan.svg: the example model over a 150 x 200 x 300 volume, blocks of 64."""
    from pathlib import Path

    volume = zarr.create_array(store=str(Path(folder) / "in.zarr"), shape=(150, 200, 300),
                               chunks=(64, 64, 64), dtype="float32")
    del volume
    plan = cthulhu.plan_volume(example_model(), str(Path(folder) / "in.zarr"), block_shape=64)
    return plan.save(Path(folder) / "plan.svg")


def test_docs_plan_picture_is_current(tmp_path):
    from pathlib import Path

    docs = Path(__file__).resolve().parents[2] / "docs" / "img" / "plan.svg"
    assert draw_docs_picture(tmp_path).read_text() == docs.read_text(), (
        "docs/img/plan.svg is out of date: run python tests/dask/test_dask_planview.py")


if __name__ == "__main__":  # redraw docs/img/plan.svg
    import shutil
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        made = draw_docs_picture(tmp)
        shutil.copy(made, Path(__file__).resolve().parents[2] / "docs" / "img" / "plan.svg")
        print("wrote docs/img/plan.svg")
