"""``cthulhu devices`` prints every plugin with its availability and reason."""

import json

from cthulhu.cli import main


def test_cli_devices_table(capsys):
    assert main(["devices"]) == 0
    out = capsys.readouterr().out
    lines = out.strip().splitlines()
    assert lines[0].split()[:4] == ["namespace", "plugin", "source", "available"]
    numpy_row = next(line for line in lines if line.startswith("numpy"))
    assert " yes " in numpy_row
    assert any(line.startswith("*") and "generic" in line for line in lines)


def test_cli_devices_json(capsys):
    assert main(["devices", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    keys = {row["key"] for row in rows}
    assert {"numpy", "cupy", "dask.array", "*"} <= keys
    assert all(isinstance(row["available"], bool) and row["reason"] for row in rows)
