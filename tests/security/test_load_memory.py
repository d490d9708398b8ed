"""Peak memory of a load, measured in a fresh process (the peak RSS, ``VmHWM``).

A load may need about the model's real weight bytes (the arrays it returns) plus a
small constant; the bound checked here is twice the weights plus 16 MiB. A small
hostile file must stay within the constant whatever it claims.
"""

import subprocess
import sys

import numpy as np
import pytest

from tests.support.crafted_files import daoloth, model_entries, npy_header, pile, raw_zip, zero_bomb

MIB = 2**20
CONSTANT = 16 * MIB

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads /proc/self/status and ru_maxrss in KiB (Linux)")

_MEASURE = r"""
import sys
from cthulhu.models import load_model

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024

load_model(sys.argv[2])  # imports and first-use costs stay out of the measurement
with open("/proc/self/clear_refs", "w") as reset:
    reset.write("5")  # the peak (VmHWM) restarts from the current RSS
before = status("VmRSS")
try:
    model = load_model(sys.argv[1])
    outcome = "loaded %d" % sum(w.nbytes for w in model.weights)
except ValueError as exc:
    outcome = "refused " + str(exc)
print(status("VmHWM") - before)
print(outcome)
"""


@pytest.fixture(scope="module")
def warm_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("warm") / "warm.cthulhu"
    raw_zip(path, model_entries(pile(daoloth("d", 2, input_dim=3)),
                                [("d", [np.ones((3, 2), np.float32), np.ones(2, np.float32)])]))
    return path


def peak_growth(path, warm):
    """Bytes the load added to the process's peak RSS (an upper bound of its working memory)."""
    done = subprocess.run([sys.executable, "-c", _MEASURE, str(path), str(warm)],
                          capture_output=True, text=True, timeout=300, check=True)
    growth, outcome = done.stdout.strip().split("\n", 1)
    return int(growth), outcome


def test_legitimate_model_load_needs_about_its_weights(tmp_path, warm_file):
    from cthulhu.layers import Daoloth
    from cthulhu.models import Pile

    model = Pile([Daoloth(2048, input_shape=(8192,), kernel_initializer="zeros")])
    rng = np.random.default_rng(0)
    model.set_weights([rng.random(w.shape, dtype=np.float32) for w in model.get_weights()])
    weight_bytes = sum(w.nbytes for w in model.weights)
    path = tmp_path / "big.cthulhu"
    model.save(path)
    del model
    growth, outcome = peak_growth(path, warm_file)
    assert outcome == f"loaded {weight_bytes}"
    assert growth <= 2 * weight_bytes + CONSTANT, (growth / MIB, weight_bytes / MIB)


def test_zip_bomb_load_stays_small(tmp_path, warm_file):
    chunks, csize, crc, size = zero_bomb(npy_header((3, 2)), 2**31)
    bomb = {"name": "weights/0.npy", "chunks": chunks, "csize": csize, "crc": crc,
            "size": size, "method": 8}
    entries = model_entries(pile(daoloth("d", 2, input_dim=3)),
                            [("d", [np.ones((3, 2), np.float32), np.ones(2, np.float32)])])
    path = raw_zip(tmp_path / "bomb.cthulhu", [entries[0], bomb, entries[2]])
    growth, outcome = peak_growth(path, warm_file)
    assert outcome.startswith("refused") and "more data than its header" in outcome
    assert growth <= CONSTANT, growth / MIB


def test_config_naming_huge_weights_stays_small(tmp_path, warm_file):
    # 16384 x 16384 float32 is 1 GiB: refused from the bytes the file can hold, not allocated.
    entries = model_entries(pile(daoloth("d", 16384, input_dim=16384)),
                            [("d", [np.ones((3, 2), np.float32), np.ones(2, np.float32)])])
    growth, outcome = peak_growth(raw_zip(tmp_path / "huge.cthulhu", entries), warm_file)
    assert outcome.startswith("refused") and "can still hold" in outcome
    assert growth <= CONSTANT, growth / MIB
