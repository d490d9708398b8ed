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

import cuda_harness as H
import pytest

from cthulhu.devices.cupy_ import _launch, _loader

NAMES = _launch.all_kernel_names()
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
    """Warp intrinsics and dynamic shared memory would run on a GPU but not in the CPU
    emulation that proves the kernels' logic; keep them out (or model them first)."""
    forbidden = ("__shfl", "__ballot", "__any_sync", "__all_sync", "__activemask",
                 "extern __shared__", "__syncwarp", "atomic")
    for source in H.SOURCES + ["cthulhu_common.cuh"]:
        text = (H.KERNEL_DIR / source).read_text()
        assert not [f for f in forbidden if f in text], source


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
