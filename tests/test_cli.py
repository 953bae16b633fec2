"""The command lines as users run them: real flags, real files.

Each console script runs once for real (train, evaluate, export, and their
--help); the error cases call the entry points' `main()` in this process,
with the flags parsed by absl as the script would and restored afterwards.
"""

import json
import os
import re
import subprocess
import sys
from importlib import metadata

import pytest

from cmgan_tf.config import ExperimentConfig
from cmgan_tf.presets import preset
from pipelines import _quiet
from tests.cli_utils import run_main as _main

# A log line of TensorFlow's C++ code (absl's format, a .cc source file).
TF_LOG_LINE = re.compile(r"^[IWEF]\d{4} .*\.cc:\d+\] ", re.MULTILINE)


def _script(name, *args, timeout=300, env=None):
    """Runs the installed console script `name` with `args`."""
    path = os.path.join(os.path.dirname(sys.executable), name)
    # Without the test set-up's TF_CPP_MIN_LOG_LEVEL: the commands' own default.
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [path, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**environ, **(env or {})},
    )


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    """A one-epoch smoke run of `cmgan-train` on the shipped Wikipedia features."""
    model_dir = tmp_path_factory.mktemp("cli") / "run"
    result = _script(
        "cmgan-train",
        "--preset=smoke",
        "--dataset=wikipedia_classic",
        "--epochs=1",
        f"--model_dir={model_dir}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (model_dir.parent / "train.log").write_text(result.stderr)
    return model_dir


def test_console_scripts_are_installed():
    scripts = {e.name: e.value for e in metadata.entry_points(group="console_scripts")}
    assert scripts["cmgan-train"] == "pipelines.train:run"
    assert scripts["cmgan-evaluate"] == "pipelines.evaluate:run"
    assert scripts["cmgan-export"] == "export.export:run"
    assert scripts["cmgan-embed"] == "pipelines.embed:run"
    assert scripts["cmgan-search"] == "pipelines.search:run"


@pytest.mark.slow
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


@pytest.mark.slow
def test_train_keeps_tensorflow_quiet_and_its_own_progress(trained_run):
    log = (trained_run.parent / "train.log").read_text()
    assert not TF_LOG_LINE.search(log), log[:2000]
    assert "absl::InitializeLog" not in log
    assert "oneDNN" not in log
    # Our progress output (absl logging.info) stays, and starts with one line
    # per essential fact of the run.
    facts = [
        "Dataset wikipedia_classic: 1738 training, 435 validation, 693 test pairs",
        "Devices: ",
        "Strategy ",
        f"Preset smoke, with --epochs=1 --model_dir={trained_run}.",
        f"Outputs in {trained_run} (",
    ]
    lines = [line.split("] ", 1)[-1] for line in log.splitlines()]
    starts = [
        next(i for i, line in enumerate(lines) if line.startswith(fact))
        for fact in facts
    ]
    assert starts == sorted(starts)
    # The CPU, or under --strategy=auto every GPU.
    assert re.search(r"device:(CPU|GPU):0", lines[starts[1]])
    assert lines[starts[2]].endswith("replica(s); XLA off; dtype policy float32.")


@pytest.mark.slow
def test_evaluate_prints_and_writes_the_map_table(trained_run):
    result = _script("cmgan-evaluate", f"--model_dir={trained_run}")
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
    assert not TF_LOG_LINE.search(result.stderr), result.stderr[:2000]


@pytest.mark.slow
def test_export_writes_a_serving_version_and_checks_parity(trained_run, tmp_path):
    args = [f"--model_dir={trained_run}", f"--export_dir={tmp_path}", "--version=7"]
    result = _script("cmgan-export", *args, "--check_parity")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Exported {tmp_path / 'cmgan' / '7'}" in result.stdout
    assert "retrieve_with_text_agreement: 1" in result.stdout
    assert (tmp_path / "cmgan" / "7" / "saved_model.pb").exists()
    assert (tmp_path / "models.config").exists()
    again = _main("export.export", *args)
    assert "already exists. Choose another --version or pass --overwrite" in again
    assert "Traceback" not in again


@pytest.mark.slow
def test_train_refuses_to_overwrite_a_finished_run(trained_run):
    error = _main("pipelines.train", "--preset=smoke", f"--model_dir={trained_run}")
    assert error is not None
    assert "--overwrite" in error


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
    module = module if "." in module else f"pipelines.{module}"
    error = _main(module, *(a.format(tmp=tmp_path) for a in args))
    assert error is not None
    assert message in error
    assert "Traceback" not in error
    assert not (tmp_path / "r" / "encoder.keras").exists()


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("absent.json", None, "absent.json cannot be read"),
        ("bad.json", "{", "bad.json is not valid JSON"),
        ("bad.yaml", "training: [", "bad.yaml is not valid YAML"),
        ("key.yaml", "training: {epoch: 1}", "Unknown TrainingConfig fields ['epoch']"),
        ("type.yaml", "training: {epochs: one}", "`epochs` must be an integer"),
        ("preset.yaml", "preset: shapes", "conflicts with --preset=smoke"),
    ],
)
def test_bad_config_file_is_one_line_and_nothing_is_written(
    tmp_path, name, text, message
):
    if text is not None:
        (tmp_path / name).write_text(text)
    model_dir = tmp_path / "r"
    error = _main(
        "pipelines.train",
        "--preset=smoke",
        f"--config_file={tmp_path / name}",
        f"--model_dir={model_dir}",
    )
    assert error.startswith(f"cmgan-train: error: --config_file={tmp_path / name}")
    assert message in error
    assert "\n" not in error
    assert not model_dir.exists()


def test_print_config_prints_the_resolved_configuration_and_exits(tmp_path, capsys):
    (tmp_path / "a.yaml").write_text("preset: smoke\ntraining: {epochs: 5}\n")
    model_dir = tmp_path / "r"
    error = _main(
        "pipelines.train",
        f"--config_file={tmp_path / 'a.yaml'}",
        "--seed=4",
        f"--model_dir={model_dir}",
        "--print_config",
    )
    assert error is None
    printed = ExperimentConfig.from_json(capsys.readouterr().out)
    assert printed == preset("smoke").replace(
        training={"epochs": 5, "seed": 4}, runtime={"model_dir": str(model_dir)}
    )
    assert not model_dir.exists()


@pytest.mark.slow
def test_a_runs_config_json_replays_it(trained_run, tmp_path, capsys):
    error = _main(
        "pipelines.train",
        f"--config_file={trained_run / 'config.json'}",
        "--print_config",
    )
    assert error is None
    recorded = ExperimentConfig.from_json((trained_run / "config.json").read_text())
    assert ExperimentConfig.from_json(capsys.readouterr().out) == recorded


@pytest.mark.slow
def test_train_help_lists_its_flags_by_group_with_the_presets_values():
    result = _script("cmgan-train", "--preset=shapes", "--image_dropout=0.3", "--help")
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    flag_list = out.split("\nFlags", 1)[1]
    titles = [line for line in flag_list.splitlines() if re.fullmatch(r"[\w-]+:", line)]
    assert titles == [
        "data:",
        "model:",
        "loss:",
        "training:",
        "runtime:",
        "cmgan-train:",
    ]
    # Values under --preset=shapes, and the flag given on top of it.
    for shown in (
        "--dataset=shapes",
        "--image_filters=16,32,64",
        "--epochs=8",
        "--generator_steps=1",
        "--image_dropout=0.3",
        "--[no]jit_compile=true",
        "--preset=shapes",
    ):
        assert f"\n  {shown}\n" in out, shown
    # Help text from the config fields' metadata.
    assert "Passes over the training pairs." in out
    assert "--tf_log_level" in out and "--config_file" in out
    # Not absl's own flags.
    assert "--logtostderr" not in out and "--flagfile" not in out
    assert not TF_LOG_LINE.search(result.stderr)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("script", "shown"),
    [
        ("cmgan-evaluate", ["--model_dir=(unset)", "--[no]exclude_query_from_gallery"]),
        (
            "cmgan-export",
            ["--export_dir=(unset)", "--format=saved_model", "--top_k=10"],
        ),
    ],
)
def test_evaluate_and_export_help_lists_their_own_flags(script, shown):
    result = _script(script, "--help")
    assert result.returncode == 0, result.stderr[-3000:]
    for text in shown:
        assert f"\n  {text}" in result.stdout, text
    assert f"\n{script}:\n" in result.stdout
    # Train's configuration is not theirs.
    assert "--epochs" not in result.stdout
    assert "--logtostderr" not in result.stdout


@pytest.mark.slow
def test_tf_log_level_brings_tensorflow_logging_back():
    result = _script(
        "cmgan-train", "--preset=smoke", "--print_config", "--tf_log_level=0"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert TF_LOG_LINE.search(result.stderr)
    assert json.loads(result.stdout)["training"]["epochs"] == 2


@pytest.mark.parametrize(
    ("argv", "environ", "level"),
    [
        ([], {}, 3),
        ([], {"TF_CPP_MIN_LOG_LEVEL": "1"}, 1),
        (["--tf_log_level=0"], {"TF_CPP_MIN_LOG_LEVEL": "2"}, 0),
        (["--tf_log_level", "2"], {}, 2),
        (["--verbosity=1"], {}, 0),
        (["-v", "2"], {"TF_CPP_MIN_LOG_LEVEL": "3"}, 0),
        (["--verbosity=0"], {}, 3),
        (["--", "--tf_log_level=0"], {}, 3),
    ],
)
def test_tensorflow_log_level_is_read_before_tensorflow_loads(argv, environ, level):
    assert _quiet.tf_log_level(["cmgan-train", *argv], environ) == level
