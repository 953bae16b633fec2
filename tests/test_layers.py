"""Every CM-GAN layer and model: shapes, config round trip, saving, behaviour."""

import keras
import numpy as np
import pytest

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.autoencoder import CrossModalAutoencoder
from cmgan_tf.models.blocks import DenseBlock
from cmgan_tf.models.discriminators import (
    InterModalityDiscriminator,
    IntraModalityDiscriminator,
)
from cmgan_tf.models.encoder import CrossModalEncoder
from cmgan_tf.models.ensemble import EnsembleEncoder
from cmgan_tf.models.trunks import FeatureTrunk, transform_features
from tests.layer_test_utils import run_layer_test

BATCH, IMAGE_DIM, TEXT_DIM, NUM_CLASSES = 6, 10, 7, 3


def _array(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


@pytest.fixture
def pair_inputs():
    return {
        "image": _array(BATCH, IMAGE_DIM, seed=1),
        "text": _array(BATCH, TEXT_DIM, seed=2),
    }


# DenseBlock


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"batch_norm": False},
        {"dropout": 0.5, "seed": 3, "leaky_relu_slope": 0.1},
    ],
    ids=["default", "no_batch_norm", "dropout"],
)
def test_dense_block(kwargs, tmp_path):
    run_layer_test(
        lambda: DenseBlock(8, **kwargs), _array(BATCH, 5), (BATCH, 8), tmp_path
    )


def test_dense_block_computes_dense_then_leaky_relu():
    block = DenseBlock(4, batch_norm=False, leaky_relu_slope=0.1)
    x = _array(BATCH, 5)
    outputs = np.asarray(block(x, training=False))
    kernel, bias = (np.asarray(w) for w in block.dense.weights)
    linear = x @ kernel + bias
    np.testing.assert_allclose(
        outputs, np.where(linear > 0, linear, 0.1 * linear), rtol=1e-5, atol=1e-6
    )


def test_dense_block_with_batch_norm_has_no_dense_bias():
    block = DenseBlock(4)
    block.build((None, 5))
    assert block.dense.bias is None


# FeatureTrunk


@pytest.mark.parametrize("transform", ["none", "sqrt"])
@pytest.mark.parametrize("fitted", [False, True], ids=["raw", "standardized"])
def test_feature_trunk(transform, fitted, tmp_path):
    features = _array(40, IMAGE_DIM, seed=4) * 3 + 1

    def factory():
        if fitted:
            return FeatureTrunk.fitted(features, transform=transform)
        return FeatureTrunk(IMAGE_DIM, transform=transform)

    run_layer_test(factory, features[:BATCH], (BATCH, IMAGE_DIM), tmp_path)


def test_signed_square_root_by_hand():
    features = np.array([[4.0, -9.0, 0.0, 0.25]], "float32")
    trunk = FeatureTrunk(4, transform="sqrt")
    np.testing.assert_allclose(trunk(features), [[2.0, -3.0, 0.0, 0.5]], rtol=1e-6)
    np.testing.assert_array_equal(FeatureTrunk(4)(features), features)


@pytest.mark.parametrize("transform", ["none", "sqrt"])
def test_fitted_trunk_standardizes_the_fitting_data(transform):
    features = np.abs(_array(200, 5, seed=5)) * np.array([1, 10, 100, 0.1, 5]) + 2
    outputs = np.asarray(FeatureTrunk.fitted(features, transform=transform)(features))
    np.testing.assert_allclose(outputs.mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(outputs.var(axis=0), 1.0, rtol=1e-3)
    transformed = np.sqrt(features) if transform == "sqrt" else features
    expected = (transformed - transformed.mean(0)) / transformed.std(0)
    np.testing.assert_allclose(outputs, expected, rtol=1e-3, atol=1e-4)


def test_fitted_trunk_maps_a_constant_dimension_to_zero():
    features = _array(30, 3, seed=6)
    features[:, 1] = 7.0
    outputs = np.asarray(FeatureTrunk.fitted(features)(features))
    assert np.isfinite(outputs).all()
    np.testing.assert_allclose(outputs[:, 1], 0.0, atol=1e-5)


def test_transform_features_rejects_an_unknown_transform():
    with pytest.raises(InvalidInputError, match="transform.*'log'"):
        transform_features(np.ones((2, 3)), "log")


# Discriminators


@pytest.mark.parametrize("hidden_units", [(), (8, 4)])
def test_intra_modality_discriminator(hidden_units, tmp_path):
    run_layer_test(
        lambda: IntraModalityDiscriminator(hidden_units),
        _array(BATCH, IMAGE_DIM),
        (BATCH, 1),
        tmp_path,
    )


def test_conditional_inter_modality_discriminator(tmp_path):
    run_layer_test(
        lambda: InterModalityDiscriminator((8,)),
        (_array(BATCH, 4, seed=1), _array(BATCH, IMAGE_DIM, seed=2)),
        (BATCH, 1),
        tmp_path,
    )


@pytest.mark.parametrize("hidden_units", [(), (8,)])
def test_unconditional_inter_modality_discriminator(hidden_units, tmp_path):
    run_layer_test(
        lambda: InterModalityDiscriminator(hidden_units, conditional=False),
        _array(BATCH, 4),
        (BATCH, 1),
        tmp_path,
    )


def test_conditional_discriminator_depends_on_the_condition():
    discriminator = InterModalityDiscriminator((8,))
    common = _array(BATCH, 4, seed=1)
    first = np.asarray(discriminator(common, _array(BATCH, 5, seed=2)))
    second = np.asarray(discriminator(common, _array(BATCH, 5, seed=3)))
    assert not np.allclose(first, second)


def test_conditional_discriminator_without_condition_raises():
    discriminator = InterModalityDiscriminator((8,))
    discriminator(_array(BATCH, 4), _array(BATCH, 5))
    with pytest.raises(ValueError, match="condition"):
        discriminator(_array(BATCH, 4))


def test_unconditional_discriminator_with_condition_raises():
    discriminator = InterModalityDiscriminator((8,), conditional=False)
    discriminator(_array(BATCH, 4))
    with pytest.raises(ValueError, match="condition"):
        discriminator(_array(BATCH, 4), _array(BATCH, 5))


# CrossModalAutoencoder


def _autoencoder(**kwargs):
    options = {
        "encoder_units": (12,),
        "common_units": (8, 4),
        "decoder_units": (6, 9),
        "seed": 1,
        **kwargs,
    }
    return CrossModalAutoencoder(
        FeatureTrunk(IMAGE_DIM, name="image_trunk"),
        FeatureTrunk(TEXT_DIM, transform="sqrt", name="text_trunk"),
        NUM_CLASSES,
        **options,
    )


def _autoencoder_shapes(common_dim=4):
    return {
        "image_original": (BATCH, IMAGE_DIM),
        "text_original": (BATCH, TEXT_DIM),
        "image_common": (BATCH, common_dim),
        "text_common": (BATCH, common_dim),
        "image_reconstruction": (BATCH, IMAGE_DIM),
        "text_reconstruction": (BATCH, TEXT_DIM),
        "image_logits": (BATCH, NUM_CLASSES),
        "text_logits": (BATCH, NUM_CLASSES),
    }


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"classifier": "shared"},
        {"share_common_layers": False},
        {"shared_decoder_layers": 1, "image_dropout": 0.3, "common_dropout": 0.1},
        {"decoder_units": ()},
        {"encoder_units": (), "share_common_layers": False},
        {"linear_common_output": True, "common_dropout": 0.2},
    ],
    ids=[
        "default",
        "shared_classifier",
        "unshared",
        "shared_decoder",
        "no_decoder_blocks",
        "unshared_no_encoder",
        "linear_common_output",
    ],
)
def test_cross_modal_autoencoder(kwargs, pair_inputs, tmp_path):
    run_layer_test(
        lambda: _autoencoder(**kwargs), pair_inputs, _autoencoder_shapes(), tmp_path
    )


def test_autoencoder_original_is_the_trunk_output(pair_inputs):
    outputs = _autoencoder()(pair_inputs, training=False)
    np.testing.assert_array_equal(outputs["image_original"], pair_inputs["image"])
    text = pair_inputs["text"]
    np.testing.assert_allclose(
        outputs["text_original"], np.sign(text) * np.sqrt(np.abs(text)), rtol=1e-6
    )


def test_shared_classifier_is_one_layer(pair_inputs):
    model = _autoencoder(classifier="shared")
    model(pair_inputs)
    assert model.image_classifier is model.text_classifier
    per_modality = _autoencoder()
    per_modality(pair_inputs)
    assert per_modality.image_classifier is not per_modality.text_classifier
    classifier_weights = len(model.image_classifier.weights)
    assert len(per_modality.weights) - len(model.weights) == classifier_weights


def test_shared_classifier_survives_saving(pair_inputs, tmp_path):
    model = _autoencoder(classifier="shared")
    model(pair_inputs)
    keras.saving.save_model(model, tmp_path / "model.keras")
    loaded = keras.saving.load_model(tmp_path / "model.keras")
    assert loaded.image_classifier is loaded.text_classifier


def test_shared_common_layers_need_equal_sizes_without_encoder():
    with pytest.raises(InvalidInputError, match="encoder_units"):
        _autoencoder(encoder_units=(), share_common_layers=True)


def test_linear_common_output_is_an_affine_map_of_the_block_before(pair_inputs):
    model = _autoencoder(linear_common_output=True)
    common = np.asarray(model(pair_inputs, training=False)["image_common"])
    first, last = model.image_common.layers
    assert isinstance(last, keras.layers.Dense)
    hidden = np.asarray(
        first(model.image_encoder(pair_inputs["image"], training=False), training=False)
    )
    kernel, bias = (np.asarray(w) for w in last.weights)
    np.testing.assert_allclose(common, hidden @ kernel + bias, rtol=1e-5, atol=1e-6)


# CrossModalEncoder


@pytest.fixture
def trained_generator():
    """A generator whose BatchNorm statistics moved away from (0, 1)."""
    generator = _autoencoder()
    images, texts = _array(40, IMAGE_DIM, seed=7), _array(40, TEXT_DIM, seed=8)
    generator({"image": images, "text": texts}, training=True)
    return generator, images, texts


def _norms(outputs):
    return {
        key: np.linalg.norm(np.asarray(value), axis=1) for key, value in outputs.items()
    }


@pytest.mark.parametrize(
    "representation, dim",
    [
        ("common", 4),
        ("standardized_common", 4),
        ("class_probabilities", NUM_CLASSES),
        ("standardized_common_and_classes", 4 + NUM_CLASSES),
    ],
)
def test_cross_modal_encoder(
    trained_generator, representation, dim, pair_inputs, tmp_path
):
    generator, images, texts = trained_generator
    layer = run_layer_test(
        lambda: CrossModalEncoder.from_generator(
            generator, images, texts, representation=representation, temperature=0.5
        ),
        pair_inputs,
        {"image": (BATCH, dim), "text": (BATCH, dim)},
        tmp_path,
    )
    for norms in _norms(layer(pair_inputs)).values():
        np.testing.assert_allclose(norms, 1.0, rtol=1e-5)


@pytest.mark.parametrize("multi_label", [False, True])
def test_class_probability_encoder_ranks_by_tempered_classifier_output(
    trained_generator, multi_label
):
    generator, images, texts = trained_generator
    encoder = CrossModalEncoder.from_generator(
        generator,
        images,
        texts,
        representation="class_probabilities",
        temperature=0.25,
        multi_label=multi_label,
    )
    logits = np.asarray(
        generator({"image": images, "text": texts}, training=False)["text_logits"],
        np.float64,
    )
    scaled = logits / 0.25
    if multi_label:
        probabilities = 1.0 / (1.0 + np.exp(-scaled))
    else:
        exp = np.exp(scaled - scaled.max(axis=1, keepdims=True))
        probabilities = exp / exp.sum(axis=1, keepdims=True)
    expected = probabilities / np.linalg.norm(probabilities, axis=1, keepdims=True)
    np.testing.assert_allclose(
        encoder.predict_arrays(texts, "text"), expected, rtol=1e-4, atol=1e-6
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"representation": "raw"}, "representation"),
        ({"representation": "standardized_common"}, "statistics"),
        ({"representation": "class_probabilities", "temperature": 0.0}, "temperature"),
        ({"representation": "standardized_common_and_classes"}, "statistics"),
        ({"representation": "common", "class_weight": 0.0}, "class_weight"),
    ],
)
def test_encoder_rejects_inconsistent_arguments(trained_generator, kwargs, message):
    generator, _, _ = trained_generator
    with pytest.raises(InvalidInputError, match=message):
        CrossModalEncoder(generator, **kwargs)


def test_encoder_encodes_one_modality_alone(trained_generator, pair_inputs):
    generator, images, texts = trained_generator
    encoder = CrossModalEncoder.from_generator(
        generator, images, texts, representation="common"
    )
    outputs = encoder({"text": pair_inputs["text"]})
    assert set(outputs) == {"text"}
    np.testing.assert_allclose(
        outputs["text"], encoder(pair_inputs)["text"], rtol=1e-6, atol=1e-6
    )


def test_encoder_without_standardization_normalizes_the_common_representation(
    trained_generator,
):
    generator, images, texts = trained_generator
    encoder = CrossModalEncoder.from_generator(
        generator, images, texts, representation="common"
    )
    common = np.asarray(
        generator({"image": images, "text": texts}, training=False)["image_common"]
    )
    expected = common / np.linalg.norm(common, axis=1, keepdims=True)
    np.testing.assert_allclose(
        encoder.predict_arrays(images, "image"), expected, rtol=1e-5, atol=1e-6
    )


def test_standardized_encoder_centres_the_training_pairs(trained_generator):
    generator, images, texts = trained_generator
    # A batch size that does not divide the data exercises the batching too.
    encoder = CrossModalEncoder.from_generator(
        generator, images, texts, representation="standardized_common", batch_size=7
    )
    outputs = generator({"image": images, "text": texts}, training=False)
    for modality, inputs in (("image", images), ("text", texts)):
        common = np.asarray(outputs[f"{modality}_common"], np.float64)
        standardized = (common - common.mean(0)) / common.std(0)
        np.testing.assert_allclose(standardized.mean(0), 0.0, atol=1e-6)
        expected = standardized / np.linalg.norm(standardized, axis=1, keepdims=True)
        np.testing.assert_allclose(
            encoder.predict_arrays(inputs, modality), expected, rtol=1e-4, atol=1e-5
        )
        # The training-pair mean is what the encoder subtracts: the pre-norm
        # representation averages to zero per dimension.
        pre_norm = np.asarray(
            encoder.standardizations[modality](outputs[f"{modality}_common"])
        )
        np.testing.assert_allclose(pre_norm.mean(0), 0.0, atol=1e-4)


@pytest.mark.parametrize("class_weight", [0.5, 3.0])
def test_common_and_classes_encoder_adds_the_two_cosines(
    trained_generator, class_weight
):
    generator, images, texts = trained_generator

    def encoded(representation, **kwargs):
        encoder = CrossModalEncoder.from_generator(
            generator, images, texts, representation=representation, **kwargs
        )
        return (
            encoder.predict_arrays(images, "image"),
            encoder.predict_arrays(texts, "text"),
        )

    common_images, common_texts = encoded("standardized_common")
    class_images, class_texts = encoded("class_probabilities", temperature=0.5)
    images_out, texts_out = encoded(
        "standardized_common_and_classes", temperature=0.5, class_weight=class_weight
    )
    # What retrieval ranks by: (cos_common + w * cos_classes) / (1 + w).
    expected = (
        common_images @ common_texts.T + class_weight * class_images @ class_texts.T
    ) / (1.0 + class_weight)
    np.testing.assert_allclose(images_out @ texts_out.T, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(texts_out, axis=1), 1.0, rtol=1e-5)


def test_encoder_keeps_an_unshared_generators_text_common_weights():
    generator = _autoencoder(share_common_layers=False)
    images, texts = _array(40, IMAGE_DIM, seed=7), _array(40, TEXT_DIM, seed=8)
    generator({"image": images, "text": texts}, training=True)
    # Training moves the two copies apart; shift one to stand for that.
    trained = [w + 0.5 for w in generator.text_common.get_weights()]
    generator.text_common.set_weights(trained)
    expected = np.asarray(generator.encode(texts, "text", training=False)[1])

    CrossModalEncoder.from_generator(generator, images, texts, representation="common")

    for before, after in zip(trained, generator.text_common.get_weights(), strict=True):
        np.testing.assert_array_equal(after, before)
    np.testing.assert_allclose(
        generator.encode(texts, "text", training=False)[1], expected, rtol=1e-6
    )


# EnsembleEncoder


def _members(images, texts):
    """Two encoders of differently seeded generators, of different widths."""
    members = []
    for seed, representation in ((1, "standardized_common_and_classes"), (2, "common")):
        generator = _autoencoder(seed=seed)
        generator({"image": images, "text": texts}, training=True)
        members.append(
            CrossModalEncoder.from_generator(
                generator, images, texts, representation=representation
            )
        )
    return members


def test_ensemble_encoder(trained_generator, pair_inputs, tmp_path):
    _, images, texts = trained_generator
    dim = 4 + NUM_CLASSES + 4
    layer = run_layer_test(
        lambda: EnsembleEncoder(_members(images, texts)),
        pair_inputs,
        {"image": (BATCH, dim), "text": (BATCH, dim)},
        tmp_path,
    )
    assert layer.output_dim == dim
    assert len(layer.generators) == 2
    for norms in _norms(layer(pair_inputs)).values():
        np.testing.assert_allclose(norms, 1.0, rtol=1e-5)


def test_ensemble_ranks_by_the_mean_of_its_members_cosines(trained_generator):
    _, images, texts = trained_generator
    members = _members(images, texts)
    ensemble = EnsembleEncoder(members)
    expected = np.mean(
        [
            m.predict_arrays(images, "image") @ m.predict_arrays(texts, "text").T
            for m in members
        ],
        axis=0,
    )
    similarities = ensemble.predict_arrays(images, "image") @ (
        ensemble.predict_arrays(texts, "text").T
    )
    np.testing.assert_allclose(similarities, expected, atol=1e-5)


def test_ensemble_rejects_members_that_cannot_rank_together(trained_generator):
    generator, images, texts = trained_generator
    member = CrossModalEncoder.from_generator(generator, images, texts)
    with pytest.raises(InvalidInputError, match="two or more"):
        EnsembleEncoder([member])
    with pytest.raises(InvalidInputError, match="two or more"):
        EnsembleEncoder([member, generator])
    other = CrossModalAutoencoder(
        FeatureTrunk(IMAGE_DIM + 1, name="image_trunk"),
        FeatureTrunk(TEXT_DIM, name="text_trunk"),
        NUM_CLASSES,
        encoder_units=(12,),
        common_units=(8, 4),
        decoder_units=(6, 9),
    )
    wider = CrossModalEncoder.from_generator(other, _array(40, IMAGE_DIM + 1), texts)
    with pytest.raises(InvalidInputError, match="different inputs"):
        EnsembleEncoder([member, wider])
