"""End to end on raw pixels and captions: train, export, evaluate."""

import numpy as np
import pytest

from cmgan_tf.data.dataset import CrossModalDataset
from cmgan_tf.data.demo import CLASS_NAMES, generate_shapes_split
from cmgan_tf.presets import preset
from cmgan_tf.runs.evaluation import evaluate
from cmgan_tf.runs.model_dir import load_run
from cmgan_tf.runs.trainer import train


@pytest.fixture
def small_shapes():
    dataset = CrossModalDataset(
        "shapes",
        generate_shapes_split(512, image_size=16, seed=1),
        generate_shapes_split(96, image_size=16, seed=2),
        multi_label=False,
        class_names=CLASS_NAMES,
    )
    return dataset


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["default", "mirrored"])
def test_raw_pairs_train_and_export_an_encoder_of_strings_and_pixels(
    small_shapes, tmp_path, strategy
):
    config = preset("smoke").replace(
        data={"dataset": "shapes"},
        model={
            "classifier": "shared",
            "image_filters": (8, 16),
            "image_trunk_units": 32,
            "vocabulary_size": 100,
            "sequence_length": 16,
            "embedding_dim": 16,
            "text_filters": 8,
        },
        training={"epochs": 10, "batch_size": 32, "learning_rate": 3e-3},
        runtime={"model_dir": str(tmp_path / "run"), "strategy": strategy},
    )
    metrics = train(config, dataset=small_shapes)
    # Sixteen classes: chance MAP is about 0.1.
    assert metrics["validation"]["map_mean"] > 0.4, metrics["history"]

    _, encoder = load_run(config.runtime.model_dir)
    test = small_shapes.test
    outputs = encoder({"image": test.images[:5], "text": np.asarray(test.texts[:5])})
    assert outputs["image"].shape == outputs["text"].shape
    for value in outputs.values():
        np.testing.assert_allclose(np.linalg.norm(value, axis=1), 1.0, rtol=1e-5)
    # The reloaded tokeniser kept its vocabulary: captions still retrieve.
    scores, chance = evaluate(config.runtime.model_dir, dataset=small_shapes)
    assert scores["map_text_to_image"] > 0.4 > 3 * chance["map_text_to_image"]
