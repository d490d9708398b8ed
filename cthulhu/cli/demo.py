"""``cthulhu demo``: the main job on built-in example data.

Prints the example model's shape table (the shape algebra), then runs the model
out of core over a generated example Zarr volume, block by block with exact
halos, and checks the result against the in-memory ``model.predict``.
"""


DESCRIPTION = """\
Run the built-in example end to end. First the shape table of a small 3D model
(output shapes with symbolic sizes, receptive field, halo), then a three-layer 3D
model over a generated Zarr volume, block by block, checked against the same model
run in memory. Needs the 'dask' extra."""


def add_parser(subparsers):
    import argparse

    parser = subparsers.add_parser(
        "demo", help="run the built-in example: shapes, then a model over a generated volume",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir", default=None, metavar="FOLDER",
                        help="keep the example volume and the prediction in FOLDER "
                             "(default: a temporary folder, removed at the end)")
    parser.add_argument("--size", type=int, default=64, metavar="N",
                        help="the example volume is N x N x N voxels (default 64)")
    parser.add_argument("--block", type=int, default=32, metavar="N",
                        help="run the model on blocks of N x N x N voxels (default 32)")
    return parser


def run(args) -> int:
    from cthulhu.cli import shape

    status = shape.run_example()
    if status:
        return status
    print()
    # the 'dask' extra is checked by cthulhu.cli.main before this runs
    from cthulhu.cli import predict

    return predict.run_demo(workdir=args.workdir, size=args.size, block=args.block)
