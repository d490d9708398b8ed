"""``cthulhu inspect``: what a model file holds, without allocating its weights.

    cthulhu inspect FILE

Any file cthulhu reads (recognised by content): the kind of file, the model's summary
(its weights are zero-size placeholders of the right shapes, so even a huge model costs
nothing). Read in safe mode, like every load; ``cthulhu convert`` checks certificates.
"""

from __future__ import annotations


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "inspect", help="print the kind and summary of a model file, without loading weights",
        description="Print what a model file is (cthulhu, Keras 3 .keras, legacy .h5 of "
                    "Keras 1/2/3) and its model's summary, without allocating the weights.",
        epilog="example:\n  cthulhu inspect model.h5",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    parser.add_argument("file", metavar="FILE", help="a model file")
    return parser


_KINDS = {"keras_zip": "Keras .keras archive", "keras_dir": "Keras .keras folder",
          "hdf5": "legacy Keras HDF5", "cthulhu": "cthulhu model file"}


def run(args) -> int:
    from cthulhu.cli import CliError
    from cthulhu.saving import certificate as cert
    from cthulhu.saving.files import read_any
    from cthulhu.saving.keras._sniff import sniff

    kind = sniff(args.file)
    if kind == "missing":
        raise CliError(f"model file {args.file!r} does not exist")
    model, family = read_any(args.file, weights=False)
    print(f"{args.file}: {_KINDS.get(kind, kind)} ({family})")
    model.summary()
    stored = cert.attached(model)  # (read with the config when the format keeps it there)
    if stored is not None:
        print(f"certificate: {len(stored.inputs)} input(s), {len(stored.outputs)} output(s), "
              f"computed on {stored.computed_on} by {stored.written_by or 'cthulhu'}")
    return 0
