"""Print a PEP 735 dependency group of pyproject.toml, one requirement per line.

pip learnt ``--group`` in 25.1; a fresh machine may have an older pip (23.2.1 here), so
CI installs groups with ``python3 -m pip install -r <(python3 .ci/group.py NAME)``.
``{include-group = ...}`` entries are followed.
"""

import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib


def resolve(groups, name, seen=()):
    if name not in groups:
        raise SystemExit(f"group.py: no dependency group {name!r}; there are {sorted(groups)}")
    if name in seen:
        raise SystemExit(f"group.py: dependency group {name!r} includes itself")
    out = []
    for item in groups[name]:
        if isinstance(item, dict):
            out.extend(resolve(groups, item["include-group"], (*seen, name)))
        else:
            out.append(item)
    return out


def main(argv):
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    groups = tomllib.loads(pyproject.read_text(encoding="utf-8"))["dependency-groups"]
    for name in argv or ["test"]:
        print("\n".join(resolve(groups, name)))


if __name__ == "__main__":
    main(sys.argv[1:])
