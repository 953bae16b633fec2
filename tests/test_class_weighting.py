"""Choosing the class weight and temperature of the ranked representation."""

import keras
import numpy as np
import pytest

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.autoencoder import CrossModalAutoencoder
from cmgan_tf.models.encoder import CrossModalEncoder
from cmgan_tf.models.ensemble import EnsembleEncoder
from cmgan_tf.models.trunks import FeatureTrunk
from cmgan_tf.retrieval.class_weighting import (
    CLASS_WEIGHTS,
    TEMPERATURES,
    choose_class_weighting,
)
from cmgan_tf.retrieval.evaluation import evaluate_encoder
from tests.conftest import make_paired_split

SPLIT = make_paired_split(60, seed=3)


def _encoder(seed, representation="standardized_common_and_classes", **kwargs):
    generator = CrossModalAutoencoder(
        FeatureTrunk(SPLIT.images.shape[1], name="image_trunk"),
        FeatureTrunk(SPLIT.texts.shape[1], name="text_trunk"),
        SPLIT.labels.shape[1],
        encoder_units=(16,),
        common_units=(8,),
        seed=seed,
    )
    # One training-mode call moves the batch-norm statistics off (0, 1).
    generator({"image": SPLIT.images, "text": SPLIT.texts}, training=True)
    return CrossModalEncoder.from_generator(
        generator,
        SPLIT.images,
        SPLIT.texts,
        representation=representation,
        **kwargs,
    )


@pytest.mark.parametrize("members", [1, 2])
def test_each_setting_scores_as_an_encoder_built_with_it(members):
    encoders = [
        _encoder(seed, class_weight=2.0, temperature=0.5) for seed in range(members)
    ]
    encoder = encoders[0] if members == 1 else EnsembleEncoder(encoders)

    chosen = choose_class_weighting(encoder, SPLIT)

    scores = chosen["scores"]
    assert len(scores) == len(CLASS_WEIGHTS) * len(TEMPERATURES)
    # The encoder's own setting is tried first, so that a tie keeps it.
    assert (scores[0]["class_weight"], scores[0]["temperature"]) == (2.0, 0.5)
    best = max(scores, key=lambda s: s["map_image_to_text"] + s["map_text_to_image"])
    assert {k: chosen[k] for k in best} == best
    # The settings rank differently, and each scores what an encoder built
    # with it scores through `encode`.
    assert len({round(s["map_image_to_text"], 6) for s in scores}) > 1
    for setting in (scores[0], best, scores[-1]):
        full = evaluate_encoder(
            encoder.with_class_weighting(
                setting["class_weight"], setting["temperature"]
            ),
            SPLIT,
        )
        for direction in ("map_image_to_text", "map_text_to_image"):
            assert full[direction] == pytest.approx(setting[direction], abs=1e-6)


def test_an_encoder_with_another_weighting_saves_and_loads_it(tmp_path):
    encoder = _encoder(0)
    reweighted = encoder.with_class_weighting(4.0, 0.25)
    path = str(tmp_path / "encoder.keras")
    reweighted.save(path)
    loaded = keras.saving.load_model(path)

    assert (loaded.class_weight, loaded.temperature) == (4.0, 0.25)
    assert (encoder.class_weight, encoder.temperature) == (1.0, 1.0)
    built = CrossModalEncoder.from_generator(
        encoder.generator,
        SPLIT.images,
        SPLIT.texts,
        representation="standardized_common_and_classes",
        class_weight=4.0,
        temperature=0.25,
    )
    for modality, inputs in (("image", SPLIT.images), ("text", SPLIT.texts)):
        expected = built.predict_arrays(inputs, modality)
        np.testing.assert_allclose(
            loaded.predict_arrays(inputs, modality), expected, atol=1e-6
        )
        assert not np.allclose(
            encoder.predict_arrays(inputs, modality), expected, atol=1e-3
        )


def test_only_a_ranking_with_class_probabilities_beside_the_common_one_is_weighed():
    with pytest.raises(InvalidInputError, match="standardized_common_and_classes"):
        choose_class_weighting(_encoder(0, representation="class_probabilities"), SPLIT)
