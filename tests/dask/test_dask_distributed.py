"""The same code runs on a dask.distributed LocalCluster with two worker processes."""

import dask.array as da
import numpy as np
import pytest
import zarr

import cthulhu
from cthulhu import layers as L
from cthulhu.models import Pile

distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None, silence_logs=40)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def model():
    m = Pile([L.InputLayer(input_shape=(None, None, None, 1)),
              L.Cthalpa3D(2, 3, padding="same", activation="relu"),
              L.Cthalpa3D(2, 3, strides=2, padding="same"),
              L.UbboSathla3D(2), L.Cthalpa3D(1, 3, padding="same")])
    rng = np.random.default_rng(11)
    m.set_weights([rng.standard_normal(w.shape).astype(np.float32) for w in m.get_weights()])
    return m


def test_predict_volume_on_local_cluster_equals_in_memory(client, tmp_path):
    m = model()
    x = np.random.default_rng(5).standard_normal((11, 10, 9)).astype(np.float32)
    source = zarr.create_array(store=str(tmp_path / "in.zarr"), shape=x.shape, chunks=(4, 4, 4),
                               dtype="float32")
    source[...] = x
    summary = cthulhu.predict_volume(m, str(tmp_path / "in.zarr"), tmp_path / "out.zarr",
                                     block_shape=4, scheduler=client, progress=False)
    assert summary["computed"] == summary["blocks"] > 1
    assert len(client.scheduler_info()["workers"]) == 2
    out = zarr.open_array(str(tmp_path / "out.zarr"))[...]
    np.testing.assert_allclose(out, m.predict(x[None, ..., None])[0, ..., 0],
                               rtol=1e-5, atol=1e-5)


def test_lazy_model_predict_computes_on_cluster(client):
    m = model()
    x = np.random.default_rng(6).standard_normal((2, 9, 8, 7, 1)).astype(np.float32)
    lazy = m.predict(da.from_array(x, chunks=(1, 4, 3, 5, 1)))
    result = client.compute(lazy).result()
    np.testing.assert_allclose(result, m.predict(x), rtol=1e-5, atol=1e-5)


def test_cli_scheduler_address(client, tmp_path, capsys):
    from cthulhu.cli import main

    m = model()
    m.save(tmp_path / "m.cthulhu")
    x = np.random.default_rng(8).standard_normal((9, 8, 7)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    code = main(["predict", str(tmp_path / "m.cthulhu"), "--input", str(tmp_path / "x.npy"),
                 "--output", str(tmp_path / "y.zarr"), "--block", "4",
                 "--scheduler", client.scheduler.address])
    assert code == 0, capsys.readouterr().err
    np.testing.assert_allclose(zarr.open_array(str(tmp_path / "y.zarr"))[...],
                               m.predict(x[None, ..., None])[0, ..., 0], rtol=1e-5, atol=1e-5)
