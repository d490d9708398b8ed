"""``cthulhu demo``: the main job on built-in example data."""


def add_parser(subparsers):
    parser = subparsers.add_parser("demo", help="run the built-in example end to end")
    return parser


def run(args) -> int:
    from cthulhu.cli import shape

    return shape.run_example()
