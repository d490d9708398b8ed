"""``cthulhu predict``: run a saved model over a volume on disk, out of core.

    cthulhu predict MODEL --input in.zarr --output out.zarr [--block 128]
                    [--scheduler ADDRESS] [--device numpy|cupy] [--overwrite]
                    [--chunks N] [--compression zstd:3] [--output-dtype float16] [--ome]
                    [--plan plan.svg] [--plan-only] [--progress bar|dask|none]

Inputs: a Zarr array (a path or a URL), ``file.h5:dataset`` or a ``.npy`` file;
the output is a Zarr (v3) array at a path or an ``s3://``/``memory://`` URL. A
progress bar (blocks, throughput, time left) is drawn on a terminal, then a
summary line and how to open the result. Bad input is one error line and exit
status 2, with nothing written. ``example_model()`` and ``example_volume()`` are
the built-in example's (``cthulhu demo``).
"""

from __future__ import annotations

import sys


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "predict", help="run a saved model over a volume on disk, out of core",
        description="Run a saved model over a volume on disk, block by block, into a Zarr "
                    "array. Re-running the same command after a crash finishes only the "
                    "missing blocks.")
    parser.add_argument("model", metavar="MODEL", help="a model file written by model.save()")
    parser.add_argument("--input", "-i", required=True, metavar="IN",
                        help="input volume: a Zarr array, file.h5:dataset, or a .npy file")
    parser.add_argument("--output", "-o", required=True, metavar="OUT",
                        help="output Zarr array (created; chunks = blocks)")
    parser.add_argument("--block", default=None, metavar="N[,N,...]",
                        help="output block size per spatial axis (default: the smallest "
                             "multiple of 16 from 64 to 256 whose halo adds at most 15%%)")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="a dask.distributed scheduler address (default: local threads)")
    parser.add_argument("--device", default="numpy", choices=("numpy", "cupy"),
                        help="run each block with NumPy (CPU) or CuPy (GPU)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace an existing output written by cthulhu predict (anything "
                             "else is refused, never deleted)")
    parser.add_argument("--chunks", default=None, metavar="N[,N,...]",
                        help="output chunk size per spatial axis, dividing the block (default: "
                             "one chunk per block)")
    parser.add_argument("--compression", default=None, metavar="CODEC[:LEVEL]",
                        help="output compression: zstd (default), blosc, gzip, each with an "
                             "optional :LEVEL, or none")
    parser.add_argument("--output-dtype", default=None, metavar="DTYPE",
                        help="stored dtype, e.g. float16 or uint8 (integers are rounded and "
                             "clipped; default float32)")
    parser.add_argument("--ome", action="store_true",
                        help="write an OME-NGFF image: OUT is a group with the axes and voxel "
                             "scale, the array is OUT/0")
    parser.add_argument("--plan", default=None, metavar="FILE.svg",
                        help="draw the block plan (grid, halo, edge blocks) to FILE.svg before "
                             "computing; with --plan-only, compute nothing")
    parser.add_argument("--plan-only", action="store_true",
                        help="only draw --plan (and print the plan), then stop")
    parser.add_argument("--progress", default="bar", choices=("bar", "dask", "none"),
                        help="bar: a progress bar on a terminal (default); dask: Dask's own "
                             "progress bar; none")
    parser.add_argument("--no-progress", action="store_true", help="the same as --progress none")
    return parser


def parse_block(text: str, option="--block"):
    """``"64"`` -> ``64``; ``"64,64,32"`` -> ``(64, 64, 32)``."""
    from cthulhu.cli import CliError

    try:
        values = tuple(int(part) for part in str(text).split(","))
    except ValueError:
        raise CliError(f"{option} must be a positive int or ints separated by commas, "
                       f"got {text!r}") from None
    if not values or any(v <= 0 for v in values):
        raise CliError(f"{option} must be positive, got {text!r}")
    return values[0] if len(values) == 1 else values


def _load(path):
    from cthulhu.cli import CliError
    from cthulhu.models import load_model

    try:
        return load_model(path)
    except FileNotFoundError:
        raise CliError(f"model file {path!r} does not exist") from None
    except Exception as exc:  # a corrupt or foreign file: one line, never a traceback
        raise CliError(f"cannot load model {path!r}: {exc}") from None


def _warn_in_one_line(message, category, filename, lineno, file=None, line=None):
    print(f"cthulhu predict: warning: {message}", file=sys.stderr, flush=True)


def run(args) -> int:
    import warnings

    from cthulhu.blockwise import plan_volume, predict_volume

    block = None if args.block is None else parse_block(args.block)
    chunks = None if args.chunks is None else parse_block(args.chunks, "--chunks")
    if args.plan_only and not args.plan:
        from cthulhu.cli import CliError

        raise CliError("--plan-only needs --plan FILE.svg")
    model = _load(args.model)
    progress = {"bar": True, "dask": "dask", "none": False}[args.progress]
    if args.no_progress:
        progress = False
    with warnings.catch_warnings():
        warnings.showwarning = _warn_in_one_line  # e.g. "taking over a stale lock"
        if args.plan_only:
            plan = plan_volume(model, args.input, block_shape=block, target=args.output)
            plan.save(args.plan)
            print(f"cthulhu predict: {plan.line()}; drawn to {args.plan}")
            return 0
        summary = predict_volume(model, args.input, args.output, block_shape=block,
                                 overwrite=args.overwrite, scheduler=args.scheduler,
                                 progress=progress, device=args.device, chunks=chunks,
                                 compression=args.compression, output_dtype=args.output_dtype,
                                 ome=args.ome, plan=args.plan)
    print(f"cthulhu predict: {summary.line()}")
    for line in summary.how_to_open():
        print(f"cthulhu predict: {line}")
    return 0


def example_model(channels=1, seed=0, width=8):
    """The built-in example: three ``Cthalpa3D`` layers (``width``, ``width``, 1 filters,
    3x3x3, 'same', ReLU between)."""
    import numpy as np

    from cthulhu.layers import Cthalpa3D, InputLayer
    from cthulhu.models import Pile

    model = Pile([InputLayer(input_shape=(None, None, None, channels)),
                  Cthalpa3D(width, 3, padding="same", activation="relu"),
                  Cthalpa3D(width, 3, padding="same", activation="relu"),
                  Cthalpa3D(1, 3, padding="same")], name="example_three_conv3d")
    rng = np.random.default_rng(seed)
    model.set_weights([(rng.standard_normal(w.shape) / np.sqrt(max(w.size // w.shape[-1], 1)))
                       .astype(np.float32) for w in model.get_weights()])
    return model


def example_volume(path, shape=(128, 128, 128), chunks=(32, 32, 32), seed=0):
    """Write a smooth random example volume (float32, one channel) as a Zarr array."""
    import numpy as np
    import zarr

    rng = np.random.default_rng(seed)
    array = zarr.create_array(store=str(path), shape=shape, chunks=chunks, dtype="float32",
                              overwrite=True)
    # Written slab by slab, as a real volume too large for memory would be.
    grid = [np.linspace(0, 6 * np.pi, n, dtype=np.float32) for n in shape[1:]]
    plane = np.sin(grid[0])[:, None] * np.cos(grid[1])[None, :]
    for start in range(0, shape[0], chunks[0]):
        stop = min(start + chunks[0], shape[0])
        depth = np.sin(np.linspace(0, 6 * np.pi, shape[0], dtype=np.float32)[start:stop])
        noise = rng.standard_normal((stop - start, *shape[1:])).astype(np.float32) * 0.1
        array[start:stop] = depth[:, None, None] * plane[None] + noise
    return array
