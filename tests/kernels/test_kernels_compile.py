"""Every CUDA source compiles: with nvcc for sm_80 and sm_90 (PTX, and cubin so that
ptxas checks registers and shared memory too), under NVRTC's rules (no host headers),
and with the real NVRTC library (what cupy.RawModule calls) when one is installed.

Compiles are cached on disk by a hash of their inputs (cuda_harness), so only the first
run after a kernel edit pays for them; the two architectures build in parallel.
"""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from cthulhu.devices.cupy_ import _kernel_names, _loader
from tests.support import cuda_harness as H

NAMES = _kernel_names.all_kernel_names()
needs_nvcc = pytest.mark.skipif(H.nvcc() is None, reason="nvcc is not installed")


def test_every_source_has_its_kernel_names():
    assert sorted(NAMES) == H.SOURCES
    for source, names in NAMES.items():
        text = (H.KERNEL_DIR / source).read_text()
        for name in names:
            assert re.search(rf"__global__[^;{{]*\b{re.escape(name.partition('<')[0])}\(",
                             text), (source, name)


@pytest.fixture(scope="module")
def nvcc_builds():
    """``(source, arch, mode) -> output path`` for every source, arch and mode."""
    # PTX for both architectures; a cubin (ptxas: registers, shared memory, spills) for
    # sm_80 only, as assembling every kernel twice would double the suite's compile time.
    jobs = [(s, NAMES[s], arch, "ptx") for s in H.SOURCES for arch in H.ARCHS]
    jobs += [(s, NAMES[s], "sm_80", "cubin") for s in H.SOURCES]
    jobs += [("igemm.cu", NAMES["igemm.cu"], "sm_90", "cubin")]  # the hot path, per arch
    outputs = H.map_parallel(H.nvcc_compile, jobs)
    return {(s, arch, mode): out for (s, _, arch, mode), out in zip(jobs, outputs, strict=True)}


@needs_nvcc
@pytest.mark.parametrize("arch", H.ARCHS)
@pytest.mark.parametrize("source", H.SOURCES)
def test_source_compiles_with_nvcc(nvcc_builds, source, arch):
    ptx = nvcc_builds[(source, arch, "ptx")].read_text()
    entries = set(re.findall(r"\.entry\s+(\w+)", ptx))
    assert len(entries) == len(NAMES[source])
    assert f".target {arch}" in ptx
    if arch == "sm_80":
        assert nvcc_builds[(source, arch, "cubin")].stat().st_size > 0


@needs_nvcc
def test_float32_conv_kernels_do_not_spill(nvcc_builds):
    """ptxas' resource report: the float32 direct-convolution tiles (the hot path) fit in
    registers. ptxas may cap registers for occupancy and spill a few bytes (the
    prologue's per-row values); a large spill would put local-memory traffic in the
    K loop, so more than one cache line per thread fails."""
    log = H.ptxas_log(nvcc_builds[("conv_nd.cu", "sm_80", "cubin")])
    reports = re.findall(r"entry function '(\w+)'.*?(\d+) bytes spill stores", log, re.S)
    assert len(reports) == len(NAMES["conv_nd.cu"])
    hot = {name: int(spill) for name, spill in reports
           if name.startswith("_Z21cthulhu_conv_nd_") and "IfLi" in name}
    assert len(hot) == 8
    assert all(spill <= 64 for spill in hot.values()), hot


def _ptxas_reports(log):
    """``{mangled entry: (registers, spill bytes, stack bytes)}`` from ptxas -v output."""
    out = {}
    for block in log.split("Compiling entry function")[1:]:
        name = re.search(r"'(\w+)'", block).group(1)
        stack, spill = re.search(r"(\d+) bytes stack frame, (\d+) bytes spill stores", block).groups()
        regs = re.search(r"Used (\d+) registers", block).group(1)
        out[name] = (int(regs), int(spill), int(stack))
    return out


def _tile_of(mangled):
    """(family, tile name) of an igemm entry from its mangled template arguments."""
    from cthulhu.devices.cupy_ import _igemm

    bm, bn, bk, wm, wn, stages, tc = re.search(
        r"Li(\d+)ELi(\d+)ELi(\d+)ELi(\d+)ELi(\d+)ELi(\d+)ELb(\d)", mangled).groups()
    fam = "tc" if tc == "1" else "simt"
    dims = tuple(int(v) for v in (bm, bn, bk, wm, wn, stages))
    name = next(n for n, t in _igemm.TILES[fam].items()
                if (t.bm, t.bn, t.bk, t.wm, t.wn, t.stages) == dims)
    return fam, name


@needs_nvcc
@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
def test_igemm_kernels_fit_in_registers(nvcc_builds, arch):
    """ptxas: no igemm kernel spills or uses a stack frame, on either architecture, and
    the register counts on sm_90 are those _igemm.TILES records (the tile choice's
    occupancy estimate uses them; a change in the kernel must update the table)."""
    from cthulhu.devices.cupy_ import _igemm

    reports = _ptxas_reports(H.ptxas_log(nvcc_builds[("igemm.cu", arch, "cubin")]))
    assert len(reports) == len(NAMES["igemm.cu"])
    for mangled, (regs, spill, stack) in reports.items():
        assert spill == 0 and stack == 0, (arch, mangled, regs, spill, stack)
        fam, name = _tile_of(mangled)
        tile = _igemm.TILES[fam][name]
        min_blocks = 1 if fam == "simt" and tile.threads >= 256 else 2  # igemm.cu's bounds
        assert regs <= min(255, 65536 // (tile.threads * min_blocks)), mangled
        if arch == "sm_90":
            assert regs <= tile.regs, (mangled, regs, tile.regs)


@needs_nvcc
@pytest.mark.parametrize("source", ["depthwise.cu", "eltwise.cu", "upsample.cu"])
def test_memory_bound_kernels_do_not_spill(nvcc_builds, source):
    """ptxas (sm_80): the memory-bound kernels use no local memory at all."""
    reports = _ptxas_reports(H.ptxas_log(nvcc_builds[(source, "sm_80", "cubin")]))
    assert len(reports) == len(NAMES[source])
    assert all(spill == 0 and stack == 0 for _, spill, stack in reports.values()), reports


@pytest.mark.parametrize("source", H.SOURCES)
def test_source_follows_nvrtc_rules(source):
    """NVRTC has no host headers: preprocessed as NVRTC sees it (``__CUDACC_RTC__``) with
    no system include path at all, a source must only pull in files of the kernels folder."""
    gxx = H.gxx()
    if gxx is None:
        pytest.skip("no g++ to preprocess with")
    proc = subprocess.run(
        [gxx, "-std=c++17", "-E", "-M", "-nostdinc", "-nostdinc++", "-D__CUDACC_RTC__",
         "-D__CUDACC__", "-x", "c++", "-I", str(H.KERNEL_DIR), str(H.KERNEL_DIR / source)],
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    deps = proc.stdout.replace("\\\n", " ").partition(":")[2].split()
    kernel_dir = os.path.realpath(H.KERNEL_DIR)
    outside = [d for d in deps if os.path.dirname(os.path.realpath(d)) != kernel_dir]
    assert not outside
    assert os.path.realpath(H.KERNEL_DIR / source) in map(os.path.realpath, deps)


def test_sources_avoid_what_the_emulator_cannot_model():
    """Warp intrinsics, raw PTX and raw dynamic shared memory would run on a GPU but not
    in the CPU emulation that proves the kernels' logic: kernels reach tensor cores,
    cp.async and dynamic shared memory only through the wrappers of cthulhu_warp.cuh and
    cthulhu_common.cuh, which the emulator models (tests/kernels/emulation/cuda_shim.h)."""
    intrinsics = ("__shfl", "__ballot", "__any_sync", "__all_sync", "__activemask",
                  "__syncwarp", "atomic")
    for source in H.SOURCES:
        text = (H.KERNEL_DIR / source).read_text()
        assert not [f for f in (*intrinsics, "asm", "extern __shared__") if f in text], source
    for header in sorted(H.KERNEL_DIR.glob("*.cuh")):
        text = header.read_text()
        assert not [f for f in intrinsics if f in text], header.name
        # raw PTX only on the GPU side of an emulation switch
        for block in re.split(r"#ifdef CTHULHU_EMULATION", text)[1:]:
            emulated = block.split("#else")[0]
            assert "asm" not in emulated, header.name


NVRTC = H.find_nvrtc()
NVRTC_ARCHS = ("compute_80", "compute_90")


def _nvrtc_build(source, arch):
    """NVRTC with the loader's options; a marker file caches success by input hash."""
    options = [*_loader.compile_options(), f"--gpu-architecture={arch}"]
    key = H._digest("nvrtc", H.kernel_inputs_digest(), NVRTC, source, *options,
                    *NAMES[source])
    marker = H.CACHE_DIR / f"{key}.nvrtc-ok"
    if not marker.exists():
        result = H.nvrtc_compile(NVRTC, source, NAMES[source], options)
        entries = set(re.findall(r"\.entry\s+(\w+)", result.ptx))
        missing = set(result.lowered.values()) - entries
        if missing or len(set(result.lowered.values())) != len(NAMES[source]):
            raise AssertionError(f"NVRTC output of {source} lacks kernels {sorted(missing)}")
        if "warning" in result.log.lower():
            raise AssertionError(f"NVRTC warned on {source}:\n{result.log}")
        H.CACHE_DIR.mkdir(parents=True, exist_ok=True)
        marker.write_text(result.log)
    return marker


@pytest.fixture(scope="module")
def nvrtc_builds():
    jobs = [(s, arch) for s in H.SOURCES for arch in NVRTC_ARCHS]

    def attempt(source, arch):
        try:
            return _nvrtc_build(source, arch)
        except AssertionError as exc:
            return exc

    return dict(zip(jobs, H.map_parallel(attempt, jobs), strict=True))


@pytest.mark.skipif(NVRTC is None, reason="no libnvrtc (pip install nvidia-cuda-nvrtc)")
@pytest.mark.parametrize("arch", NVRTC_ARCHS)
@pytest.mark.parametrize("source", H.SOURCES)
def test_source_compiles_with_nvrtc(nvrtc_builds, source, arch):
    """The real thing: NVRTC with the loader's options and name expressions, exactly as
    ``cupy.RawModule`` runs it (NVRTC needs no GPU or driver); every name expression
    lowers to a kernel present in the PTX."""
    outcome = nvrtc_builds[(source, arch)]
    if isinstance(outcome, Exception):
        raise outcome
    assert outcome.exists()
