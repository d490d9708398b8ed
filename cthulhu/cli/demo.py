"""``cthulhu demo``: one story, from a model to a result on disk you can run again.

1. Build the example model (three ``Cthalpa3D``) and print its summary and, from
   the shape algebra, its shapes with symbolic sizes, receptive field and halo.
2. Save the model file and a generated example volume into a folder
   (``./cthulhu-demo`` by default).
3. Run the model over the volume out of core, block by block, with a progress
   bar, and check the result against the in-memory ``model.predict``.
4. Print the ``cthulhu predict`` command to run next on what it left, and how to
   view the result.

The folder is the demo's own: it is created with a marker file
(``cthulhu-demo.json``) recording what the demo wrote. A folder without the
marker is refused; in one with it, the demo replaces only its own files, and
only while they are as it left them (the model file's digest, the volume's
marker attribute, the prediction's cthulhu-output marker, checked by
:func:`cthulhu.predict_volume` under issue 8's rules); anything else in the
folder is left alone. Nothing of a user's is ever overwritten or deleted.
"""

import hashlib
import json
import os
import sys
from pathlib import Path

DESCRIPTION = """\
The built-in example, end to end: build a small 3D model and print its shapes and
halo, save it and a generated Zarr volume into a folder (./cthulhu-demo by
default), run it out of core block by block, check the result against the same
model in memory, and print the 'cthulhu predict' command to run next on what it
left. Needs the 'dask' extra."""

MARKER = "cthulhu-demo.json"
MODEL, VOLUME, PREDICTION, PLAN = "model.cthulhu", "volume.zarr", "prediction.zarr", "plan.svg"
_VOLUME_ATTR = "cthulhu_demo"


def add_parser(subparsers):
    import argparse

    parser = subparsers.add_parser(
        "demo", help="run the built-in example: shapes, then a model over a generated volume",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--folder", "--workdir", dest="folder", default="cthulhu-demo",
                        metavar="FOLDER",
                        help="where the model, the volume and the result go (default "
                             "./cthulhu-demo; never a folder the demo did not make)")
    parser.add_argument("--size", type=int, default=64, metavar="N",
                        help="the example volume is N x N x N voxels (default 64)")
    parser.add_argument("--block", type=int, default=32, metavar="N",
                        help="run the model on blocks of N x N x N voxels (default 32)")
    parser.add_argument("--no-progress", action="store_true", help="draw no progress bar")
    return parser


def run(args) -> int:
    from cthulhu.cli import CliError

    if args.size < 1 or args.block < 1:
        raise CliError(f"--size and --block must be positive, got {args.size} and {args.block}")
    return run_demo(args.folder, size=args.size, block=args.block,
                    progress=not args.no_progress)


def run_demo(folder="cthulhu-demo", size=64, block=32, stream=None, progress=True) -> int:
    """The story of the module docstring; returns the exit status (0: the results agree)."""
    import numpy as np
    import zarr

    from cthulhu.blockwise import plan_volume, predict_volume
    from cthulhu.cli.predict import example_model

    out = stream or sys.stdout
    folder = Path(folder)

    def say(text=""):
        print(text, file=out, flush=True)

    model = example_model()
    say(f"cthulhu demo: 1/4 the example model {model.name!r}")
    model.summary(print_fn=say)
    say()
    say(_shape_table(model))
    say()
    record = _claim(folder)
    model_path, volume_path = folder / MODEL, folder / VOLUME
    _save_model(model, model_path, record)
    _save_volume(volume_path, size, block, record)
    _write_record(folder, record)
    say(f"cthulhu demo: 2/4 saved the model to {model_path} and a {size}^3 example volume "
        f"to {volume_path}")
    target = folder / PREDICTION
    plan = plan_volume(model, str(volume_path), block_shape=block)
    say(f"cthulhu demo: 3/4 running it out of core: {plan.line()}")
    summary = predict_volume(model, str(volume_path), target, block_shape=block, overwrite=True,
                             progress=progress, plan=folder / PLAN)
    say(f"cthulhu demo: {summary.line()}")
    result = zarr.open_array(str(target), mode="r")[...]
    volume = zarr.open_array(str(volume_path), mode="r")[...]
    expected = model.predict(volume[None, ..., None])[0, ..., 0]
    diff = float(np.max(np.abs(result - expected)))
    ok = diff <= 1e-4
    say(f"cthulhu demo: 4/4 largest difference from the in-memory model.predict: {diff:.2e} "
        f"({'ok' if ok else 'MISMATCH'})")
    say()
    say(f"cthulhu demo: the block plan is drawn in {folder / PLAN}")
    say("cthulhu demo: run it yourself next (a new output; add --ome for an OME-NGFF image):")
    say(f"  cthulhu predict {model_path} --input {volume_path} --output "
        f"{folder / 'my-prediction.zarr'} --plan {folder / 'my-plan.svg'}")
    for line in summary.how_to_open():
        say(f"cthulhu demo: {line}")
    return 0 if ok else 1


def _shape_table(model):
    """The shape algebra's table for the model's layers, with symbolic sizes."""
    from cthulhu import shapes
    from cthulhu.cli.shape import render
    from cthulhu.shapes.parse import parse_shape

    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    labels = [f"{type(layer).__name__}({layer.filters}, {layer.kernel_size[0]}, "
              f"padding={layer.padding!r})" for layer in layers]
    result = shapes.chain([shapes.layer_spec(layer) for layer in layers],
                          parse_shape("b, d, h, w, 1"))
    return "cthulhu demo: its shapes, from the shape algebra (no data needed):\n" + \
        render(result, labels)


def _refuse(folder, why):
    from cthulhu.cli import CliError

    return CliError(f"folder {os.fspath(folder)!r} {why}; the demo writes only into a folder "
                    "it made and never replaces files it did not write - choose another "
                    "with --folder, or remove it yourself")


def _claim(folder):
    """The demo's record of ``folder`` (created, with its marker, when absent)."""
    marker = folder / MARKER
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise _refuse(folder, "exists and is not a folder")
    if not folder.exists():
        folder.mkdir(parents=True)
        record = {"format": "cthulhu.demo", "version": 1, "files": {}}
        _write_record(folder, record)
        return record
    try:
        record = json.loads(marker.read_bytes())
    except FileNotFoundError:
        raise _refuse(folder, f"exists and was not made by cthulhu demo (no {MARKER})") from None
    except (OSError, ValueError):
        raise _refuse(folder, f"has a {MARKER} that cannot be read") from None
    if not (isinstance(record, dict) and record.get("format") == "cthulhu.demo"):
        raise _refuse(folder, f"has a {MARKER} the demo did not write")
    record.setdefault("files", {})
    return record


def _write_record(folder, record):
    from cthulhu.blockwise.outputs import write_atomic

    write_atomic(folder / MARKER, json.dumps(record, indent=2).encode())


def _digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _save_model(model, path, record):
    if path.exists() or path.is_symlink():
        if path.is_symlink() or not path.is_file() or \
                record["files"].get(MODEL) != _digest(path):
            raise _refuse(path.parent, f"holds {MODEL}, which the demo did not write (or "
                                       "which changed since)")
        path.unlink()
    model.save(path)
    record["files"][MODEL] = _digest(path)
    _write_record(path.parent, record)  # at once: a file the record lacks is never ours


def _save_volume(path, size, block, record):
    """Write the example volume, unless the demo's own one of this size is there already."""
    import zarr

    from cthulhu.blockwise import outputs
    from cthulhu.cli.predict import example_volume

    wanted = {"size": size, "chunks": block}
    if path.exists() or path.is_symlink():
        try:
            attrs = dict(zarr.open_array(str(path), mode="r").attrs) \
                if path.is_dir() and not path.is_symlink() else {}
        except Exception:  # not a Zarr array: not ours
            attrs = {}
        foreign = outputs._foreign(path) if attrs.get(_VOLUME_ATTR) else "?"
        if foreign is not None or record["files"].get(VOLUME) != attrs.get(_VOLUME_ATTR):
            raise _refuse(path.parent, f"holds {VOLUME}, which the demo did not write (or "
                                       "which changed since)")
        if attrs[_VOLUME_ATTR] == wanted:
            return  # the same volume: the generator is deterministic
        outputs.remove_strays(path)
        import shutil

        shutil.rmtree(path)
    array = example_volume(path, (size,) * 3, (block,) * 3)
    array.attrs[_VOLUME_ATTR] = wanted
    record["files"][VOLUME] = wanted
    _write_record(path.parent, record)
