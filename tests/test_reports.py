"""The evaluation report: figures, grid, projector run and their JSON."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format
from tensorboard.plugins.projector import projector_config_pb2

from cmgan_tf.data.dataset import CrossModalDataset
from cmgan_tf.data.demo import CLASS_NAMES
from cmgan_tf.data.registry import load_dataset
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.encoder import CrossModalEncoder
from cmgan_tf.reports import grid, projector, write_evaluation_report
from cmgan_tf.runs.model_dir import load_run
from cmgan_tf.training.builder import build_generator

_HISTORY = {
    "d_loss": [3.0, 2.0],
    "g_loss": [4.0, 3.5],
    "g_semantic_loss": [1.0, 0.5],
    "val_map_mean": [0.2, 0.4],
    "d_inter_accuracy": [0.5, 0.6],
}


@pytest.fixture(scope="module")
def raw_report(raw_run, tmp_path_factory):
    """`(written, output_dir, log_dir, split)` of a report on the raw run."""
    encoder, test = raw_run
    dataset = CrossModalDataset(
        "shapes", test, test, multi_label=False, class_names=CLASS_NAMES
    )
    root = tmp_path_factory.mktemp("report")
    written = write_evaluation_report(
        root / "evaluation",
        encoder,
        dataset,
        log_dir=root / "logs",
        history=_HISTORY,
        queries=[3, 0, 7],
        top_k=4,
    )
    return written, root / "evaluation", root / "logs", test


def _png_size(path):
    image = tf.io.decode_png(tf.io.read_file(str(path)))
    assert image.shape[-1] in (3, 4)
    return int(image.shape[1]), int(image.shape[0])


def test_every_figure_decodes_at_its_stated_size(raw_report):
    written, output_dir, _, _ = raw_report
    pngs = sorted(p.name for p in output_dir.glob("*.png"))
    assert pngs == [
        "grid_image_to_text.png",
        "grid_text_to_image.png",
        "per_class_ap.png",
        "precision_at_k.png",
        "precision_recall.png",
        "training_history.png",
    ]
    for name in pngs:
        assert _png_size(output_dir / name) == written["image_sizes"][name], name
        assert written["files"][name] == str(output_dir / name)
    sizes = written["image_sizes"]
    assert sizes["precision_recall.png"] == (640, 480)
    assert sizes["training_history.png"] == (1500, 450)
    # 16 classes, 30 pixels each, and 120 for the axis, title and legend.
    assert sizes["per_class_ap.png"] == (640, 16 * 30 + 120)
    # Four results and the query per row, three rows, 140 pixels a cell.
    assert sizes["grid_image_to_text.png"] == (5 * 140, 3 * 140 + 40)
    assert not list(output_dir.parent.glob(".evaluation-*")), "staging left behind"


def test_report_json_holds_the_plotted_points(raw_report):
    _, output_dir, _, test = raw_report
    report = json.loads((output_dir / "retrieval_report.json").read_text())
    assert report["class_names"] == list(CLASS_NAMES)
    for source in ("model", "random_ranking"):
        for direction in ("image_to_text", "text_to_image", "image_to_all"):
            values = report[source][direction]
            assert 0 <= values["recall@1"] <= values["recall@5"] <= values["recall@10"]
            curve = values["precision_recall"]
            assert curve["recall"][0] == 0 and curve["recall"][-1] == 1
            assert len(values["per_class"]["num_queries"]) == test.num_classes
    grid_json = json.loads((output_dir / "retrieval_grid.json").read_text())
    assert [row["query"] for row in grid_json["image_to_text"]] == [3, 0, 7]
    assert all(len(row["results"]) == 4 for row in grid_json["text_to_image"])


def test_grid_relevance_is_shared_labels(raw_report):
    _, output_dir, _, test = raw_report
    grid_json = json.loads((output_dir / "retrieval_grid.json").read_text())
    classes = test.labels.argmax(axis=1)
    for row in grid_json["text_to_image"]:
        query_class = classes[row["query"]]
        for result in row["results"]:
            assert result["relevant"] == (classes[result["id"]] == query_class)


def test_projector_run_is_readable_by_tensorboard(raw_report):
    _, _, log_dir, test = raw_report
    run = log_dir / projector.RUN_NAME
    assert list(run.glob("events.out.tfevents.*")), "TensorBoard lists only runs"
    config = text_format.Parse(
        (run / "projector_config.pbtxt").read_text(),
        projector_config_pb2.ProjectorConfig(),
    )
    (embedding,) = config.embeddings
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(str(run)))
    values = reader.get_tensor(embedding.tensor_name)
    assert values.shape[0] == 2 * test.num_pairs
    lines = (run / embedding.metadata_path).read_text().splitlines()
    assert lines[0].split("\t") == ["modality", "pair", "class", "caption"]
    assert len(lines) == 1 + 2 * test.num_pairs
    first_text = lines[1 + test.num_pairs].split("\t")
    assert first_text[:2] == ["text", "0"] and first_text[3] == test.texts[0]
    tile = embedding.sprite.single_image_dim
    per_row = int(np.ceil(np.sqrt(2 * test.num_pairs)))
    assert _png_size(run / embedding.sprite.image_path) == (
        per_row * tile[0],
        per_row * tile[1],
    )


def test_rewriting_replaces_the_report(raw_report, raw_run, tmp_path):
    encoder, test = raw_run
    dataset = CrossModalDataset("shapes", test, test, multi_label=False)
    output_dir = tmp_path / "evaluation"
    output_dir.mkdir()
    (output_dir / "stale.png").write_bytes(b"old")
    written = write_evaluation_report(output_dir, encoder, dataset, num_queries=2)
    assert not (output_dir / "stale.png").exists()
    assert "training_history.png" not in written["files"]
    assert written["projector"] is None
    report = json.loads((output_dir / "retrieval_report.json").read_text())
    assert report["class_names"][0] == "class 0"


@pytest.mark.parametrize("queries", [[0, 48], [-1], ["x"], [2, 2], []])
def test_queries_that_do_not_exist_are_refused(queries):
    with pytest.raises(InvalidInputError, match=r"queries.*\[0, 47\]"):
        grid.choose_queries(48, queries=queries)


def test_query_ids_given_as_strings_are_accepted():
    assert grid.choose_queries(48, queries=["5", "1"]).tolist() == [5, 1]


@pytest.fixture(scope="module")
def feature_reports(feature_run, tmp_path_factory):
    """Reports of the two-epoch feature run and of the same model untrained."""
    model_dir, encoder = feature_run
    config = load_run(model_dir)[0]
    dataset = load_dataset("wikipedia_classic")
    # The run's own seed: the untrained model holds the weights the run
    # started from, whatever other tests drew from the global generator.
    keras.utils.set_random_seed(config.training.seed)
    untrained = CrossModalEncoder.from_generator(
        build_generator(config, dataset.train),
        dataset.train.images,
        dataset.train.texts,
        representation=config.model.representation,
    )
    reports = {}
    for name, model in (("trained", encoder), ("untrained", untrained)):
        output_dir = tmp_path_factory.mktemp(name) / "evaluation"
        write_evaluation_report(output_dir, model, dataset)
        reports[name] = json.loads((output_dir / "retrieval_report.json").read_text())
    return reports


def test_area_under_the_curve_agrees_with_map(feature_reports):
    for report in feature_reports.values():
        for source in ("model", "random_ranking"):
            for values in report[source].values():
                area = values["precision_recall"]["area"]
                assert values["map"] - 0.01 <= area <= values["map"] + 0.05


def test_trained_and_untrained_models_give_different_curves(feature_reports):
    # The smoke run is trained for 2 epochs only (MAP about 0.18 and 0.13
    # against 0.15 and 0.12 untrained), so the margins are small but far
    # above the run-to-run noise of a seeded CPU run, which is zero.
    for direction in ("image_to_text", "text_to_image"):
        trained = feature_reports["trained"]["model"][direction]
        untrained = feature_reports["untrained"]["model"][direction]
        difference = np.subtract(
            trained["precision_recall"]["precision"],
            untrained["precision_recall"]["precision"],
        )
        assert difference.max() > 0.03
        assert trained["map"] > untrained["map"] + 0.01
        assert (
            trained["precision_at_k"]["precision"]
            != (untrained["precision_at_k"]["precision"])
        )
