"""The Nyström kernel feature map and the feature trunk that applies it."""

import keras
import numpy as np
import pytest

from cmgan_tf.data.demo import generate_shapes_split
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.kernel_map import NystroemFeatureMap
from cmgan_tf.models.trunks import FeatureTrunk
from cmgan_tf.presets import preset
from cmgan_tf.training.builder import build_generator, build_text_vectorizer
from tests.layer_test_utils import run_layer_test


def _features(n, dim, seed=0):
    # Non-negative histograms-like rows, as bag-of-visual-words features are.
    return np.random.default_rng(seed).gamma(0.5, size=(n, dim)).astype("float32")


def _gaussian_kernel(a, b, gamma):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    distances = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    return np.exp(-gamma * distances)


def _median_squared_distance(features):
    a = np.asarray(features, np.float64)
    distances = ((a[:, None, :] - a[None, :, :]) ** 2).sum(-1)
    return np.median(distances[np.triu_indices(len(a), 1)])


def _fitted_map(features, num_landmarks, **kwargs):
    feature_map = NystroemFeatureMap(num_landmarks, **kwargs)
    feature_map.adapt(features, seed=3)
    return feature_map


def test_with_every_item_a_landmark_inner_products_are_the_kernel():
    features = _features(120, 6)
    feature_map = _fitted_map(features, 120)
    mapped = np.asarray(feature_map(features), np.float64)
    gamma = 1.0 / _median_squared_distance(features)
    np.testing.assert_allclose(float(feature_map.gamma.numpy()), gamma, rtol=1e-5)
    np.testing.assert_allclose(
        mapped @ mapped.T, _gaussian_kernel(features, features, gamma), atol=2e-3
    )


def test_with_fewer_landmarks_the_kernel_is_approximated_and_landmarks_are_exact():
    features, queries = _features(300, 6), _features(50, 6, seed=1)
    feature_map = _fitted_map(features, 100, bandwidth_scale=2.0)
    gamma = 2.0 / _median_squared_distance(features)
    landmarks = np.asarray(feature_map.landmarks.numpy())
    # Landmarks are training items, and on them the map is exact.
    assert {tuple(row) for row in landmarks} <= {tuple(row) for row in features}
    mapped_landmarks = np.asarray(feature_map(landmarks), np.float64)
    np.testing.assert_allclose(
        mapped_landmarks @ mapped_landmarks.T,
        _gaussian_kernel(landmarks, landmarks, gamma),
        atol=2e-3,
    )
    mapped = np.asarray(feature_map(queries), np.float64)
    error = np.abs(mapped @ mapped.T - _gaussian_kernel(queries, queries, gamma))
    assert error.mean() < 0.02, error.mean()


def test_the_same_seed_picks_the_same_landmarks_and_another_seed_others():
    features = _features(200, 4)
    first, second = _fitted_map(features, 20), _fitted_map(features, 20)
    np.testing.assert_array_equal(first.landmarks.numpy(), second.landmarks.numpy())
    other = NystroemFeatureMap(20)
    other.adapt(features, seed=4)
    assert not np.array_equal(first.landmarks.numpy(), other.landmarks.numpy())


def test_the_map_does_not_depend_on_the_scale_of_the_features():
    features, queries = _features(150, 5), _features(10, 5, seed=1)
    mapped = np.asarray(_fitted_map(features, 40)(queries))
    rescaled = np.asarray(_fitted_map(features * 1000, 40)(queries * 1000))
    np.testing.assert_allclose(rescaled, mapped, rtol=1e-3, atol=1e-4)


def test_duplicated_landmarks_give_finite_outputs():
    # A singular kernel matrix: its tiny eigenvalues are floored, not inverted.
    features = np.repeat(_features(10, 3), 5, axis=0)
    mapped = np.asarray(_fitted_map(features, 30)(features))
    assert np.isfinite(mapped).all()
    assert np.abs(mapped).max() < 1e3


def test_the_map_computes_in_float32_under_mixed_precision():
    features = _features(100, 8)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        feature_map = _fitted_map(features, 50)
        trunk = FeatureTrunk.fitted(features, "sqrt", kernel_landmarks=50)
        outputs = trunk(features)
    finally:
        keras.config.set_dtype_policy(previous)
    assert feature_map.compute_dtype == "float32"
    assert feature_map(features).dtype == "float32"
    assert keras.backend.standardize_dtype(outputs.dtype) == "bfloat16"
    reference = FeatureTrunk.fitted(features, "sqrt", kernel_landmarks=50)(features)
    # Only the standardisation and the cast are in bfloat16 (8 bits of mantissa).
    np.testing.assert_allclose(
        np.asarray(outputs, np.float32), reference, rtol=0.02, atol=0.02
    )


@pytest.mark.parametrize(
    ("features", "message"),
    [
        (_features(10, 3), "needs at least 20 training items"),
        (np.full((30, 3), np.nan, "float32"), "finite"),
        (np.ones(30, "float32"), "2-D array"),
    ],
)
def test_adapt_rejects_too_few_items_and_non_finite_features(features, message):
    with pytest.raises(InvalidInputError, match=message):
        NystroemFeatureMap(20).adapt(features)


def test_adapt_rejects_features_of_another_size_than_built():
    feature_map = _fitted_map(_features(40, 3), 10)
    with pytest.raises(InvalidInputError, match="built for 3-d features"):
        feature_map.adapt(_features(40, 5))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_landmarks": 0}, "num_landmarks"),
        ({"num_landmarks": 8, "bandwidth_scale": 0.0}, "bandwidth_scale"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(InvalidInputError, match=message):
        NystroemFeatureMap(**kwargs)


def test_a_fitted_map_saves_and_loads_with_its_landmarks(tmp_path):
    features = _features(64, 5)
    layer = run_layer_test(
        lambda: _fitted_map(features, 16), features[:6], (6, 16), tmp_path
    )
    assert np.abs(layer.projection.numpy()).max() > 0


# FeatureTrunk with a kernel map


def test_a_trunk_with_a_kernel_map_saves_and_loads(tmp_path):
    features = _features(80, 7)
    run_layer_test(
        lambda: FeatureTrunk.fitted(features, "sqrt", kernel_landmarks=32, seed=1),
        features[:6],
        (6, 32),
        tmp_path,
    )


def test_the_trunk_maps_then_standardises_with_training_statistics():
    features = _features(200, 6)
    trunk = FeatureTrunk.fitted(features, "sqrt", kernel_landmarks=40, seed=2)
    assert trunk.output_dim == 40
    outputs = np.asarray(trunk(features))
    np.testing.assert_allclose(outputs.mean(axis=0), 0.0, atol=1e-3)
    np.testing.assert_allclose(outputs.var(axis=0), 1.0, rtol=1e-2)
    feature_map = NystroemFeatureMap(40)
    feature_map.adapt(np.sqrt(features), seed=2)
    mapped = np.asarray(feature_map(np.sqrt(features)))
    expected = (mapped - mapped.mean(0)) / mapped.std(0)
    np.testing.assert_allclose(outputs, expected, rtol=1e-3, atol=1e-3)


def test_a_split_smaller_than_the_landmarks_uses_all_its_items():
    features = _features(25, 4)
    trunk = FeatureTrunk.fitted(features, kernel_landmarks=1024)
    assert trunk.output_dim == 25
    assert trunk(features).shape == (25, 25)


def test_a_kernel_map_on_raw_inputs_is_refused():
    config = preset("smoke").replace(
        data={"dataset": "shapes", "image_kernel_landmarks": 8}
    )
    split = generate_shapes_split(32, image_size=16, seed=1)
    with pytest.raises(InvalidInputError, match="feature vectors only.*image_kernel"):
        build_generator(config, split, build_text_vectorizer(config, split))
