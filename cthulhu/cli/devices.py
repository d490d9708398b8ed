"""``cthulhu devices``: list the device plugins, where they come from, and whether they can run."""


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "devices", help="list the device plugins and whether they can run",
        description="List every device plugin (namespace key, name, source) and whether it "
                    "can run here, with the reason.")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def run(args) -> int:
    from cthulhu import devices

    rows = devices.plugins()
    if getattr(args, "json", False):
        import dataclasses
        import json

        print(json.dumps([dataclasses.asdict(r) for r in rows], indent=2))
        return 0
    header = ("namespace", "plugin", "source", "available", "reason")
    table = [header] + [(r.key, r.name, r.source, "yes" if r.available else "no", r.reason)
                        for r in rows]
    widths = [max(len(str(row[i])) for row in table) for i in range(len(header) - 1)]
    for row in table:
        cells = [str(cell).ljust(w) for cell, w in zip(row, widths, strict=False)]
        print("  ".join([*cells, str(row[-1])]))
    return 0
