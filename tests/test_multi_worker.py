"""Two worker processes on localhost train one model with MultiWorkerMirroredStrategy."""

import json
import re
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
from conftest import ENV

import convae_tf  # noqa: F401  (registers the models for load_model)
from convae_tf.data.prepare import prepare_records

TRAIN = [
    "--strategy=multi_worker",
    "--model=ae",
    "--model_args=filters=4,8",
    "--latent_dim=2",
    "--epochs=2",
    # float32: bfloat16 rounding would swamp the summation-order differences under comparison.
    "--precision=float32",
    "--steps_per_epoch=3",
    "--batch_size=16",
]


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture(scope="module")
def dataset(toy_npz):
    return f"--dataset=npz:{toy_npz}"


def start(workdir, *dataset, tf_config=None):
    env = {k: v for k, v in ENV.items() if k != "TF_CONFIG"}
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen(
        [sys.executable, "-m", "convae_tf.train", *TRAIN, *dataset, f"--workdir={workdir}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def finish(process):
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    return re.search(r"weights fingerprint: (\w+)", out).group(1), out


@pytest.mark.slow
def test_two_workers_match_each_other_and_one_process(tmp_path, dataset):
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    workers = [
        start(
            tmp_path / "cluster",
            dataset,
            tf_config={"cluster": cluster, "task": {"type": "worker", "index": i}},
        )
        for i in range(2)
    ]
    (chief_print, chief_out), (other_print, other_out) = [finish(p) for p in workers]
    assert chief_print == other_print  # the replicas stayed in sync
    assert "Results in" in chief_out and "Results in" not in other_out  # only the chief reports
    # Only the chief wrote the workdir; the other worker's scratch folder is gone.
    assert (tmp_path / "cluster" / "model.keras").exists()
    assert "2 replica(s)" in chief_out

    single_print, _ = finish(start(tmp_path / "single", dataset))
    two = keras.saving.load_model(tmp_path / "cluster" / "model.keras").get_weights()
    one = keras.saving.load_model(tmp_path / "single" / "model.keras").get_weights()
    # Same global batches, so the same updates up to float summation order.
    for a, b in zip(two, one, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5)
    with open(tmp_path / "cluster" / "history.csv") as f:
        assert len(f.read().splitlines()) == 3  # header + 2 epochs


@pytest.mark.slow
def test_two_workers_read_their_own_record_files_and_stay_in_sync(tmp_path, toy_npz):
    prepare_records(f"npz:{toy_npz}", tmp_path / "rec", shard_mb=20 * 256 / 2**20)
    assert len(list((tmp_path / "rec").glob("train-*"))) >= 2  # enough files to shard by file
    dataset = [f"--dataset=tfrecord:{tmp_path / 'rec'}", "--cache_budget_mb=0"]
    cluster = {"worker": [f"localhost:{port}" for port in free_ports(2)]}
    workers = [
        start(
            tmp_path / "cluster",
            *dataset,
            tf_config={"cluster": cluster, "task": {"type": "worker", "index": i}},
        )
        for i in range(2)
    ]
    (chief_print, chief_out), (other_print, _) = [finish(p) for p in workers]
    assert chief_print == other_print
    assert "Results in" in chief_out
