"""The docs' own examples hold: every ``model.output_shape`` comment in the seeds.

The cthulhu docs (``../shared/seeds/000_*`` and ``001_*``) and the translated
Keras 2 docs (``004_*``, Keras names mapped to cthulhu's) are read and their
``model = Pile()`` / ``model = Sequential()`` examples are run line by line
exactly as printed; at each ``# now: model.output_shape == (...)`` comment the
model's output shape must be that tuple. The Keras 1 examples of ``002_*`` use
Keras 1 arguments (``border_mode``, ``subsample``, ...), so they are written
here in cthulhu's API with the docs' numbers.
"""

import ast
import json
import re
from pathlib import Path

import numpy as np
import pytest

import cthulhu.layers as L
from cthulhu.models import Lump, Pile

SEEDS = Path(__file__).resolve().parents[1].parent / "shared" / "seeds"
COMMENT = re.compile(r"#\s*(?:now:?|现在)?\s*model\.output_shape\s*==\s*(\(.*\))\s*$")
# Seed 004 (a translation of the Keras 2 docs) writes the same examples with Keras names.
KERAS_NAMES = {"Sequential": "Pile", "Conv2D": "Cthalpa2D", "Conv1D": "Cthalpa1D",
               "Conv3D": "Cthalpa3D", "Dense": "Daoloth", "Cropping2D": "Cropping2D"}

# The Flatten page's example feeds input_shape=(3, 32, 32) and expects
# (None, 64, 32, 32): it is written for image_data_format = "channels_first".
SECTION_FORMAT = {"Flatten": "channels_first"}


def _examples():
    """``(file, section, [(code, expected shape or None), ...])`` for each ``Pile`` example."""
    if not SEEDS.is_dir():
        return []
    found = []
    for path in sorted(SEEDS.glob("00[014]_*.txt")):
        lines = path.read_text(encoding="utf-8").splitlines()
        section = None
        i = 0
        while i < len(lines):
            stripped = lines[i].strip()
            if hasattr(L, stripped):
                section = stripped
            if stripped not in ("model = Pile()", "model = Sequential()"):
                i += 1
                continue
            steps, code, depth = [], [], 0
            while i < len(lines):
                text = lines[i].strip()
                if depth == 0 and not (text == "" or text.startswith(("model", "#"))):
                    break
                match = COMMENT.match(text)
                if match:
                    steps.append(("\n".join(code), _shape(match.group(1))))
                    code = []
                elif not text.startswith("#"):
                    code.append(text)
                    depth += text.count("(") - text.count(")")
                i += 1
            if steps:  # the Daoloth and Masking examples have no shape comment: tested below
                found.append((path.name[:3], section, steps))
    return found


def _shape(text):
    """The tuple in a shape comment. Seed 004's translation has a typo, ``(None, 20, 16. 64)``
    for 000's ``(None, 20, 16, 64)``: a full stop where a comma belongs."""
    try:
        return ast.literal_eval(text)
    except SyntaxError:
        return ast.literal_eval(re.sub(r"(\d)\.\s+(\d)", r"\1, \2", text))


EXAMPLES = _examples()


@pytest.fixture
def data_format(tmp_path, monkeypatch):
    def use(fmt):
        (tmp_path / "cthulhu.json").write_text(json.dumps({"image_data_format": fmt}))
        monkeypatch.setenv("CTHULHU_HOME", str(tmp_path))
    return use


def test_seed_examples_were_found():
    if not SEEDS.is_dir():
        pytest.skip(f"the cthulhu docs (seeds) are not at {SEEDS}")
    sections = {section for _, section, _ in EXAMPLES}
    assert {"Cropping2D", "Flatten", "Reshape", "Permute", "RepeatVector"} <= sections
    assert sum(len(steps) for _, _, steps in EXAMPLES) == 12


@pytest.mark.parametrize("seed, section, steps", EXAMPLES,
                         ids=[f"{s}-{sec}" for s, sec, _ in EXAMPLES])
def test_seed_example_output_shapes(seed, section, steps, data_format):
    data_format(SECTION_FORMAT.get(section, "channels_last"))
    namespace = {name: getattr(L, name) for name in L.__all__}
    namespace["Pile"] = Pile
    namespace.update({keras: namespace[ours] for keras, ours in KERAS_NAMES.items()})
    exec("model = Pile()", namespace)
    for code, expected in steps:
        exec(code, namespace)
        assert namespace["model"].output_shape == expected, code
    # and the model really runs, producing that shape
    model = namespace["model"]
    x = np.zeros((2, *model.layers[0].batch_input_shape[1:]), dtype=np.float32)
    assert model.predict(x).shape == (2, *steps[-1][1][1:])


def test_daoloth_page_example():
    model = Pile()
    model.add(L.Daoloth(32, input_shape=(16,)))
    assert model.output_shape == (None, 32)  # "output arrays of shape (*, 32)"
    model.add(L.Daoloth(32))
    assert model.output_shape == (None, 32)


def test_masking_page_example():
    timesteps, features = 6, 2
    x = np.random.default_rng(0).normal(size=(3, timesteps, features))
    x[0, 3, :] = 0.0
    x[2, 5, :] = 0.0
    model = Pile()
    model.add(L.Masking(mask_value=0.0, input_shape=(timesteps, features)))
    model.add(L.Laldagorth(32))
    assert model.output_shape == (None, 32)
    assert model.predict(x).shape == (3, 32)


def test_lukthu_page_hadamard_example():
    def hadamard_product_sum(tensors):
        out1 = tensors[0] * tensors[1]
        out2 = out1.sum(axis=-1)
        return [out1, out2]

    def hadamard_product_sum_output_shape(input_shapes):
        shape1 = list(input_shapes[0])
        shape2 = list(input_shapes[1])
        assert shape1 == shape2
        return [tuple(shape1), tuple(shape2[:-1])]

    input_1, input_2 = L.Input(shape=(8,)), L.Input(shape=(8,))
    x1 = L.Daoloth(32)(input_1)
    x2 = L.Daoloth(32)(input_2)
    layer = L.LuKthu(hadamard_product_sum, hadamard_product_sum_output_shape)
    x_hadamard, x_sum = layer([x1, x2])
    assert x_hadamard.shape == (None, 32) and x_sum.shape == (None,)
    model = Lump([input_1, input_2], [x_hadamard, x_sum])
    a, b = model.predict([np.ones((2, 8)), np.ones((2, 8))])
    assert a.shape == (2, 32) and b.shape == (2,)


def test_input_page_example():
    x = L.Input(shape=(32,))
    y = L.Daoloth(16, activation="softmax")(x)
    model = Lump(x, y)
    assert model.output_shape == (None, 16)


# Keras 1 examples (seed 002), in cthulhu's API; "th" dim ordering = channels_first.
def test_keras1_convolution1d_examples():
    model = Pile()
    model.add(L.Cthalpa1D(64, 3, padding="same", input_shape=(10, 32)))
    assert model.output_shape == (None, 10, 64)
    model.add(L.Cthalpa1D(32, 3, padding="same"))
    assert model.output_shape == (None, 10, 32)


def test_keras1_convolution2d_and_atrous_examples(data_format):
    data_format("channels_first")
    model = Pile()
    model.add(L.Cthalpa2D(64, (3, 3), padding="same", input_shape=(3, 256, 256)))
    assert model.output_shape == (None, 64, 256, 256)
    model.add(L.Cthalpa2D(32, (3, 3), padding="same"))
    assert model.output_shape == (None, 32, 256, 256)
    atrous = Pile([L.Cthalpa2D(64, (3, 3), dilation_rate=(2, 2), padding="valid",
                               input_shape=(3, 256, 256))])
    assert atrous.output_shape == (None, 64, 252, 252)


def test_keras1_deconvolution2d_examples(data_format):
    data_format("channels_first")
    model = Pile([L.Cthalpa2DTranspose(3, (3, 3), padding="valid", input_shape=(3, 12, 12))])
    assert model.output_shape == (None, 3, 14, 14)
    model = Pile([L.Cthalpa2DTranspose(3, (3, 3), strides=(2, 2), padding="valid",
                                       input_shape=(3, 12, 12))])
    assert model.output_shape == (None, 3, 25, 25)
    assert model.predict(np.zeros((1, 3, 12, 12), dtype=np.float32)).shape == (1, 3, 25, 25)
