"""`cmgan-evaluate`'s report as users run it: real flags, a real process once."""

import importlib.resources
import json
import os
import shutil
import subprocess
import sys

import pytest
import scipy.io

from tests.cli_utils import run_main


def _evaluate(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "pipelines.evaluate", *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **(env or {})},
    )


@pytest.fixture
def model_dir(feature_run, tmp_path):
    """A copy of the session's feature run, so writing to it disturbs no test."""
    copy = tmp_path / "run"
    shutil.copytree(feature_run[0], copy)
    return copy


def _assert_one_line_error(message, *fragments):
    assert message is not None, "the command succeeded"
    assert "\n" not in message.strip()
    assert message.startswith("cmgan-evaluate: error: "), message
    for fragment in fragments:
        assert fragment in message


@pytest.mark.slow
def test_report_is_written_on_a_headless_machine(model_dir):
    # An interactive backend and no display: pyplot would fail here.
    env = {"MPLBACKEND": "TkAgg", "DISPLAY": ""}
    result = _evaluate(f"--model_dir={model_dir}", "--queries=5,1", env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    evaluation = model_dir / "evaluation"
    assert {
        "precision_recall.png",
        "precision_at_k.png",
        "per_class_ap.png",
        "training_history.png",
        "grid_image_to_text.png",
        "grid_text_to_image.png",
        "retrieval_report.json",
        "retrieval_grid.json",
    } <= set(os.listdir(evaluation))
    grid = json.loads((evaluation / "retrieval_grid.json").read_text())
    assert [row["query"] for row in grid["text_to_image"]] == [5, 1]
    report = json.loads((evaluation / "retrieval_report.json").read_text())
    scores = json.loads((model_dir / "evaluation.json").read_text())["scores"]
    assert report["model"]["image_to_text"]["map"] == pytest.approx(
        scores["map_image_to_text"]
    )
    assert (model_dir / "logs" / "projector" / "projector_config.pbtxt").exists()


def test_noplots_writes_only_the_scores(model_dir):
    message = run_main("pipelines.evaluate", f"--model_dir={model_dir}", "--noplots")
    assert message is None, message
    assert (model_dir / "evaluation.json").exists()
    assert not (model_dir / "evaluation").exists()


@pytest.mark.parametrize(
    "flags, fragments",
    [
        (["--queries=0,100000"], ["queries", "[0, 692]", "100000"]),
        (["--queries=3,x"], ["queries", "'x'"]),
        (["--queries=3", "--noplots"], ["queries", "plots"]),
    ],
)
def test_bad_queries_are_one_line_errors(model_dir, flags, fragments):
    message = run_main("pipelines.evaluate", f"--model_dir={model_dir}", *flags)
    _assert_one_line_error(message, *fragments)
    assert not (model_dir / "evaluation").exists()


def test_data_without_a_test_split_is_a_one_line_error(model_dir, tmp_path):
    resource = importlib.resources.files("cmgan_tf.data").joinpath(
        "resources", "wikipedia_classic", "wikiData.mat"
    )
    with importlib.resources.as_file(resource) as path:
        arrays = scipy.io.loadmat(path)
    train_only = {k: v for k, v in arrays.items() if k.endswith("_tr")}
    scipy.io.savemat(tmp_path / "wikiData.mat", train_only)
    message = run_main(
        "pipelines.evaluate", f"--model_dir={model_dir}", f"--data_dir={tmp_path}"
    )
    _assert_one_line_error(message, "I_te")
