"""Mismatched-item sampling of the conditional inter-modality discriminators."""

import numpy as np
import pytest
import tensorflow as tf

from cmgan_tf.training.sampling import sample_mismatched_indices

NUM_SEEDS = 300


def _shares_label(labels):
    labels = np.asarray(labels, bool)
    return (labels[:, None, :] & labels[None, :, :]).any(axis=-1)


def _draws(labels, seeds, function=sample_mismatched_indices):
    labels = tf.constant(labels, tf.float32)
    return np.stack(
        [np.asarray(function(labels, tf.constant(seed, tf.int32))) for seed in seeds]
    )


def _seeds(count, offset=0):
    return [(offset + i, 7 * i + 1) for i in range(count)]


SINGLE_LABEL = np.eye(4, dtype="float32")[[0, 0, 1, 2, 2, 2, 3, 1, 0, 3]]
MULTI_LABEL = np.array(
    [
        [1, 1, 0, 0],
        [0, 1, 1, 0],
        [0, 0, 1, 1],
        [1, 0, 0, 0],
        [0, 0, 0, 1],
        [0, 1, 0, 0],
        [1, 0, 1, 0],
    ],
    "float32",
)


def _check_mismatched(labels, draws):
    shares = _shares_label(labels)
    batch = len(labels)
    assert draws.dtype == np.int32
    assert draws.shape[1:] == (batch,)
    assert ((draws >= 0) & (draws < batch)).all()
    has_mismatch = ~shares.all(axis=1)
    assert has_mismatch.any()
    for i in np.flatnonzero(has_mismatch):
        assert not shares[i, draws[:, i]].any(), f"item {i} drew a sharing item"


@pytest.mark.parametrize("labels", [SINGLE_LABEL, MULTI_LABEL], ids=["single", "multi"])
def test_drawn_item_never_shares_a_label(labels):
    _check_mismatched(labels, _draws(labels, _seeds(NUM_SEEDS)))


@pytest.mark.parametrize("labels", [SINGLE_LABEL, MULTI_LABEL], ids=["single", "multi"])
def test_draws_cover_every_candidate_about_uniformly(labels):
    draws = _draws(labels, _seeds(NUM_SEEDS))
    shares = _shares_label(labels)
    for i in range(len(labels)):
        candidates = np.flatnonzero(~shares[i])
        counts = np.bincount(draws[:, i], minlength=len(labels))[candidates]
        expected = NUM_SEEDS / len(candidates)
        # About 5 standard deviations of a binomial count: no flakes, but a
        # draw that favours the first or last candidate fails.
        tolerance = 5 * np.sqrt(expected * (1 - 1 / len(candidates)))
        assert counts.sum() == NUM_SEEDS
        assert (counts > 0).all(), f"item {i}: candidates never drawn: {counts}"
        assert np.abs(counts - expected).max() < tolerance, (i, counts)


def test_item_sharing_every_label_falls_back_to_a_uniform_item():
    # Item 0 carries every class, so every item shares a label with it; the
    # others still have mismatched items.
    labels = np.array([[1, 1, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]], "float32")
    draws = _draws(labels, _seeds(NUM_SEEDS))
    _check_mismatched(labels, draws)
    counts = np.bincount(draws[:, 0], minlength=4)
    assert (counts > 0).all(), counts


def test_batch_of_one_class_returns_valid_indices_from_the_whole_batch():
    labels = np.eye(3, dtype="float32")[[1] * 6]
    draws = _draws(labels, _seeds(NUM_SEEDS))
    assert ((draws >= 0) & (draws < 6)).all()
    # The fallback is a uniform item of the batch, not always one index.
    for i in range(6):
        assert len(np.unique(draws[:, i])) == 6, np.bincount(draws[:, i])


def test_docstring_example_has_one_possible_draw():
    labels = tf.one_hot([0, 0, 1], 2)
    draws = _draws(labels, _seeds(20))
    np.testing.assert_array_equal(draws[:, :2], 2)
    assert set(draws[:, 2]) == {0, 1}


def test_same_seed_gives_the_same_draw_and_different_seeds_differ():
    labels = np.eye(8, dtype="float32")[np.arange(64) % 8]
    first = _draws(labels, [(3, 4)])[0]
    again = _draws(labels, [(3, 4)])[0]
    np.testing.assert_array_equal(first, again)
    for other_seed in [(3, 5), (4, 4), (0, 0)]:
        other = _draws(labels, [other_seed])[0]
        # 64 items with 56 candidates each: equal draws would mean the seed
        # is ignored.
        assert (other != first).any(), other_seed


def test_works_under_xla():
    sample = tf.function(sample_mismatched_indices, jit_compile=True)
    for labels in (SINGLE_LABEL, MULTI_LABEL):
        draws = _draws(labels, _seeds(50), function=sample)
        _check_mismatched(labels, draws)
        assert len({tuple(d) for d in draws}) > 1
        np.testing.assert_array_equal(
            _draws(labels, [(9, 9)], function=sample),
            _draws(labels, [(9, 9)], function=sample),
        )
