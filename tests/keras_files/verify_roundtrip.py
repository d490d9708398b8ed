"""cthulhu -> .keras / .h5 -> real Keras: write the round-trip fixtures and verify them
(never run by the test suite).

Run from the repository root, with cthulhu's environment (and the two Keras venvs of
README.md, which this script drives as subprocesses)::

    PYTHONPATH=$PWD python tests/keras_files/verify_roundtrip.py

For every model of ``roundtrip_models.py`` it writes into ``fixtures/roundtrip/``:

- ``<model>.keras`` and/or ``<model>.h5``: ``model.save(...)`` by cthulhu;
- ``<model>.truth.npz``: the input(s) and cthulhu's NumPy ``predict`` output(s);
- ``predictions_k3.npz``, ``predictions_tf.npz``: what each Keras predicted for every
  file it loaded (``<file>/output/<i>``);

then loads every file in Keras 3 (``KERAS3_PYTHON``, default ``/tmp/kf_k3/bin/python``,
torch backend) and in tf-keras (``TFKERAS_PYTHON``, default ``/tmp/kf_tf215/bin/python``),
predicts on the same input, and records in ``index_roundtrip.json`` whether each loaded
and how far its outputs are from cthulhu's (the certificate's tolerance: float32
``|d| <= 1e-5 * max(1, max|y|) + 1e-4 * |y|``). ``roundtrip_models.EXPECTED`` lists the
files a Keras is known not to reproduce, and why. ``test_keras_roundtrip.py`` checks that
cthulhu still writes these very files, that cthulhu's predictions match what Keras
predicted from them, and that every other file loaded and matched.

With ``--keras k3|tf --folder F --out R`` it is the child run inside a Keras venv (it
imports no cthulhu).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "fixtures" / "roundtrip"
PYTHONS = {"k3": os.environ.get("KERAS3_PYTHON", "/tmp/kf_k3/bin/python"),
           "tf": os.environ.get("TFKERAS_PYTHON", "/tmp/kf_tf215/bin/python")}
RTOL, ATOL = 1e-4, 1e-5
TIME_LIMIT = 90  # seconds per file


def _errors(got, want):
    import numpy as np

    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        return None, False
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    error = np.abs(got - want)
    ok = bool(np.all(error <= ATOL * scale + RTOL * np.abs(want)))
    return (float(np.max(error)) if error.size else 0.0), ok


def _out_of_time(signum, frame):
    raise TimeoutError(f"no answer within {TIME_LIMIT} s")


def child(which, folder, out):
    """Inside a Keras venv: load every file, predict, report (no cthulhu here)."""
    import warnings

    import numpy as np

    warnings.simplefilter("ignore")
    if which == "k3":
        os.environ.setdefault("KERAS_BACKEND", "torch")
        import keras

        version, loader = keras.__version__, keras.saving.load_model
    else:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
        import keras as tf_keras_package  # keras 2.15, the package tf.keras is
        import tensorflow as tf

        version, loader = tf_keras_package.__version__, tf.keras.models.load_model

    def load(path):
        return loader(path, compile=False)
    results = {"version": version, "files": {}}
    predictions = {}
    for path in sorted(Path(folder).iterdir()):
        if path.suffix not in (".keras", ".h5"):
            continue
        model_name = path.name.rsplit(".", 1)[0]
        with np.load(Path(folder) / f"{model_name}.truth.npz") as data:
            inputs = [data[f"input/{i}"] for i in range(sum(k.startswith("input/")
                                                            for k in data.files))]
            outputs = [data[f"output/{i}"] for i in range(sum(k.startswith("output/")
                                                              for k in data.files))]
        record = {"loaded": False}
        signal.signal(signal.SIGALRM, _out_of_time)
        signal.alarm(TIME_LIMIT)  # tf-keras loops forever on some files
        try:
            model = load(str(path))
            record["loaded"] = True
            y = model.predict(inputs if len(inputs) > 1 else inputs[0], verbose=0)
            ys = list(y) if isinstance(y, (list, tuple)) else [y]
            if isinstance(y, dict):
                ys = list(y.values())
            for i, item in enumerate(ys):
                predictions[f"{path.name}/output/{i}"] = np.asarray(item)
            errors = [_errors(a, b) for a, b in zip(ys, outputs, strict=False)]
            record["outputs"] = len(ys)
            record["max_abs_error"] = max((e for e, _ in errors if e is not None), default=None)
            record["within_tolerance"] = len(ys) == len(outputs) and all(
                ok for _, ok in errors)
        except Exception as exc:  # noqa: BLE001 - recorded, one line
            lines = str(exc).splitlines() or [""]
            record["error"] = f"{type(exc).__name__}: {lines[0][:300]}"
        finally:
            signal.alarm(0)
        results["files"][path.name] = record
        print(which, path.name, record, flush=True)
    Path(out).write_text(json.dumps(results, indent=1))
    np.savez_compressed(Path(folder) / f"predictions_{which}.npz", **predictions)


def main():
    import numpy as np

    from cthulhu import __version__
    from tests.keras_files.roundtrip_models import MODELS, build

    OUT.mkdir(parents=True, exist_ok=True)
    for old in OUT.iterdir():
        old.unlink()
    models = {}
    for name, (_, formats) in MODELS.items():
        model, inputs = build(name)
        y = model.predict(inputs if len(inputs) > 1 else inputs[0])
        outputs = y if isinstance(y, list) else [y]
        arrays = {f"input/{i}": x for i, x in enumerate(inputs)}
        arrays.update({f"output/{i}": np.asarray(o) for i, o in enumerate(outputs)})
        np.savez_compressed(OUT / f"{name}.truth.npz", **arrays)
        for fmt in formats:
            model.save(OUT / f"{name}.{fmt}")
        models[name] = {"formats": list(formats), "inputs": len(inputs),
                        "outputs": len(outputs)}
    runs = {}
    for which, python in PYTHONS.items():
        report = OUT / f".{which}.json"
        env = {**os.environ, "PYTHONPATH": ""}
        subprocess.run([python, __file__, "--keras", which, "--folder", str(OUT),
                        "--out", str(report)], check=True, env=env, cwd="/")
        runs[which] = json.loads(report.read_text())
        report.unlink()
    from tests.keras_files.roundtrip_models import EXPECTED

    index = {"generator": "tests/keras_files/verify_roundtrip.py",
             "written_by": f"cthulhu {__version__}", "python": sys.version.split()[0],
             "numpy": np.__version__, "tolerance": {"rtol": RTOL, "atol": ATOL},
             "keras3": runs["k3"]["version"], "tfkeras": runs["tf"]["version"],
             "models": models,
             "expected_failures": {f"{which}/{file}": why
                                   for (which, file), why in EXPECTED.items()},
             "loads": {"keras3": runs["k3"]["files"], "tfkeras": runs["tf"]["files"]}}
    (OUT / "index_roundtrip.json").write_text(json.dumps(index, indent=1) + "\n")
    for which in ("keras3", "tfkeras"):
        for file, record in sorted(index["loads"][which].items()):
            state = "ok" if record.get("within_tolerance") else (
                "DIFFERS" if record["loaded"] else "NOT LOADED")
            if (which, file) in EXPECTED:
                state += " (expected)"
            print(f"{which:8s} {file:28s} {state} {record.get('error', '')}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--keras", choices=("k3", "tf"))
    parser.add_argument("--folder")
    parser.add_argument("--out")
    args = parser.parse_args()
    if args.keras:
        child(args.keras, args.folder, args.out)
    else:
        main()
