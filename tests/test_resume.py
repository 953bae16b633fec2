"""Surviving a kill: resume from checkpoints, atomic files, NaN guard, determinism."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf

from cmgan_tf.data.registry import load_dataset
from cmgan_tf.errors import InvalidInputError, TrainingDivergedError
from cmgan_tf.presets import preset
from cmgan_tf.runs.model_dir import ENCODER_FILE
from cmgan_tf.runs.trainer import train
from cmgan_tf.training import checkpointing
from cmgan_tf.training.distribution import make_strategy
from cmgan_tf.training.keras_compat import clip_across_replicas

# Averaging, dropout and five generator steps: every kind of state that a
# resumed run must restore to continue exactly.
_ARGS = [
    "--preset=smoke",
    "--dataset=wikipedia_classic",
    "--epochs=3",
    "--ema_momentum=0.9",
    "--image_dropout=0.3",
    "--generator_steps=5",
    "--verbose=0",
]


def _command(model_dir):
    return [sys.executable, "-m", "pipelines.train", *_ARGS, f"--model_dir={model_dir}"]


def _env():
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CUDA_VISIBLE_DEVICES": ""}


def _completed_epochs(model_dir):
    index = model_dir / "checkpoints" / "checkpoint"
    if not index.exists():
        return 0
    text = index.read_text()
    return int(text.split('"ckpt-', 1)[1].split('"', 1)[0])


@pytest.mark.slow
def test_a_run_killed_mid_training_resumes_to_the_same_result(tmp_path):
    reference = tmp_path / "uninterrupted"
    result = subprocess.run(
        _command(reference), capture_output=True, text=True, env=_env(), timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        _command(killed), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env()
    )
    deadline = time.monotonic() + 240
    while _completed_epochs(killed) < 1 and time.monotonic() < deadline:
        assert process.poll() is None, process.stderr.read()[-3000:]
        time.sleep(0.02)
    # Inside epoch 2 (or writing its checkpoint): anywhere is a valid place.
    time.sleep(0.3)
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
    done = _completed_epochs(killed)
    assert 1 <= done < 3, "the kill came too late to test resuming"
    assert not (killed / "encoder.keras").exists()

    again = subprocess.run(
        _command(killed), capture_output=True, text=True, env=_env(), timeout=300
    )
    assert again.returncode == 0, again.stderr[-3000:]
    resumed = json.loads((killed / "metrics.json").read_text())
    expected = json.loads((reference / "metrics.json").read_text())
    assert resumed["resumed_after_epoch"] == done
    # Same seed, same batches, same restored state: the same numbers, exactly.
    assert resumed["history"] == expected["history"]
    assert resumed["validation"] == expected["validation"]
    assert resumed["best_epoch"] == expected["best_epoch"]
    leftovers = [p.name for p in killed.rglob("*") if "partial" in p.name]
    assert not leftovers


@pytest.mark.slow
def test_resuming_under_another_configuration_is_refused(tmp_path):
    config = preset("smoke").replace(
        data={"dataset": "wikipedia_classic"},
        training={"epochs": 1},
        runtime={"model_dir": str(tmp_path), "verbose": 0},
    )
    train(config)
    os.remove(tmp_path / ENCODER_FILE)  # As if killed at the end.
    changed = config.replace(training={"learning_rate": 0.5})
    with pytest.raises(InvalidInputError, match=r"--learning_rate=0.5 \(was 0.001\)"):
        train(changed)
    # Progress output does not change a run; overwrite starts again.
    train(config.replace(runtime={"verbose": 2}))
    metrics = train(changed, overwrite=True)
    assert metrics["resumed_after_epoch"] == 0


@pytest.mark.slow
def test_a_nan_loss_stops_training_naming_the_term_and_step(tmp_path):
    config = preset("smoke").replace(
        data={"dataset": "wikipedia_classic"},
        training={"epochs": 3, "learning_rate": 1e30},
        runtime={"model_dir": str(tmp_path), "verbose": 0},
    )
    with pytest.raises(TrainingDivergedError, match=r"epoch \d+, step \d+: .*loss"):
        train(config)
    assert not (tmp_path / ENCODER_FILE).exists()


@pytest.mark.slow
def test_same_seed_same_metrics(tmp_path):
    def run(name):
        config = preset("smoke").replace(
            data={"dataset": "wikipedia_classic"},
            training={"epochs": 1, "clip_norm": 1.0},
            runtime={"model_dir": str(tmp_path / name), "verbose": 0},
        )
        return train(config)

    first, second = run("a"), run("b")
    assert first["history"] == second["history"]
    assert first["validation"] == second["validation"]


@pytest.mark.slow
def test_a_checkpoint_write_cut_short_leaves_the_previous_one(tmp_path, monkeypatch):
    from cmgan_tf.training.builder import build_cmgan, build_optimizers

    train = load_dataset("wikipedia_classic").train
    config = preset("smoke")

    def compiled():
        cmgan = build_cmgan(config, train, False)
        cmgan.compile(*build_optimizers(config.training, 10), generator_steps=1)
        return cmgan

    cmgan = compiled()
    saver = checkpointing.EpochCheckpoints(tmp_path, keep=2)
    saver.set_model(cmgan)
    assert saver.restore(cmgan) == 0
    saver.on_epoch_end(0, {"val_map_mean": 0.5})
    saved = [v.numpy().copy() for v in cmgan.generator.trainable_variables]
    for variable in cmgan.generator.trainable_variables:
        variable.assign(variable + 1.0)

    def killed_mid_write(*args, **kwargs):
        (tmp_path / "ckpt-2.index").write_bytes(b"half")
        raise KeyboardInterrupt

    monkeypatch.setattr(saver._manager, "save", killed_mid_write)
    with pytest.raises(KeyboardInterrupt):
        saver.on_epoch_end(1, {"val_map_mean": 0.6})

    fresh = compiled()
    restorer = checkpointing.EpochCheckpoints(tmp_path, keep=2)
    assert restorer.restore(fresh) == 1
    assert restorer.best == 0.5
    assert restorer.history == {"val_map_mean": [0.5]}
    for value, variable in zip(saved, fresh.generator.trainable_variables, strict=True):
        np.testing.assert_array_equal(value, variable.numpy())


def test_keep_checkpoints_must_be_positive():
    with pytest.raises(InvalidInputError, match="keep_checkpoints"):
        preset("smoke").replace(runtime={"keep_checkpoints": 0})


def test_clipping_bounds_the_batch_gradient_under_two_replicas():
    strategy = make_strategy("mirrored")
    assert strategy.num_replicas_in_sync == 2

    def share():
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        gradient = tf.constant([3.0, 4.0]) * tf.cast(replica + 1, tf.float32)
        return clip_across_replicas([gradient], 1.5)[0]

    # The batch's gradient is [3, 4] + [6, 8] = [9, 12], of norm 15; clipped
    # to 1.5 it is [0.9, 1.2], and each replica passes half of it.
    shares = strategy.experimental_local_results(strategy.run(share))
    for value in shares:
        np.testing.assert_allclose(value.numpy(), [0.45, 0.6], rtol=1e-6)
