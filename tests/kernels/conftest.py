import pytest

from tests.support import cuda_harness


@pytest.fixture(scope="session")
def emulator():
    """Every kernel instantiation compiled once for the host (cached on disk by hash)."""
    if cuda_harness.gxx() is None:
        pytest.skip("no g++ to build the CPU emulation of the CUDA kernels")
    from cthulhu.devices.cupy_ import _kernel_names

    names = [n for per_file in _kernel_names.all_kernel_names().values() for n in per_file]
    return cuda_harness.Emulator(names)
