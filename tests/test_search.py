"""Exact top-k search and the comparison of rankings."""

import numpy as np
import pytest
import tensorflow as tf

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.retrieval.search import rankings_agree, top_k_search


def _unit(rows, seed):
    x = np.random.default_rng(seed).normal(size=(rows, 8)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("k, block_size", [(1, 7), (5, 7), (60, 1024)])
def test_top_k_search_matches_a_full_sort_and_tf_top_k(k, block_size):
    queries, gallery = _unit(20, 0), _unit(50, 1)
    indices, scores = top_k_search(queries, gallery, k, block_size=block_size)
    similarity = queries @ gallery.T
    expected = np.argsort(-similarity, axis=1, kind="stable")[:, : min(k, 50)]
    np.testing.assert_array_equal(indices, expected)
    np.testing.assert_allclose(
        scores, np.take_along_axis(similarity, expected, 1), rtol=1e-6
    )
    reference = tf.math.top_k(similarity, k=min(k, 50))
    np.testing.assert_array_equal(indices, reference.indices.numpy())


def test_equal_scores_keep_the_lower_index_first():
    gallery = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0]])
    indices, _ = top_k_search(np.array([[1.0, 0.0]]), gallery, 3)
    np.testing.assert_array_equal(indices, [[0, 2, 3]])


@pytest.mark.parametrize(
    "queries, gallery, k, message",
    [
        (np.ones(3), np.ones((2, 3)), 1, "`queries` must be a 2-D"),
        (np.ones((1, 3)), np.full((2, 3), np.nan), 1, "`gallery` must be a 2-D"),
        (np.ones((1, 3)), np.ones((2, 4)), 1, "differ in dimension: 3 and 4"),
        (np.ones((1, 3)), np.ones((2, 3)), 0, "`k` must be a positive integer"),
    ],
)
def test_top_k_search_rejects_bad_input(queries, gallery, k, message):
    with pytest.raises(InvalidInputError, match=message):
        top_k_search(queries, gallery, k)


def test_rankings_agree_up_to_ties_only():
    ids = np.array([[4, 7, 1], [4, 7, 1], [4, 7, 1]])
    scores = np.array([[0.9, 0.5, 0.5], [0.9, 0.5, 0.5], [0.9, 0.8, 0.5]])
    # Tied items swap or are exchanged at the k-th place: the same ranking.
    reference_ids = np.array([[4, 1, 7], [4, 7, 9], [4, 9, 1]])
    reference_scores = np.array([[0.9, 0.5, 0.5], [0.9, 0.5, 0.5], [0.9, 0.8, 0.5]])
    agree = rankings_agree(ids, scores, reference_ids, reference_scores)
    # The third list holds 9 instead of 7, though neither is tied.
    np.testing.assert_array_equal(agree, [True, True, False])
    shifted = reference_scores + np.array([0, 0, 1e-3])
    assert not rankings_agree(ids, scores, ids, shifted).any()
