"""Multi-worker training: two real worker processes on 127.0.0.1, one cluster."""

import json
import math
import os
import re
import socket
import subprocess
import sys
import time

import pytest

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.presets import preset
from cmgan_tf.retrieval.evaluation import random_ranking_scores
from cmgan_tf.runs.trainer import prepare_data
from cmgan_tf.training.distribution import make_strategy

NUM_WORKERS = 2
TIMEOUT_S = 300
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_ports(count):
    """Returns `count` distinct ports that were free on 127.0.0.1.

    All sockets stay bound until every port is chosen, so the system cannot
    hand out the same port twice.
    """
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _start_workers(model_dir, scratch_root):
    """Starts the workers: the same command, with TF_CONFIG naming each task.

    Returns:
        `[(process, log_path)]`. Logs go to files, not pipes: a worker blocked
        on a full pipe would stall its peer in the next collective.
    """
    cluster = {"worker": [f"127.0.0.1:{port}" for port in _free_ports(NUM_WORKERS)]}
    workers = []
    for index in range(NUM_WORKERS):
        # Each worker's temporary files go to a folder of its own, so that the
        # test can see that the non-chief's scratch directory is removed.
        tmpdir = scratch_root / f"worker{index}"
        tmpdir.mkdir()
        task = {"type": "worker", "index": index}
        env = {
            **os.environ,
            "TF_CPP_MIN_LOG_LEVEL": "2",
            "TF_CONFIG": json.dumps({"cluster": cluster, "task": task}),
            "TMPDIR": str(tmpdir),
        }
        log_path = scratch_root / f"worker{index}.log"
        with open(log_path, "w") as log:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "pipelines.train",
                    "--preset=smoke",
                    "--dataset=wikipedia_classic",
                    "--epochs=2",
                    "--strategy=multi_worker",
                    # The smoke preset leaves XLA off; the cluster runs it.
                    "--jit_compile",
                    f"--model_dir={model_dir}",
                ],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        workers.append((process, log_path))
    return workers


def _wait(workers):
    """Returns each worker's log once all exit; kills all if one fails or hangs.

    A worker whose peer died waits in its next collective forever, so the
    first failure ends the run.
    """
    processes = [process for process, _ in workers]
    deadline = time.monotonic() + TIMEOUT_S
    while time.monotonic() < deadline and any(p.poll() is None for p in processes):
        if any(p.poll() for p in processes):
            break
        time.sleep(0.5)
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()
    logs = [log_path.read_text() for _, log_path in workers]
    failures = [
        f"worker {i} exit code {p.returncode}:\n{logs[i][-3000:]}"
        for i, p in enumerate(processes)
        if p.returncode != 0
    ]
    assert not failures, "\n\n".join(failures)
    return logs


@pytest.fixture(scope="module")
def multi_worker_run(tmp_path_factory):
    """Two workers training the smoke preset for 2 epochs into one model_dir."""
    root = tmp_path_factory.mktemp("multi_worker")
    model_dir = root / "run"
    logs = _wait(_start_workers(model_dir, root))
    return model_dir, root, logs


@pytest.mark.slow
def test_workers_end_with_identical_generator_weights(multi_worker_run):
    _, _, logs = multi_worker_run
    fingerprints = [
        re.findall(r"Generator weights fingerprint: ([0-9a-f]{64})", log)
        for log in logs
    ]
    assert all(len(found) == 1 for found in fingerprints), fingerprints
    # Exact, not within a tolerance: every replica applies the same
    # all-reduced gradients to the same weights and reloads the same best
    # epoch, so any difference in any bit means the workers drifted apart.
    assert fingerprints[0] == fingerprints[1]
    for log in logs:
        assert "Strategy CollectiveAllReduceStrategy with 2 replica(s); XLA on" in log
    validation = [re.findall(r"Epoch \d validation MAP: .*", log) for log in logs]
    assert len(validation[0]) == 2
    assert validation[0] == validation[1]


@pytest.mark.slow
def test_only_the_chief_writes_and_training_progressed(multi_worker_run):
    model_dir, root, _ = multi_worker_run
    assert {
        "config.json",
        "best.weights.h5",
        "encoder.keras",
        "metrics.json",
        "logs",
    } <= set(os.listdir(model_dir))
    # The non-chief's scratch directory is gone; nothing else was written.
    assert os.listdir(root / "worker1") == []
    metrics = json.loads((model_dir / "metrics.json").read_text())
    # One CPU device per worker process: one replica each.
    assert metrics["replicas"] == NUM_WORKERS
    history = metrics["history"]
    assert all(math.isfinite(v) for values in history.values() for v in values)
    assert history["g_semantic_loss"][-1] < history["g_semantic_loss"][0]
    config = preset("smoke").replace(data={"dataset": "wikipedia_classic"})
    _, _, validation_split = prepare_data(config)
    chance = random_ranking_scores(validation_split.labels)
    assert metrics["validation"]["map_mean"] > chance["map_mean"] + 0.02


@pytest.mark.parametrize(
    ("tf_config", "message"),
    [
        (None, "it is not set"),
        ("{cluster", "not valid JSON"),
        ('{"task": {"type": "worker", "index": 0}}', "must hold a `cluster`"),
        ('{"cluster": {"worker": ["h:1"]}}', "must hold a `task`"),
        (
            '{"cluster": {"worker": ["h:1"]}, "task": {"type": "worker", "index": 1}}',
            "must hold a `task`",
        ),
    ],
)
def test_multi_worker_without_a_valid_tf_config_says_what_is_expected(
    monkeypatch, tf_config, message
):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(InvalidInputError, match=message) as error:
        make_strategy("multi_worker")
    assert '"cluster": {"worker": ["host1:port", "host2:port"]}' in str(error.value)
