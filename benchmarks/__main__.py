"""Run every ``benchmarks/bench_*.py`` module's ``main()``, or only the ones named.

``python -m benchmarks``            all of them
``python -m benchmarks shapes conv`` only ``bench_shapes`` and ``bench_conv``
"""

import importlib
import inspect
import pkgutil
import sys
import time

import benchmarks


def _names():
    return sorted(m.name for m in pkgutil.iter_modules(benchmarks.__path__)
                  if m.name.startswith("bench_"))


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    available = _names()
    wanted = [a if a.startswith("bench_") else f"bench_{a}" for a in argv] or available
    unknown = [w for w in wanted if w not in available]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; available: {', '.join(available)}",
              file=sys.stderr)
        return 2
    status = 0
    for name in wanted:
        print(f"== {name}", flush=True)
        start = time.perf_counter()
        entry = importlib.import_module(f"benchmarks.{name}").main
        # benchmark mains take an optional argv; give them none of ours
        code = entry([]) if inspect.signature(entry).parameters else entry()
        status = status or int(code or 0)
        print(f"== {name}: {time.perf_counter() - start:.1f} s\n", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
