"""``cthulhu demo``: the main job on built-in example data.

Prints the example model's shape table (the shape algebra), then runs the model
out of core over a generated example Zarr volume, block by block with exact
halos, and checks the result against the in-memory ``model.predict``.
"""


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "demo", help="run the built-in example end to end",
        description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", default=None,
                        help="keep the example volume and prediction in this folder "
                             "(default: a temporary folder, removed afterwards)")
    parser.add_argument("--size", type=int, default=64, help="edge of the example volume (default 64)")
    parser.add_argument("--block", type=int, default=32, help="block edge (default 32)")
    return parser


def run(args) -> int:
    from cthulhu.cli import shape

    status = shape.run_example()
    if status:
        return status
    print()
    try:
        from cthulhu.cli import predict
    except ImportError as exc:  # the out-of-core part needs the 'dask' extra
        raise ValueError(f"the out-of-core demo needs the 'dask' extra "
                         f"(pip install 'cthulhu[dask]'): {exc}") from exc
    return predict.run_demo(workdir=args.workdir, size=args.size, block=args.block)
