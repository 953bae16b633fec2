"""The training run's steps, each on its own, and a run on a non-local file system."""

import pathlib
import uuid

import numpy as np
import pytest

from cmgan_tf import file_io
from cmgan_tf.data.dataset import CrossModalDataset, ImageCaptionSplit, ImageFileSplit
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.ensemble import EnsembleEncoder
from cmgan_tf.presets import preset
from cmgan_tf.retrieval.evaluation import evaluate_encoder
from cmgan_tf.runs import model_dir as run_files
from cmgan_tf.runs.evaluation import evaluate
from cmgan_tf.runs.trainer import (
    SELECTION_METRIC,
    TrainingRun,
    member_seed,
    prepare_data,
    steps_per_execution,
    train,
)
from cmgan_tf.training.checkpointing import epochs_since_best
from tests.conftest import make_paired_split


def _dataset():
    return CrossModalDataset(
        "synthetic",
        make_paired_split(160, seed=1),
        make_paired_split(48, seed=2),
        multi_label=False,
    )


def _config(model_dir, **training):
    return preset("smoke").replace(
        data={"dataset": "npz"},
        training={"epochs": 1, **training},
        runtime={"model_dir": str(model_dir)},
    )


def test_a_run_can_be_handed_its_dataset(tmp_path):
    dataset = _dataset()
    run = TrainingRun(_config(tmp_path / "run"), dataset=dataset)
    run._prepare_model_dir()
    run._build_strategy()
    run._load_data()
    assert run.dataset is dataset
    assert run.train_split.num_pairs + run.validation_split.num_pairs == 160
    # Nothing is written before the configuration is.
    assert not (tmp_path / "run").exists()
    run._write_config()
    assert file_io.listdir(tmp_path / "run") == [run_files.CONFIG_FILE]
    assert run_files.read_config(tmp_path / "run") == run.config


def test_building_the_model_compiles_it_under_the_strategy(tmp_path):
    run = TrainingRun(_config(tmp_path / "run"), dataset=_dataset())
    run._build_strategy()
    run._load_data()
    run._build_model()
    assert run.cmgan.built and run.cmgan.g_optimizer.built
    assert run.steps_per_epoch == run.train_split.num_pairs // 32
    assert run._restore() == 0


def test_an_unwritable_model_dir_is_one_clear_error_and_nothing_is_trained(tmp_path):
    (tmp_path / "file").write_text("")
    config = _config(tmp_path / "file" / "run")
    with pytest.raises(InvalidInputError, match="Cannot create the model directory"):
        train(config, dataset=_dataset())


@pytest.mark.slow
def test_a_model_dir_on_another_file_system_trains_evaluates_and_resumes():
    model_dir = f"ram://runs-{uuid.uuid4().hex}/run"
    dataset = _dataset()
    config = _config(model_dir, epochs=2)
    metrics = train(config, dataset=dataset)
    assert metrics["best_epoch"] in (1, 2)
    names = file_io.listdir(model_dir)
    for name in (
        run_files.CONFIG_FILE,
        run_files.ENCODER_FILE,
        run_files.METRICS_FILE,
        run_files.BEST_WEIGHTS_FILE,
    ):
        assert name in names
    assert not [n for n in names if n.startswith(".")]
    scores, _ = evaluate(model_dir, dataset=dataset)
    assert np.isfinite(scores["map_image_to_text"])
    # A finished run is refused; the checkpoints make the run resumable.
    with pytest.raises(InvalidInputError, match="already holds a finished run"):
        train(config, dataset=dataset)
    file_io.remove_tree(run_files.path(model_dir, run_files.ENCODER_FILE))
    resumed = train(config, dataset=dataset)
    assert resumed["resumed_after_epoch"] == 2
    assert resumed["validation"] == pytest.approx(metrics["validation"])


@pytest.mark.parametrize(
    ("requested", "steps_per_epoch", "expected"),
    [(32, 27, 27), (10, 27, 9), (1, 27, 1), (5, 7, 1), (64, 4, 4)],
)
def test_steps_per_execution_divide_the_epoch(requested, steps_per_epoch, expected):
    assert steps_per_execution(requested, steps_per_epoch) == expected


@pytest.mark.parametrize(("requested", "jit_compile"), [(3, False), (64, True)])
def test_several_steps_per_execution_train_the_same_model(
    tmp_path, requested, jit_compile
):
    # 128 training pairs in batches of 32: 4 steps an epoch, run 2 (of 3
    # requested) or 4 at a time. Over 3 epochs the same batches must reach
    # the same updates, so the encoders agree.
    dataset = _dataset()
    encoders = []
    for steps in (1, requested):
        config = _config(tmp_path / f"run_{steps}", epochs=3).replace(
            runtime={"steps_per_execution": steps, "jit_compile": jit_compile}
        )
        train(config, dataset=dataset)
        encoders.append(run_files.load_run(tmp_path / f"run_{steps}")[1])
    for modality, inputs in (
        ("image", dataset.test.images),
        ("text", dataset.test.texts),
    ):
        np.testing.assert_allclose(
            encoders[1].predict_arrays(inputs, modality),
            encoders[0].predict_arrays(inputs, modality),
            rtol=1e-4,
            atol=1e-5,
        )


@pytest.mark.parametrize(
    "scores, expected",
    [([0.5], 0), ([0.1, 0.3, 0.2], 1), ([0.1, 0.3, 0.3, 0.2], 2), ([0.3, 0.1, 0.2], 2)],
)
def test_epochs_since_best_counts_from_the_first_best(scores, expected):
    # A tie with the best is no improvement, as in Keras' EarlyStopping.
    assert epochs_since_best(scores) == expected


@pytest.mark.slow
def test_patience_stops_training_and_a_second_start_trains_no_more(tmp_path):
    config = _config(tmp_path / "run", epochs=12, patience=2)
    metrics = train(config, dataset=_dataset())
    scores = metrics["history"][SELECTION_METRIC]
    # It stopped at the first epoch two epochs after the best, not before.
    assert len(scores) < 12
    assert epochs_since_best(scores) == 2
    assert all(epochs_since_best(scores[:k]) < 2 for k in range(1, len(scores)))
    assert metrics["best_epoch"] == len(scores) - 2
    # Killed after its last checkpoint but before writing the encoder, then
    # started again: the run is finished, not resumed for another epoch.
    (tmp_path / "run" / run_files.ENCODER_FILE).unlink()
    again = train(config, dataset=_dataset())
    assert again["history"][SELECTION_METRIC] == scores
    assert again["best_epoch"] == metrics["best_epoch"]


def test_an_ensemble_trains_members_on_one_split_the_first_being_the_single_run(
    tmp_path,
):
    dataset = _dataset()
    metrics = train(_config(tmp_path / "ensemble", ensemble_size=2), dataset=dataset)
    train(_config(tmp_path / "single"), dataset=dataset)

    seeds = [member["seed"] for member in metrics["members"]]
    assert seeds == [0, member_seed(0, 1)] and seeds[1] != 0
    assert len(metrics["best_epoch"]) == 2
    _, ensemble = run_files.load_run(tmp_path / "ensemble")
    assert isinstance(ensemble, EnsembleEncoder)
    members = [run_files.load_run(m["model_dir"])[1] for m in metrics["members"]]
    assert ensemble.output_dim == sum(m.output_dim for m in members)
    # Member 0 is the single run of the same seed: the same split, the same
    # weights.
    _, single = run_files.load_run(tmp_path / "single")
    images = dataset.test.images
    np.testing.assert_allclose(
        members[0].predict_arrays(images, "image"),
        single.predict_arrays(images, "image"),
        atol=1e-6,
    )
    assert not np.allclose(
        members[1].predict_arrays(images, "image")[:, :4],
        single.predict_arrays(images, "image")[:, :4],
        atol=1e-3,
    )
    scores, _ = evaluate(tmp_path / "ensemble", dataset=dataset, plots=False)
    assert 0.0 < scores["map_image_to_text"] <= 1.0


def test_an_interrupted_ensemble_keeps_its_finished_members(tmp_path):
    dataset = _dataset()
    model_dir = tmp_path / "ensemble"
    config = _config(model_dir, ensemble_size=2)
    train(config, dataset=dataset)
    _, ensemble = run_files.load_run(model_dir)
    expected = ensemble.predict_arrays(dataset.test.texts, "text")
    first = pathlib.Path(
        run_files.path(run_files.member_dir(model_dir, 0), run_files.ENCODER_FILE)
    )
    first_written = first.read_bytes()
    # Killed while the second member finished: neither it nor the ensemble
    # wrote its encoder.
    for directory in (model_dir, run_files.member_dir(model_dir, 1)):
        pathlib.Path(run_files.path(directory, run_files.ENCODER_FILE)).unlink()

    with pytest.raises(InvalidInputError, match="another configuration"):
        train(config.replace(training={"epochs": 2}), dataset=dataset)
    train(config, dataset=dataset)

    assert first.read_bytes() == first_written
    _, resumed = run_files.load_run(model_dir)
    np.testing.assert_allclose(
        resumed.predict_arrays(dataset.test.texts, "text"), expected, atol=1e-6
    )
    with pytest.raises(InvalidInputError, match="already holds a finished run"):
        train(config, dataset=dataset)


def test_refit_trains_again_on_every_pair_for_the_epochs_chosen_on_validation(
    tmp_path,
):
    dataset = _dataset()
    model_dir = tmp_path / "refit"
    config = _config(model_dir, epochs=3, refit=True)
    metrics = train(config, dataset=dataset)

    selection_dir = run_files.path(model_dir, run_files.SELECTION_DIR)
    refit_dir = run_files.path(model_dir, run_files.REFIT_DIR)
    selection = file_io.read_json(run_files.path(selection_dir, run_files.METRICS_FILE))
    refit = file_io.read_json(run_files.path(refit_dir, run_files.METRICS_FILE))
    # The selection run is the run without --refit: it held the validation
    # pairs out and chose its epoch on them; the run reports its scores.
    train(_config(tmp_path / "single", epochs=3), dataset=dataset)
    single = file_io.read_json(
        run_files.path(tmp_path / "single", run_files.METRICS_FILE)
    )
    assert selection["history"] == single["history"]
    assert metrics["best_epoch"] == selection["best_epoch"] == single["best_epoch"]
    assert metrics["validation"] == selection["validation"]
    # The second run trained on all 160 training pairs for that many epochs
    # and kept the last.
    assert metrics["refit"]["training_pairs"] == 160
    assert refit["best_epoch"] == len(refit["history"][SELECTION_METRIC])
    assert refit["best_epoch"] == selection["best_epoch"]
    refit_config = run_files.read_config(refit_dir)
    assert refit_config.training.epochs == selection["best_epoch"]
    assert not refit_config.training.refit
    # The run's encoder is the second run's.
    _, encoder = run_files.load_run(model_dir)
    _, refit_encoder = run_files.load_run(refit_dir)
    _, selection_encoder = run_files.load_run(selection_dir)
    texts = dataset.test.texts
    np.testing.assert_allclose(
        encoder.predict_arrays(texts, "text"),
        refit_encoder.predict_arrays(texts, "text"),
        atol=1e-6,
    )
    assert not np.allclose(
        encoder.predict_arrays(texts, "text")[:, :4],
        selection_encoder.predict_arrays(texts, "text")[:, :4],
        atol=1e-3,
    )


def test_an_interrupted_refit_keeps_its_selection_run(tmp_path):
    dataset = _dataset()
    model_dir = tmp_path / "refit"
    config = _config(model_dir, epochs=2, refit=True)
    train(config, dataset=dataset)
    selection_encoder = pathlib.Path(
        run_files.path(
            run_files.path(model_dir, run_files.SELECTION_DIR), run_files.ENCODER_FILE
        )
    )
    written = selection_encoder.read_bytes()
    _, encoder = run_files.load_run(model_dir)
    expected = encoder.predict_arrays(dataset.test.images, "image")
    # Killed while the second run finished.
    for directory in (model_dir, run_files.path(model_dir, run_files.REFIT_DIR)):
        pathlib.Path(run_files.path(directory, run_files.ENCODER_FILE)).unlink()

    train(config, dataset=dataset)

    assert selection_encoder.read_bytes() == written
    _, resumed = run_files.load_run(model_dir)
    np.testing.assert_allclose(
        resumed.predict_arrays(dataset.test.images, "image"), expected, atol=1e-6
    )
    with pytest.raises(InvalidInputError, match="already holds a finished run"):
        train(config, dataset=dataset)


def test_an_ensemble_refits_each_member_and_validates_the_held_out_ones(tmp_path):
    dataset = _dataset()
    model_dir = tmp_path / "ensemble"
    metrics = train(_config(model_dir, ensemble_size=2, refit=True), dataset=dataset)

    members = [run_files.member_dir(model_dir, k) for k in range(2)]
    for member in members:
        assert run_files.is_finished(run_files.path(member, run_files.REFIT_DIR))
    # The ensemble ships the refit members but is validated on the members
    # that held the validation pairs out.
    _, shipped = run_files.load_run(model_dir)
    refit_members = [run_files.load_run(m)[1] for m in members]
    selection_members = [
        run_files.load_run(run_files.path(m, run_files.SELECTION_DIR))[1]
        for m in members
    ]
    images = dataset.test.images
    np.testing.assert_allclose(
        shipped.predict_arrays(images, "image"),
        EnsembleEncoder(refit_members).predict_arrays(images, "image"),
        atol=1e-6,
    )
    # Its training history is the first member's selection run's.
    first_selection = run_files.path(members[0], run_files.SELECTION_DIR)
    assert (
        run_files.training_history(model_dir)
        == file_io.read_json(run_files.path(first_selection, run_files.METRICS_FILE))[
            "history"
        ]
    )
    _, _, validation = prepare_data(_config(model_dir), dataset)
    assert metrics["validation"] == evaluate_encoder(
        EnsembleEncoder(selection_members), validation
    )


def _choosing_config(model_dir, **training):
    return _config(model_dir, **training).replace(
        model={
            "representation": "standardized_common_and_classes",
            "choose_class_weighting": True,
        }
    )


def test_refit_takes_the_class_weighting_its_selection_run_chose(tmp_path):
    dataset = _dataset()
    model_dir = tmp_path / "refit"
    metrics = train(_choosing_config(model_dir, refit=True), dataset=dataset)

    selection_dir = run_files.path(model_dir, run_files.SELECTION_DIR)
    refit_dir = run_files.path(model_dir, run_files.REFIT_DIR)
    selection = file_io.read_json(run_files.path(selection_dir, run_files.METRICS_FILE))
    chosen = selection["class_weighting"]
    setting = (chosen["class_weight"], chosen["temperature"])
    # Not the configured setting on this data, so its use can be seen.
    assert setting != (1.0, 1.0)
    assert metrics["class_weighting"] == chosen
    assert len(chosen["scores"]) == 15
    # The selection run chose on the pairs it held out and reports the
    # chosen setting's scores; its encoder ranks with it.
    for direction in ("map_image_to_text", "map_text_to_image"):
        assert selection["validation"][direction] == pytest.approx(chosen[direction])
    _, selection_encoder = run_files.load_run(selection_dir)
    assert (selection_encoder.class_weight, selection_encoder.temperature) == setting
    # The second run, which trains on those pairs, takes the choice as
    # configured rather than choosing again.
    refit_model = run_files.read_config(refit_dir).model
    assert (refit_model.class_weight, refit_model.temperature) == setting
    assert not refit_model.choose_class_weighting
    refit = file_io.read_json(run_files.path(refit_dir, run_files.METRICS_FILE))
    assert "class_weighting" not in refit
    _, encoder = run_files.load_run(model_dir)
    assert (encoder.class_weight, encoder.temperature) == setting


def test_an_ensemble_chooses_one_class_weighting_for_all_its_members(tmp_path):
    dataset = _dataset()
    model_dir = tmp_path / "ensemble"
    metrics = train(_choosing_config(model_dir, ensemble_size=2), dataset=dataset)

    chosen = metrics["class_weighting"]
    setting = (chosen["class_weight"], chosen["temperature"])
    assert setting != (1.0, 1.0)
    _, shipped = run_files.load_run(model_dir)
    assert [(m.class_weight, m.temperature) for m in shipped.members] == [setting] * 2
    # The members do not choose: the ensemble's ranking is what is used.
    for k in range(2):
        member = run_files.member_dir(model_dir, k)
        assert not run_files.read_config(member).model.choose_class_weighting
        member_metrics = file_io.read_json(
            run_files.path(member, run_files.METRICS_FILE)
        )
        assert "class_weighting" not in member_metrics
    _, _, validation = prepare_data(_config(model_dir), dataset)
    assert metrics["validation"] == evaluate_encoder(shipped, validation)
    for direction in ("map_image_to_text", "map_text_to_image"):
        assert metrics["validation"][direction] == pytest.approx(chosen[direction])


@pytest.mark.parametrize("ensemble_size", [1, 2])
def test_refit_refuses_validation_pairs_apart_from_training_image_files(
    tmp_path, ensemble_size
):
    images = np.zeros((4, 8, 8, 3), np.uint8)
    pairs = ImageCaptionSplit(images, ["a", "b", "c", "d"], np.eye(2)[[0, 1, 0, 1]])
    files = ImageFileSplit(
        [str(tmp_path / f"{i}.png") for i in range(4)],
        ["a", "b", "c", "d"],
        np.eye(2)[[0, 1, 0, 1]],
        image_size=8,
    )
    dataset = CrossModalDataset("files", files, pairs, False, validation=pairs)
    config = preset("shapes").replace(
        training={"refit": True, "ensemble_size": ensemble_size},
        runtime={"model_dir": str(tmp_path / "run")},
    )
    with pytest.raises(InvalidInputError, match="--refit trains on the validation"):
        train(config, dataset=dataset)
    assert not (tmp_path / "run" / run_files.CHECKPOINT_DIR).exists()
