"""Tools shared by the kernel tests: nvcc / NVRTC compilation with an on-disk cache,
and the CPU emulation library that runs the ``.cu`` sources on host threads.

Compilation results are cached in a temporary folder keyed by a hash of every input
(sources, shim, flags, names), so a second test run compiles nothing.
"""

from __future__ import annotations

import ctypes
import glob
import hashlib
import os
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor
from importlib import resources
from pathlib import Path

import numpy as np

from cthulhu.devices.cupy_ import kernels as _kernels_pkg

KERNEL_DIR = Path(str(resources.files(_kernels_pkg)))
SOURCES = sorted(p.name for p in KERNEL_DIR.glob("*.cu"))
SHIM_DIR = Path(__file__).resolve().parents[1] / "kernels" / "emulation"
CACHE_DIR = Path(tempfile.gettempdir()) / "cthulhu-kernel-cache"
ARCHS = ("sm_80", "sm_90")


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:24]


def kernel_inputs_digest() -> str:
    """Hash of every kernel source and header (the cache key's common part)."""
    files = sorted(KERNEL_DIR.glob("*.cu*"))
    return _digest(*(f.name.encode() + f.read_bytes() for f in files))


def _cached(key: str, suffix: str, build) -> Path:
    """Path of a cached artefact; ``build(tmp_path)`` makes it when missing."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    target = CACHE_DIR / f"{key}{suffix}"
    if not target.exists():
        fd, tmp = tempfile.mkstemp(dir=CACHE_DIR, suffix=suffix)
        os.close(fd)
        try:
            build(Path(tmp))
            os.replace(tmp, target)  # atomic: parallel test runs never see half a file
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    return target


# -- nvcc ---------------------------------------------------------------------------

def nvcc() -> str | None:
    return shutil.which("nvcc") or next(iter(glob.glob("/usr/local/cuda*/bin/nvcc")), None)


class CompileError(AssertionError):
    pass


def _run(cmd, cwd=None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd)
    if proc.returncode != 0:
        raise CompileError(f"{' '.join(map(str, cmd))} failed:\n{proc.stdout}\n{proc.stderr}")
    return proc


def _instantiation_unit(source: str, names: list[str]) -> str:
    """A translation unit that includes ``source`` and forces each name expression to be
    instantiated (what NVRTC's name expressions do), without touching the .cu itself."""
    refs = ", ".join(f"(void*)&{name}" for name in names)
    return f'#include "{source}"\nvoid* cthulhu_instances[] = {{{refs}}};\n'


def nvcc_compile(source: str, names: list[str], arch: str, mode: str = "ptx") -> Path:
    """Compile ``source`` (a file in the kernels folder) for ``arch`` with every name
    instantiated; returns the cached PTX or cubin path. A cubin build also keeps ptxas'
    resource report (registers, spills) beside it: ``ptxas_log(path)``."""
    key = _digest("nvcc", kernel_inputs_digest(), source, arch, mode, *names)

    def build(out: Path):
        with tempfile.TemporaryDirectory() as tmp:
            unit = Path(tmp) / "unit.cu"
            unit.write_text(_instantiation_unit(source, names))
            extra = ["-Xptxas", "-v"] if mode == "cubin" else []
            proc = _run([nvcc(), "-std=c++17", f"-arch={arch}", f"--{mode}", *extra, "-I",
                         str(KERNEL_DIR), "-Werror", "all-warnings", str(unit), "-o", str(out)])
            if mode == "cubin":
                (CACHE_DIR / f"{key}.ptxas.log").write_text(proc.stderr)

    return _cached(key, "." + mode, build)


def ptxas_log(cubin: Path) -> str:
    return (cubin.parent / f"{cubin.stem}.ptxas.log").read_text()


def map_parallel(func, items):
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda args: func(*args), items))


# -- NVRTC (the library cupy.RawModule uses), called through ctypes ------------------

def find_nvrtc() -> str | None:
    """Path of a libnvrtc shared library: the CUDA toolkit's or the nvidia-cuda-nvrtc wheel's."""
    patterns = ["/usr/local/cuda*/lib64/libnvrtc.so*", "/usr/local/cuda*/targets/*/lib/libnvrtc.so*"]
    try:
        import nvidia  # the namespace package of NVIDIA's wheels

        for root in nvidia.__path__:
            patterns.append(os.path.join(root, "*", "lib", "libnvrtc.so*"))
    except ImportError:
        pass
    for pattern in patterns:
        for path in sorted(glob.glob(pattern)):
            if "builtins" not in os.path.basename(path) and "alt" not in os.path.basename(path):
                return path
    return None


class NvrtcResult:
    def __init__(self, ptx: str, log: str, lowered: dict[str, str]):
        self.ptx, self.log, self.lowered = ptx, log, lowered


def nvrtc_compile(lib_path: str, source: str, names: list[str], options: list[str]) -> NvrtcResult:
    """Compile like ``cupy.RawModule(code=..., options=..., name_expressions=...)`` does."""
    lib = ctypes.CDLL(lib_path)
    prog = ctypes.c_void_p()
    code = (KERNEL_DIR / source).read_bytes()

    def check(status, what):
        if status != 0:
            lib.nvrtcGetErrorString.restype = ctypes.c_char_p
            raise CompileError(f"{what}: {lib.nvrtcGetErrorString(status).decode()}")

    check(lib.nvrtcCreateProgram(ctypes.byref(prog), code, source.encode(), 0, None, None),
          "nvrtcCreateProgram")
    try:
        for name in names:
            check(lib.nvrtcAddNameExpression(prog, name.encode()), f"nvrtcAddNameExpression({name})")
        opts = (ctypes.c_char_p * len(options))(*(o.encode() for o in options))
        status = lib.nvrtcCompileProgram(prog, len(options), opts)
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, log)
        log_text = log.value.decode(errors="replace")
        if status != 0:
            raise CompileError(f"NVRTC failed on {source} with {options}:\n{log_text}")
        lowered = {}
        for name in names:
            out = ctypes.c_char_p()
            check(lib.nvrtcGetLoweredName(prog, name.encode(), ctypes.byref(out)),
                  f"nvrtcGetLoweredName({name})")
            lowered[name] = out.value.decode()
        lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
        ptx = ctypes.create_string_buffer(size.value)
        check(lib.nvrtcGetPTX(prog, ptx), "nvrtcGetPTX")
        return NvrtcResult(ptx.value.decode(), log_text, lowered)
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


# -- CPU emulation ---------------------------------------------------------------------

def gxx() -> str | None:
    return shutil.which("g++")


class EmulationError(AssertionError):
    """The emulator caught a kernel breaking a CUDA rule (see emulation/cuda_shim.h)."""


#: Fiber schedules of the emulator: the order in which a block's threads are resumed
#: after each synchronisation point.
SCHEDULES = {"forward": 0, "reverse": 1, "shuffle": 2}


class Emulator:
    """The kernels compiled for the host: ``launch(name, grid, block, args)`` runs one
    kernel like ``cupy.RawKernel.__call__``; ``args`` holds NumPy arrays (device
    pointers; the only memory the kernel may touch through checked accesses), Python
    ints (``int`` parameters), ``numpy.int64`` (``long long``), ``numpy.float32``
    (``float``) and ``numpy.float64`` (``double``), in the
    kernel's order. ``kernel_dir`` builds from another copy of the sources (the
    breakage tests)."""

    def __init__(self, names: list[str], kernel_dir: Path | None = None):
        self.names = list(names)
        self.kernel_dir = Path(kernel_dir) if kernel_dir is not None else KERNEL_DIR
        self.index = {name: i for i, name in enumerate(self.names)}
        self.lib = ctypes.CDLL(str(self._build()))
        self.lib.cthulhu_emu_last_error.restype = ctypes.c_char_p

    def _units(self, parts: int = 2) -> list[str]:
        sources = sorted(p.name for p in self.kernel_dir.glob("*.cu"))
        head = ['#include "cuda_shim.h"'] + [f'#include "{s}"' for s in sources]
        units = [list(head) for _ in range(parts)]
        units[0].insert(0, "#define CTHULHU_EMU_EXPORTS 1")
        for i, name in enumerate(self.names):
            units[i % parts].append(
                f'extern "C" int cthulhu_emu_{i}(const unsigned* g, const unsigned* b, '
                f"void** p, unsigned smem) {{ return cthulhu_emu_launch(&{name}, g, b, p, smem); }}")
        return ["\n".join(u) + "\n" for u in units]

    def _build(self) -> Path:
        flags = ["-std=c++20", "-O1", "-fPIC", "-w"]
        shim = (SHIM_DIR / "cuda_shim.h").read_bytes()
        files = sorted(self.kernel_dir.glob("*.cu*"))
        sources = _digest(*(f.name.encode() + f.read_bytes() for f in files))
        key = _digest("emu", sources, shim, *flags, *self.names)

        def build(out: Path):
            with tempfile.TemporaryDirectory() as tmp:
                jobs = []
                for i, text in enumerate(self._units()):
                    src = Path(tmp) / f"emu_{i}.cpp"
                    src.write_text(text)
                    jobs.append((src, Path(tmp) / f"emu_{i}.o"))
                map_parallel(lambda s, o: _run([gxx(), *flags, "-I", str(SHIM_DIR), "-I",
                                                str(self.kernel_dir), "-c", str(s), "-o",
                                                str(o)]),
                             jobs)
                _run([gxx(), "-shared", *(str(o) for _, o in jobs), "-o", str(out)])

        return _cached(key, ".so", build)

    def launch(self, name: str, grid, block, args, shared_bytes: int = 0,
               schedule: str = "forward", seed: int = 0) -> None:
        keep = []
        ptrs = (ctypes.c_void_p * len(args))()
        ranges = []
        for i, arg in enumerate(args):
            if isinstance(arg, np.ndarray):
                if not arg.flags.c_contiguous:
                    raise ValueError("kernel arrays must be C-contiguous")
                value = ctypes.c_void_p(arg.ctypes.data)
                ranges.append((arg.ctypes.data, arg.ctypes.data + arg.nbytes))
            elif isinstance(arg, np.float32):
                value = ctypes.c_float(float(arg))
            elif isinstance(arg, np.float64):
                value = ctypes.c_double(float(arg))
            elif isinstance(arg, np.int64):
                value = ctypes.c_longlong(int(arg))
            elif isinstance(arg, (int, np.integer)):
                value = ctypes.c_int(int(arg))
            else:
                raise TypeError(f"unsupported kernel argument {arg!r}")
            keep.append(value)
            ptrs[i] = ctypes.cast(ctypes.byref(value), ctypes.c_void_p)
        lo = (ctypes.c_size_t * max(1, len(ranges)))(*(r[0] for r in ranges))
        hi = (ctypes.c_size_t * max(1, len(ranges)))(*(r[1] for r in ranges))
        self.lib.cthulhu_emu_set_ranges(lo, hi, len(ranges))
        self.lib.cthulhu_emu_set_schedule(SCHEDULES[schedule], ctypes.c_uint(seed))
        g = (ctypes.c_uint * 3)(*grid)
        b = (ctypes.c_uint * 3)(*block)
        status = getattr(self.lib, f"cthulhu_emu_{self.index[name]}")(g, b, ptrs,
                                                                      ctypes.c_uint(shared_bytes))
        if status != 0:
            raise EmulationError(f"{name}: {self.lib.cthulhu_emu_last_error().decode()}")
