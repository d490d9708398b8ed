"""Benchmarks of the Dask device (never run by the test suite).

Three figures, each a ratio against a peer measured in the same run:

1. ``rss``: peak resident memory of ``predict_volume`` (a three-layer
   ``Cthalpa3D`` model) over Zarr volumes of growing size, each run in a fresh
   process; the issue's target is flat memory under 2 GiB at 1, 4 and 16 GiB.
2. ``throughput``: out-of-core ``predict_volume`` (Zarr in, Zarr out) against
   the in-memory NumPy ``model.predict`` of the same model on a volume that
   fits (target: >= 80%).
3. ``conv``: one 3x3x3 convolution over a Zarr volume, cthulhu's Dask layer
   against ``dask_image.ndfilters.convolve`` on the same volume and chunks
   (target: at least as fast).
4. ``safety``: what the resume and durability guarantees cost a ``predict_volume``
   run: the input-content digest (taken at every start) against the whole run,
   and runs with the per-block ``fsync`` calls against runs with them disabled.

Usage::

    python benchmarks/bench_dask.py [--only rss,throughput,conv,safety] [--sizes 64,256,1024]
                                    [--block 64|auto] [--chunk 64] [--edge 96] [--repeats 3]
                                    [--scheduler threads] [--workdir DIR]

``--sizes`` are volume sizes in MiB (float32, one channel) for the memory run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time
import cthulhu
from cthulhu.cli.predict import example_model
model = example_model(width=int(sys.argv[4]))
start = time.perf_counter()
block = None if sys.argv[3] == "auto" else int(sys.argv[3])
summary = cthulhu.predict_volume(model, sys.argv[1], sys.argv[2], block_shape=block,
                                 progress=False, overwrite=True)
seconds = time.perf_counter() - start
peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mib": peak_kib / 1024, "blocks": summary["blocks"]}))
"""


def make_volume(path, shape, chunks, seed=0):
    """A float32 Zarr volume written slab by slab (never whole in memory)."""
    import zarr

    rng = np.random.default_rng(seed)
    array = zarr.create_array(store=str(path), shape=shape, chunks=chunks, dtype="float32",
                              overwrite=True)
    for start in range(0, shape[0], chunks[0]):
        stop = min(start + chunks[0], shape[0])
        array[start:stop] = rng.standard_normal((stop - start, *shape[1:]), dtype=np.float32)
    return array


def cube_for_mib(mib):
    """Edge lengths (d, h, w) of a float32 volume of about ``mib`` MiB."""
    voxels = mib * 2**20 // 4
    edge = round(voxels ** (1 / 3))
    depth = max(1, voxels // (edge * edge))
    return (depth, edge, edge)


def bench_rss(sizes, block, workdir, width=4, chunk=64):
    """Peak RSS of a fresh process per volume size (``block`` an int or ``"auto"``)."""
    rows = []
    for mib in sizes:
        shape = cube_for_mib(mib)
        source, target = workdir / f"rss_in_{mib}.zarr", workdir / f"rss_out_{mib}.zarr"
        make_volume(source, shape, (chunk,) * 3)
        out = subprocess.run([sys.executable, "-c", CHILD, str(source), str(target), str(block),
                              str(width)],
                             capture_output=True, text=True, check=True)
        result = json.loads(out.stdout.strip().splitlines()[-1])
        voxels = int(np.prod(shape))
        rows.append({"volume_mib": mib, "shape": shape, **result,
                     "mvoxel_per_s": voxels / result["seconds"] / 1e6})
        print(f"rss: volume {mib:6d} MiB {shape}, {chunk}^3 chunks, block {block}: peak RSS {result['peak_mib']:7.1f} MiB, "
              f"{result['seconds']:7.1f} s, {rows[-1]['mvoxel_per_s']:.2f} Mvoxel/s", flush=True)
        for path in (source, target):
            _remove(path)
    return rows


def bench_throughput(edge, block, workdir, repeats=3, width=4, chunk=64, scheduler=None):
    """Out-of-core predict_volume vs in-memory model.predict on the same volume.

    The two are timed in alternation (``repeats`` pairs), so that a busy machine
    slows both alike; the figures are the best times and the range of the
    per-pair ratios. ``block`` None is predict_volume's default (from the halo).
    """
    import zarr

    import cthulhu
    from cthulhu.cli.predict import example_model

    model = example_model(width=width)
    shape = (edge,) * 3
    source, target = workdir / "tp_in.zarr", workdir / "tp_out.zarr"
    make_volume(source, shape, (chunk,) * 3)
    x = zarr.open_array(str(source))[...][None, ..., None]
    model.predict(x[:, :8, :8, :8])  # warm-up (weight conversion, BLAS start-up)
    pairs = []
    for _ in range(repeats):
        t_mem = _timed(lambda: model.predict(x))
        t_ooc = _timed(lambda: cthulhu.predict_volume(
            model, source, target, block_shape=block, progress=False, overwrite=True,
            scheduler=scheduler))
        pairs.append((t_mem, t_ooc))
    in_memory, out_of_core = min(p[0] for p in pairs), min(p[1] for p in pairs)
    ratios = sorted(m / o for m, o in pairs)
    result = zarr.open_array(str(target))
    same = np.allclose(result[...], model.predict(x)[0, ..., 0], rtol=1e-4, atol=1e-4)
    voxels = edge**3
    row = {"edge": edge, "block": list(result.chunks), "chunk": chunk, "scheduler": scheduler,
           "in_memory_s": in_memory, "out_of_core_s": out_of_core,
           "ratio": in_memory / out_of_core, "pair_ratios": ratios, "equal": bool(same),
           "in_memory_mvoxel_s": voxels / in_memory / 1e6,
           "out_of_core_mvoxel_s": voxels / out_of_core / 1e6}
    print(f"throughput: {edge}^3 in {chunk}^3 chunks, blocks {result.chunks}: in-memory "
          f"{in_memory:.2f} s, out-of-core {out_of_core:.2f} s (best of {repeats}) -> "
          f"{100 * row['ratio']:.0f}% of in-memory; pairs {100 * ratios[0]:.0f}%.."
          f"{100 * ratios[-1]:.0f}% (equal: {same})", flush=True)
    _remove(source)
    _remove(target)
    return row


def bench_conv(edge, chunk, workdir, repeats=5):
    """One 3x3x3 convolution over a Zarr volume: cthulhu's Dask layer vs dask_image."""
    import dask.array as da
    import zarr
    from dask_image import ndfilters

    from cthulhu.layers import Cthalpa3D

    shape = (edge,) * 3
    source = workdir / "conv_in.zarr"
    make_volume(source, shape, (chunk,) * 3)
    layer = Cthalpa3D(1, 3, padding="same", use_bias=False)
    layer.build((None, None, None, None, 1))
    kernel = layer.get_weights()[0]  # (3, 3, 3, 1, 1), cross-correlation
    # convolve() flips the kernel: pass the flipped one so both compute the same thing.
    weights = kernel[::-1, ::-1, ::-1, 0, 0].copy()

    def ours():
        x = da.from_zarr(str(source))[None, ..., None]
        y = layer(x)[0, ..., 0]
        da.to_zarr(y, str(workdir / "conv_ours.zarr"), overwrite=True)

    def theirs():
        x = da.from_zarr(str(source))
        y = ndfilters.convolve(x, weights, mode="constant", cval=0.0)
        da.to_zarr(y, str(workdir / "conv_theirs.zarr"), overwrite=True)

    import dask

    rows = []
    for scheduler in ("threads", "synchronous"):
        with dask.config.set(scheduler=scheduler):
            pairs = [(_timed(ours), _timed(theirs)) for _ in range(repeats)]
        t_ours, t_theirs = min(p[0] for p in pairs), min(p[1] for p in pairs)
        speedups = sorted(b / a for a, b in pairs)
        a = zarr.open_array(str(workdir / "conv_ours.zarr"))[...]
        b = zarr.open_array(str(workdir / "conv_theirs.zarr"))[...]
        same = bool(np.allclose(a, b, rtol=1e-4, atol=1e-4))
        row = {"edge": edge, "chunk": chunk, "scheduler": scheduler, "cthulhu_s": t_ours,
               "dask_image_s": t_theirs, "speedup": t_theirs / t_ours,
               "pair_speedups": speedups, "equal": same}
        print(f"conv: {edge}^3 in {chunk}^3 chunks, {scheduler}: cthulhu {t_ours:.3f} s, "
              f"dask_image {t_theirs:.3f} s (best of {repeats}) -> {row['speedup']:.2f}x; pairs "
              f"{speedups[0]:.2f}x..{speedups[-1]:.2f}x (equal: {same})", flush=True)
        rows.append(row)
    for name in ("conv_in.zarr", "conv_ours.zarr", "conv_theirs.zarr"):
        _remove(workdir / name)
    return rows


def bench_safety(edge, block, workdir, repeats=3, width=4, chunk=64):
    """The cost of the input digest and of the fsyncs, against the run they protect."""
    from unittest import mock

    import cthulhu
    from cthulhu.cli.predict import example_model
    from cthulhu.devices.dask_ import digest, outputs, stores

    model = example_model(width=width)
    source, target = workdir / "safety_in.zarr", workdir / "safety_out.zarr"
    make_volume(source, (edge,) * 3, (chunk,) * 3)
    stored = sum(p.stat().st_size for p in source.rglob("*") if p.is_file())

    def run():
        cthulhu.predict_volume(model, source, target, block_shape=block, progress=False,
                               overwrite=True)

    def run_without_fsync():
        with mock.patch.object(outputs, "fsync_file", lambda path: None), \
                mock.patch.object(outputs, "fsync_dir", lambda path: None):
            run()

    run()  # warm-up; the input is then in the page cache, as it is after make_volume
    rows = []
    for _ in range(repeats):
        t_digest = _timed(lambda: digest.input_parts(stores.open_source(str(source))))
        rows.append((t_digest, _timed(run), _timed(run_without_fsync)))
    t_digest, t_run, t_bare = (min(r[i] for r in rows) for i in range(3))
    blocks = cthulhu.predict_volume(model, source, target, block_shape=block, progress=False,
                                    overwrite=True)["blocks"]
    row = {"edge": edge, "chunk": chunk, "width": width, "blocks": blocks,
           "stored_mib": stored / 2**20, "digest_s": t_digest, "run_s": t_run,
           "run_without_fsync_s": t_bare, "digest_share": t_digest / t_run,
           "fsync_share": (t_run - t_bare) / t_run,
           "pairs": [list(r) for r in rows]}
    print(f"safety: {edge}^3 in {chunk}^3 chunks ({stored / 2**20:.0f} MiB stored), width "
          f"{width}, {blocks} blocks: input digest {t_digest:.2f} s = "
          f"{100 * row['digest_share']:.1f}% of the run ({t_run:.2f} s, best of {repeats}); "
          f"run without fsync {t_bare:.2f} s ({100 * row['fsync_share']:+.1f}%)", flush=True)
    _remove(source)
    _remove(target)
    return row


def _timed(func):
    start = time.perf_counter()
    func()
    return time.perf_counter() - start


def _remove(path):
    import shutil

    if Path(path).exists():
        shutil.rmtree(path)


def _block_int(text):
    return 64 if text == "auto" else int(text)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="rss,throughput,conv")
    parser.add_argument("--sizes", default="16,64,256", help="MiB per volume for the rss run")
    parser.add_argument("--block", default="64",
                        help="block edge (conv: also the chunks); for rss and throughput "
                             "'auto' is predict_volume's default from the halo")
    parser.add_argument("--chunk", type=int, default=64,
                        help="input Zarr chunk edge of the rss and throughput volumes")
    parser.add_argument("--repeats", type=int, default=3, help="timed pairs per figure")
    parser.add_argument("--scheduler", default=None,
                        help="Dask scheduler of the throughput run (default: threads)")
    parser.add_argument("--edge", type=int, default=96, help="volume edge for throughput/conv")
    parser.add_argument("--width", type=int, default=4,
                        help="filters of the example model's two hidden Cthalpa3D layers")
    parser.add_argument("--workdir", default=None)
    parser.add_argument("--json", default=None, help="also write the figures to this file")
    args = parser.parse_args(argv)
    wanted = set(args.only.split(","))
    results = {"cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="cthulhu-bench-") as tmp:
        workdir = Path(args.workdir or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        if "rss" in wanted:
            sizes = [int(s) for s in args.sizes.split(",")]
            results["rss"] = bench_rss(sizes, args.block, workdir, args.width, args.chunk)
        if "throughput" in wanted:
            block = None if args.block == "auto" else int(args.block)
            results["throughput"] = bench_throughput(args.edge, block, workdir, args.repeats,
                                                     args.width, args.chunk, args.scheduler)
        if "safety" in wanted:
            block = None if args.block == "auto" else int(args.block)
            results["safety"] = bench_safety(args.edge, block, workdir, args.repeats,
                                             args.width, args.chunk)
        if "conv" in wanted:
            results["conv"] = bench_conv(args.edge, _block_int(args.block), workdir,
                                         max(args.repeats, 5))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return results


if __name__ == "__main__":
    main()
