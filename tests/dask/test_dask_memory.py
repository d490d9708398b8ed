"""Memory stays bounded: a volume several times larger than the allowance runs within it."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import zarr

CHILD = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    import cthulhu
    from cthulhu.layers import Cthalpa3D, InputLayer
    from cthulhu.models import Pile

    model = Pile([InputLayer(input_shape=(None, None, None, 1)),
                  Cthalpa3D(2, 3, strides=2, padding="same", activation="relu"),
                  Cthalpa3D(1, 3, padding="same")])
    model.predict(np.zeros((1, 40, 40, 40, 1), np.float32))  # warm up every code path
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cthulhu.predict_volume(model, sys.argv[1], sys.argv[2], block_shape=16, progress=False)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"before_mib": before / 1024, "after_mib": after / 1024}))
""")


@pytest.mark.slow
def test_volume_four_times_the_allowance_stays_within_it(tmp_path):
    shape = (256, 512, 512)  # float32: 64 Mi voxels, 256 MiB
    allowance_mib = 64
    source = zarr.create_array(store=str(tmp_path / "in.zarr"), shape=shape, chunks=(32,) * 3,
                               dtype="float32")
    rng = np.random.default_rng(0)
    for start in range(0, shape[0], 32):
        source[start:start + 32] = rng.standard_normal((32, *shape[1:]), dtype=np.float32)
    volume_mib = np.prod(shape) * 4 / 2**20
    assert volume_mib >= 4 * allowance_mib
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = subprocess.run([sys.executable, str(script), str(tmp_path / "in.zarr"),
                          str(tmp_path / "out.zarr")], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    figures = json.loads(out.stdout.strip().splitlines()[-1])
    growth = figures["after_mib"] - figures["before_mib"]
    assert growth < allowance_mib, figures
    result = zarr.open_array(str(tmp_path / "out.zarr"))
    assert result.shape == (128, 256, 256)
    assert dict(result.attrs)["cthulhu"]["complete"] is True


UNET_CHILD = textwrap.dedent("""
    import json, resource, sys
    import numpy as np
    import zarr
    import cthulhu
    sys.path.insert(0, sys.argv[4])
    from tests.support.dag_models import unet

    model = unet(3, 3, base=1)  # depth 3: strided convolutions, BN, concatenated skips
    shape = tuple(int(n) for n in sys.argv[3].split(","))
    source = zarr.create_array(store=sys.argv[1], shape=shape, chunks=(32, 32, 32),
                               dtype="float32")
    rng = np.random.default_rng(0)
    for start in range(0, shape[0], 32):
        source[start:start + 32] = rng.standard_normal((min(32, shape[0] - start), *shape[1:]),
                                                       dtype=np.float32)
    model.predict(np.zeros((1, 40, 40, 40, 1), np.float32))  # warm up every code path
    cthulhu.predict_volume(model, sys.argv[1], sys.argv[2], block_shape=48, progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_mib": peak / 1024}))
""")


@pytest.mark.slow
def test_unet_peak_memory_is_flat_as_the_volume_grows(tmp_path):
    """A fused 3D U-Net holds no intermediate volume: four times the voxels, the same peak.

    Each size runs in a fresh process. The larger volume's full-resolution skip
    connection alone (one channel, float32) is 75 MiB: a runner holding any
    intermediate volume would grow by more than the 40 MiB allowed here.
    """
    script = tmp_path / "child.py"
    script.write_text(UNET_CHILD)
    root = str(__import__("pathlib").Path(__file__).resolve().parents[2])
    peaks = {}
    for shape in ((160, 160, 192), (320, 320, 192)):
        name = "x".join(map(str, shape))
        out = subprocess.run([sys.executable, str(script), str(tmp_path / f"{name}.zarr"),
                              str(tmp_path / f"{name}-out.zarr"), ",".join(map(str, shape)),
                              root], capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-2000:]
        peaks[shape] = json.loads(out.stdout.strip().splitlines()[-1])["peak_mib"]
        result = zarr.open_array(str(tmp_path / f"{name}-out.zarr"))
        assert result.shape == shape and dict(result.attrs)["cthulhu"]["complete"] is True
    print(f"U-Net peak RSS: {peaks}")   # the figures of docs/out-of-core.md (pytest -s)
    small, large = peaks.values()
    assert large - small < 40, peaks
