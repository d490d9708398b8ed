"""Damaged copies of real Keras files: every read gives a KerasFile or one KerasFileError
line, never another exception (Hypothesis draws the damage)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cthulhu.saving.keras import KerasFile, KerasFileError, read_keras, read_keras_json
from tests.support.keras_fixture_index import FIXTURES

pytest.importorskip("h5py")

JSON_TEXTS = [(FIXTURES / name).read_bytes() for name in (
    "keras3/family_conv.json", "tfkeras/nested.json", "keras1/k1_merge.json")]


@st.composite
def damaged(draw, data):
    data = bytearray(data)
    kind = draw(st.sampled_from(["flip", "truncate", "zero", "delete"]))
    if kind == "truncate":
        return bytes(data[: draw(st.integers(0, len(data) - 1))])
    start = draw(st.integers(0, len(data) - 1))
    size = draw(st.integers(1, 64))
    if kind == "flip":
        for offset in draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=8)):
            data[offset] = draw(st.integers(0, 255))
    elif kind == "zero":
        data[start:start + size] = bytes(len(data[start:start + size]))
    else:
        del data[start:start + size]
    return bytes(data)


def _clean(call):
    try:
        result = call()
    except KerasFileError as exc:
        assert "\n" not in str(exc)
        return None
    assert isinstance(result, KerasFile)
    return result


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_damaged_json_configs(data):
    text = data.draw(st.sampled_from(JSON_TEXTS))
    _clean(lambda: read_keras_json(data.draw(damaged(text))))


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_damaged_keras_zips_in_process(tmp_path_factory, data):
    # the zip layer and the config (the weights entry is left whole: libhdf5 may hang on
    # a damaged heap, which the isolated read handles, see test_keras_isolated.py)
    source = FIXTURES / "keras3" / "family_dense.keras"
    raw = source.read_bytes()
    import zipfile

    with zipfile.ZipFile(source) as archive:
        weights = archive.getinfo("model.weights.h5")
    head = weights.header_offset  # damage only before the weights entry, or the directory
    part = data.draw(st.sampled_from(["before", "directory"]))
    if part == "before":
        mangled = data.draw(damaged(raw[:head])) + raw[head:]
    else:
        end = raw.rfind(b"PK\x01\x02", 0)
        start = raw.find(b"PK\x01\x02")
        mangled = raw[:start] + data.draw(damaged(raw[start:end + 4])) + raw[end + 4:]
    path = tmp_path_factory.mktemp("fuzz") / "m.keras"
    path.write_bytes(mangled)
    _clean(lambda: read_keras(path, isolate=False))


@pytest.mark.slow
@settings(max_examples=20, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_damaged_hdf5_isolated(tmp_path_factory, data):
    name = data.draw(st.sampled_from(["keras3/family_dense.h5", "tfkeras/nested.h5",
                                      "keras1/k1_lstm_gates.h5", "tfkeras/nested.weights.h5"]))
    path = tmp_path_factory.mktemp("fuzz") / "m.h5"
    path.write_bytes(data.draw(damaged((FIXTURES / name).read_bytes())))
    _clean(lambda: read_keras(path, timeout=10))
