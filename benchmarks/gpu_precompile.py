"""Fill CuPy's kernel disk cache with every cthulhu kernel, in parallel processes.

``python -m benchmarks.gpu_precompile [processes]``: each process compiles (NVRTC) a
share of ``_kernel_names.all_kernel_names()`` for the current GPU; later processes (the gpu
tests, the benchmarks) then load the binaries instead of compiling one by one. Prints
how many kernels were built, how long it took, and any kernel that failed to compile.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import time


def _compile(jobs):
    from cthulhu.devices.cupy_ import _loader

    failed = []
    for file, name in jobs:
        try:
            _loader.kernel(file, name)
        except Exception as exc:  # report, do not stop the others
            failed.append(f"{file}:{name}: {type(exc).__name__}: {str(exc)[:300]}")
    return failed


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    from cthulhu.devices.cupy_ import _kernel_names

    jobs = [(f, n) for f, names in _kernel_names.all_kernel_names().items() for n in names]
    processes = int(argv[0]) if argv else max(1, min(16, (os.cpu_count() or 2)))
    shares = [jobs[i::processes] for i in range(processes)]
    start = time.perf_counter()
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        failed = [f for part in pool.map(_compile, shares) for f in part]
    print(f"gpu_precompile: {len(jobs) - len(failed)}/{len(jobs)} kernels in "
          f"{time.perf_counter() - start:.1f} s with {processes} processes")
    for line in failed:
        print(f"  FAILED {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
