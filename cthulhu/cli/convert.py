"""``cthulhu convert``: any model file cthulhu reads to a cthulhu, ``.keras`` or ``.h5`` file.

    cthulhu convert IN OUT [--overwrite] [--device numpy|cupy|dask|array_api_strict]
                    [--original-backend theano]

``IN`` is recognised by its content (a cthulhu file, a Keras 3 ``.keras``, a legacy ``.h5``
of Keras 1, 2 or 3), read in safe mode (a Keras ``Lambda`` or custom class is refused: load
it in Python with ``custom_objects=``). ``OUT``'s format follows its extension (``.keras``,
``.h5``/``.hdf5``, anything else cthulhu's own). The model's summary is printed; the file
written holds a certificate (a test vector: the stored input and cthulhu's outputs), which
is checked by loading ``OUT`` back and running it on ``--device``. A certificate ``IN``
already holds is checked first, and carried over.
"""

from __future__ import annotations

import os


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "convert", help="convert a model file (cthulhu, Keras .keras/.h5) to .cthulhu, .keras "
                        "or .h5, with a certificate check",
        description="Convert a model file to another format: IN is read by content (cthulhu, "
                    "Keras 3 .keras, legacy .h5 of Keras 1/2/3), OUT's format follows its "
                    "extension (.keras, .h5, anything else: cthulhu's own). Prints the "
                    "summary, then checks the certificate stored in OUT by loading it back.",
        epilog="examples:\n  cthulhu convert model.h5 model.cthulhu\n"
               "  cthulhu convert unet.keras unet_tf.h5 --device dask",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    parser.add_argument("input", metavar="IN", help="a model file cthulhu reads")
    parser.add_argument("output", metavar="OUT",
                        help="the file to write: .keras, .h5/.hdf5, or any other name for "
                             "cthulhu's format")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing OUT")
    parser.add_argument("--device", default="numpy",
                        help="where the certificate is checked: numpy (default), cupy, dask, "
                             "array_api_strict")
    parser.add_argument("--original-backend", default=None, choices=("theano",),
                        help="a Keras 1 file whose convolution kernels Theano trained "
                             "(they are flipped)")
    return parser


def run(args) -> int:
    from cthulhu.cli import CliError
    from cthulhu.saving import certificate as cert
    from cthulhu.saving.files import load_model, save_format_of, save_model

    if os.path.abspath(args.input) == os.path.abspath(args.output):
        raise CliError("IN and OUT are the same file")
    if os.path.exists(args.output) and not args.overwrite:
        raise CliError(f"{args.output} exists (--overwrite replaces it)")
    try:
        model = load_model(args.input, original_backend=args.original_backend)
    except FileNotFoundError:
        raise CliError(f"model file {args.input!r} does not exist") from None
    stored = cert.attached(model)
    if stored is not None:
        try:
            print(cert.check(model, stored, args.device))
        except cert.CertificateError as exc:
            raise CliError(f"{args.input}: {exc}") from None
    model.summary()
    fmt = save_format_of(args.output)
    save_model(model, args.output, certificate=stored if stored is not None else True)
    # the check that matters: the file as written, read back, reproduces its test vector
    try:
        written = load_model(args.output)
        print(cert.check(written, cert.attached(written), args.device))
    except ValueError as exc:
        raise CliError(f"{args.output} was written, but does not check: {exc}") from None
    print(f"wrote {args.output} ({_FORMATS[fmt]})")
    return 0


_FORMATS = {"keras": "Keras 3 .keras", "h5": "Keras 2 legacy HDF5", "cthulhu": "cthulhu file"}
