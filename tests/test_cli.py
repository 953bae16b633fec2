"""The command lines as users run them: real processes, real flags, real files."""

import json
import os
import subprocess
import sys
from importlib import metadata

import pytest

from cmgan_tf.config import ExperimentConfig


def _run(module, *args, timeout=300):
    """Runs `pipelines.<module>`, or `module` itself if it is a dotted path."""
    module = module if "." in module else f"pipelines.{module}"
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A one-epoch smoke run on the Wikipedia features shipped in the package."""
    model_dir = tmp_path_factory.mktemp("cli") / "run"
    result = _run(
        "train",
        "--preset=smoke",
        "--dataset=wikipedia_classic",
        "--epochs=1",
        f"--model_dir={model_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return model_dir


def test_console_scripts_are_installed():
    scripts = {e.name: e.value for e in metadata.entry_points(group="console_scripts")}
    assert scripts["cmgan-train"] == "pipelines.train:run"
    assert scripts["cmgan-evaluate"] == "pipelines.evaluate:run"
    assert scripts["cmgan-export"] == "export.export:run"


def test_train_writes_every_artefact(trained_run):
    names = set(os.listdir(trained_run))
    assert {
        "config.json",
        "best.weights.h5",
        "encoder.keras",
        "metrics.json",
        "logs",
    } <= names
    assert not [n for n in names if n.endswith(".tmp")]
    config = ExperimentConfig.from_json((trained_run / "config.json").read_text())
    assert config.training.epochs == 1
    assert config.data.dataset == "wikipedia_classic"
    assert config.model.encoder_units == (32,)
    metrics = json.loads((trained_run / "metrics.json").read_text())
    assert metrics["best_epoch"] == 1
    assert 0.0 < metrics["validation"]["map_mean"] <= 1.0
    event_files = [f for _, _, files in os.walk(trained_run / "logs") for f in files]
    assert any(f.startswith("events.out.tfevents") for f in event_files)


def test_evaluate_prints_and_writes_the_map_table(trained_run):
    result = _run("evaluate", f"--model_dir={trained_run}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| Image -> Text |" in result.stdout
    assert "| Text -> All |" in result.stdout
    written = json.loads((trained_run / "evaluation.json").read_text())
    assert written["split"] == "test"
    scores, chance = written["scores"], written["random_ranking"]
    shown = (
        f"| Image -> Text | {scores['map_image_to_text']:.4f} | "
        f"{chance['map_image_to_text']:.4f} |"
    )
    assert shown in result.stdout
    # Ten Wikipedia classes of unequal sizes.
    assert 0.08 < chance["map_image_to_text"] < 0.15
    assert scores["map_mean"] == pytest.approx(
        (scores["map_image_to_text"] + scores["map_text_to_image"]) / 2
    )


def test_export_writes_a_serving_version_and_checks_parity(trained_run, tmp_path):
    args = [f"--model_dir={trained_run}", f"--export_dir={tmp_path}", "--version=7"]
    result = _run("export.export", *args, "--check_parity")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Exported {tmp_path / 'cmgan' / '7'}" in result.stdout
    assert "retrieve_with_text_agreement: 1" in result.stdout
    assert (tmp_path / "cmgan" / "7" / "saved_model.pb").exists()
    assert (tmp_path / "models.config").exists()
    again = _run("export.export", *args)
    assert again.returncode != 0
    assert "already exists. Choose another --version or pass --overwrite" in (
        again.stderr
    )
    assert "Traceback" not in again.stderr


def test_train_refuses_to_overwrite_a_finished_run(trained_run):
    result = _run("train", "--preset=smoke", f"--model_dir={trained_run}")
    assert result.returncode != 0
    assert "--overwrite" in result.stderr


@pytest.mark.parametrize(
    ("module", "args", "message"),
    [
        ("evaluate", ["--model_dir={tmp}"], "holds no finished training run"),
        ("evaluate", ["--model_dir={tmp}/absent"], "does not exist"),
        (
            "export.export",
            ["--model_dir={tmp}", "--export_dir={tmp}/r"],
            "holds no finished training run",
        ),
        (
            "export.export",
            [
                "--model_dir={tmp}",
                "--export_dir={tmp}/r",
                "--gallery=test",
                "--gallery_file=g.npz",
            ],
            "Give one of --gallery, --gallery_file and --gallery_dir",
        ),
        ("train", ["--dataset=imagenet", "--model_dir={tmp}/r"], "Unknown dataset"),
        ("train", ["--batch_size=0", "--model_dir={tmp}/r"], "batch_size"),
        ("train", ["--strategy=tpu", "--model_dir={tmp}/r"], "strategy"),
        ("train", ["--common_units=big", "--model_dir={tmp}/r"], "--common_units"),
        ("train", ["--preset=smoke"], "--model_dir is required"),
        ("train", ["--model_dir={tmp}/r", "stray"], "Unexpected arguments: stray"),
        (
            "train",
            ["--dataset=npz", "--data_dir={tmp}/corrupt.npz", "--model_dir={tmp}/r"],
            "corrupt.npz",
        ),
        (
            "train",
            ["--dataset=dscmr_mat", "--data_dir={tmp}", "--model_dir={tmp}/r"],
            "train_img.mat",
        ),
        (
            "train",
            [
                "--dataset=tfds",
                "--tfds_name=cmgan_shapes/small",
                "--data_dir={tmp}",
                "--model_dir={tmp}/r",
            ],
            "tfds build cmgan_shapes/small",
        ),
    ],
)
def test_bad_input_gets_one_clear_error(tmp_path, module, args, message):
    (tmp_path / "corrupt.npz").write_bytes(b"not a zip archive")
    result = _run(module, *(a.format(tmp=tmp_path) for a in args), timeout=120)
    assert result.returncode != 0
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "r" / "encoder.keras").exists()
