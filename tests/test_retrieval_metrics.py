"""Retrieval metrics against a brute-force reference and hand-computed values."""

import numpy as np
import pytest

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.retrieval import (
    cross_modal_retrieval_scores,
    mean_average_precision,
    precision_at_k,
)
from cmgan_tf.retrieval.evaluation import format_map_table, random_ranking_scores
from tests.retrieval_reference import random_case, reference_map, reference_precision

CASES = [
    pytest.param(seed, form, kind, id=f"{seed}-{form}-{kind}")
    for seed in (0, 1, 2)
    for form in ("ids", "multi_hot")
    for kind in ("integer", "normal")
]


@pytest.mark.parametrize("seed,label_form,embedding_kind", CASES)
@pytest.mark.parametrize("k", [None, 1, 5, 40])
def test_map_matches_brute_force(seed, label_form, embedding_kind, k):
    query, gallery, query_labels, gallery_labels = random_case(
        seed,
        num_queries=9,
        num_gallery=17,
        label_form=label_form,
        embedding_kind=embedding_kind,
    )
    got = mean_average_precision(
        query, gallery, query_labels, gallery_labels, k=k, block_size=4
    )
    want = reference_map(query, gallery, query_labels, gallery_labels, k=k)
    assert got == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("seed,label_form,embedding_kind", CASES)
@pytest.mark.parametrize("k", [None, 3])
def test_map_exclude_self_matches_brute_force(seed, label_form, embedding_kind, k):
    embeddings, _, labels, _ = random_case(
        seed,
        num_queries=12,
        num_gallery=3,
        label_form=label_form,
        embedding_kind=embedding_kind,
    )
    got = mean_average_precision(
        embeddings, embeddings, labels, labels, k=k, exclude_self=True, block_size=5
    )
    want = reference_map(
        embeddings, embeddings, labels, labels, k=k, excluded=np.arange(12)
    )
    assert got == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("seed,label_form,embedding_kind", CASES)
@pytest.mark.parametrize("exclude_self", [False, True])
def test_precision_matches_brute_force(seed, label_form, embedding_kind, exclude_self):
    embeddings, gallery, labels, gallery_labels = random_case(
        seed,
        num_queries=10,
        num_gallery=10,
        label_form=label_form,
        embedding_kind=embedding_kind,
    )
    if exclude_self:
        gallery, gallery_labels = embeddings, labels
    excluded = np.arange(10) if exclude_self else None
    for k in (1, 4, 9):
        got = precision_at_k(
            embeddings,
            gallery,
            labels,
            gallery_labels,
            k=k,
            exclude_self=exclude_self,
            block_size=3,
        )
        want = reference_precision(
            embeddings, gallery, labels, gallery_labels, k, excluded
        )
        assert got == pytest.approx(want, abs=1e-12)


@pytest.mark.parametrize("label_form", ["ids", "multi_hot"])
def test_blocked_result_equals_unblocked(label_form):
    query, gallery, query_labels, gallery_labels = random_case(
        3,
        num_queries=23,
        num_gallery=31,
        label_form=label_form,
        embedding_kind="integer",
    )
    whole = mean_average_precision(
        query, gallery, query_labels, gallery_labels, block_size=1024
    )
    whole_precision = precision_at_k(
        query, gallery, query_labels, gallery_labels, k=5, block_size=1024
    )
    for block_size in (1, 2, 7, 22, 23):
        assert whole == mean_average_precision(
            query, gallery, query_labels, gallery_labels, block_size=block_size
        )
        assert whole_precision == precision_at_k(
            query, gallery, query_labels, gallery_labels, k=5, block_size=block_size
        )


# ---------------------------------------------------------------------------
# Hand-computed values.
# ---------------------------------------------------------------------------

# One query [1, 0] of class 0. Cosine similarities of the gallery rows:
#   g0 [0, 1]: 0    g1 [1, 0]: 1    g2 [1, 1]: 0.707    g3 [-1, 0]: -1
#   g4 [1, 2]: 0.447
# Ranking g1, g2, g4, g0, g3; with gallery classes [1, 0, 1, 0, 0] the
# relevance by rank is [1, 0, 1, 0, 1].
_HAND_QUERY = np.array([[1.0, 0.0]])
_HAND_GALLERY = np.array([[0.0, 1.0], [1.0, 0.0], [1.0, 1.0], [-1.0, 0.0], [1.0, 2.0]])
_HAND_QUERY_LABELS = np.array([0])
_HAND_GALLERY_LABELS = np.array([1, 0, 1, 0, 0])


@pytest.mark.parametrize(
    "k,expected",
    [
        # AP@all = (1/1 + 2/3 + 3/5) / 3 = (15 + 10 + 9) / 45 = 34/45.
        (None, 34 / 45),
        # Top 3 is [1, 0, 1]: R_3 = 2, AP@3 = (1/1 + 2/3) / 2 = 5/6.
        (3, 5 / 6),
        # Top 2 is [1, 0]: R_2 = 1, AP@2 = (1/1) / 1 = 1.
        (2, 1.0),
        # k past the end of the list scores the whole list.
        (99, 34 / 45),
    ],
)
def test_hand_computed_average_precision(k, expected):
    got = mean_average_precision(
        _HAND_QUERY, _HAND_GALLERY, _HAND_QUERY_LABELS, _HAND_GALLERY_LABELS, k=k
    )
    assert got == pytest.approx(expected, abs=1e-12)


def test_hand_computed_precision():
    # Top 3 [1, 0, 1] -> 2/3; top 5 [1, 0, 1, 0, 1] -> 3/5.
    args = (_HAND_QUERY, _HAND_GALLERY, _HAND_QUERY_LABELS, _HAND_GALLERY_LABELS)
    assert precision_at_k(*args, k=3) == pytest.approx(2 / 3)
    assert precision_at_k(*args, k=5) == pytest.approx(3 / 5)


def test_ties_are_broken_by_gallery_index():
    # g0 = [2, 0] and g1 = [1, 0] both have similarity exactly 1 to the query;
    # g0 (irrelevant) ranks first by index, so relevance is [0, 1, 1] and
    # AP = (1/2 + 2/3) / 2 = 7/12. The reverse tie order would give 1.0.
    got = mean_average_precision(
        np.array([[1.0, 0.0]]),
        np.array([[2.0, 0.0], [1.0, 0.0], [0.0, 1.0]]),
        np.array([0]),
        np.array([1, 0, 0]),
    )
    assert got == pytest.approx(7 / 12, abs=1e-12)


def test_query_with_no_relevant_item_counts_as_zero():
    embeddings = np.eye(3)
    # Query 0 finds its class-0 twin at rank 1 (AP 1); query 1 is class 2,
    # absent from the gallery (AP 0): MAP = (1 + 0) / 2.
    got = mean_average_precision(
        embeddings[:2], embeddings, np.array([0, 2]), np.array([0, 1, 1])
    )
    assert got == pytest.approx(0.5)


def test_multi_label_relevance_is_any_shared_label():
    query_labels = np.array([[1, 1, 0]])
    # g0 shares class 1, g1 shares nothing, g2 shares class 0: relevance by
    # gallery index (all similarities tie at 0 against a zero query) is
    # [1, 0, 1], so AP = (1/1 + 2/3) / 2 = 5/6.
    gallery_labels = np.array([[0, 1, 1], [0, 0, 1], [1, 0, 0]])
    got = mean_average_precision(
        np.zeros((1, 2)), np.eye(3, 2), query_labels, gallery_labels
    )
    assert got == pytest.approx(5 / 6, abs=1e-12)


def test_zero_vectors_have_similarity_zero_not_nan():
    # The zero gallery vector g1 ties with the orthogonal g0 at similarity 0
    # and sits below g2 (similarity 1): ranking g2, g0, g1, relevance
    # [0, 0, 1], AP = 1/3. A NaN similarity would make the result NaN.
    got = mean_average_precision(
        np.array([[1.0, 0.0], [0.0, 0.0]]),
        np.array([[0.0, 1.0], [0.0, 0.0], [1.0, 0.0]]),
        np.array([0, 5]),
        np.array([1, 0, 2]),
    )
    # The zero query ties everything at 0 and ranks by index; its class 5 is
    # absent, AP 0. MAP = (1/3 + 0) / 2.
    assert got == pytest.approx(1 / 6, abs=1e-12)


def test_label_forms_give_the_same_result():
    query, gallery, query_ids, gallery_ids = random_case(
        4, num_queries=8, num_gallery=15, label_form="ids", embedding_kind="normal"
    )
    from_ids = mean_average_precision(query, gallery, query_ids, gallery_ids)
    for dtype in (np.int64, np.float32, bool):
        one_hot = np.eye(4, dtype=dtype)
        got = mean_average_precision(
            query, gallery, one_hot[query_ids], one_hot[gallery_ids]
        )
        assert got == from_ids
    # Sparse and negative ids are only names of classes.
    shifted = mean_average_precision(
        query, gallery, query_ids * 1000 - 7, gallery_ids * 1000 - 7
    )
    assert shifted == from_ids


def test_perfect_embedding_gives_map_one():
    labels = np.random.default_rng(5).integers(0, 4, size=20)
    one_hot = np.eye(4)[labels]
    assert mean_average_precision(one_hot, one_hot, labels, labels) == 1.0
    scores = cross_modal_retrieval_scores(one_hot, one_hot, labels, k_values=(1,))
    for key in ("map_image_to_text", "map_text_to_image", "map_mean"):
        assert scores[key] == 1.0
    assert scores["map_image_to_all"] == 1.0
    assert scores["map_text_to_all"] == 1.0
    assert scores["precision@1_image_to_text"] == 1.0


# ---------------------------------------------------------------------------
# Cross-modal and all-modality retrieval.
# ---------------------------------------------------------------------------


def test_all_modality_retrieval_by_hand():
    # Two pairs, classes [0, 1]:
    #   i0 = [1, 0]  i1 = [1, 1]  t0 = [0, 1]  t1 = [1, -1]
    # All-modality gallery rows: i0, i1, t0, t1 (indices 0..3).
    images = np.array([[1.0, 0.0], [1.0, 1.0]])
    texts = np.array([[0.0, 1.0], [1.0, -1.0]])
    labels = np.array([0, 1])
    # i0: sims i0 1, i1 .707, t0 0, t1 .707 -> i0, i1, t1, t0 = [1, 0, 0, 1]:
    #     AP = (1 + 2/4) / 2 = 3/4; without itself [0, 0, 1]: AP = 1/3.
    # i1: sims i0 .707, i1 1, t0 .707, t1 0 -> i1, i0, t0, t1 = [1, 0, 0, 1]:
    #     AP = 3/4; without itself [0, 0, 1]: AP = 1/3.
    # t0: sims i0 0, i1 .707, t0 1, t1 -.707 -> t0, i1, i0, t1 = [1, 0, 1, 0]:
    #     AP = (1 + 2/3) / 2 = 5/6; without itself [0, 1, 0]: AP = 1/2.
    # t1: sims i0 .707, i1 0, t0 -.707, t1 1 -> t1, i0, i1, t0 = [1, 0, 1, 0]:
    #     AP = 5/6; without itself [0, 1, 0]: AP = 1/2.
    # Image->Text: i0 ranks t1, t0 and i1 ranks t0, t1, each [0, 1]: AP 1/2;
    # Text->Image likewise. Precision@1 is 0, precision@2 is 1/2.
    excluded = cross_modal_retrieval_scores(images, texts, labels, k_values=(1, 2))
    authors = cross_modal_retrieval_scores(
        images, texts, labels, k_values=(1, 2), exclude_query_from_gallery=False
    )
    shared = {
        "map_image_to_text": 0.5,
        "map_text_to_image": 0.5,
        "map_mean": 0.5,
        "precision@1_image_to_text": 0.0,
        "precision@1_text_to_image": 0.0,
        "precision@2_image_to_text": 0.5,
        "precision@2_text_to_image": 0.5,
    }
    assert excluded == pytest.approx(
        {**shared, "map_image_to_all": 1 / 3, "map_text_to_all": 1 / 2}
    )
    assert authors == pytest.approx(
        {**shared, "map_image_to_all": 3 / 4, "map_text_to_all": 5 / 6}
    )


@pytest.mark.parametrize("label_form", ["ids", "multi_hot"])
@pytest.mark.parametrize("exclude", [True, False])
def test_cross_modal_scores_match_brute_force(label_form, exclude):
    images, texts, labels, _ = random_case(
        6,
        num_queries=11,
        num_gallery=11,
        label_form=label_form,
        embedding_kind="integer",
    )
    texts = texts + images  # correlated pairs, still integer-valued
    scores = cross_modal_retrieval_scores(
        images,
        texts,
        labels,
        k_values=(3, 11),
        exclude_query_from_gallery=exclude,
        block_size=4,
    )
    everything = np.concatenate([images, texts])
    everything_labels = np.concatenate([labels, labels])
    own = np.arange(11)
    want = {
        "map_image_to_text": reference_map(images, texts, labels, labels),
        "map_text_to_image": reference_map(texts, images, labels, labels),
        "map_image_to_all": reference_map(
            images,
            everything,
            labels,
            everything_labels,
            excluded=own if exclude else None,
        ),
        "map_text_to_all": reference_map(
            texts,
            everything,
            labels,
            everything_labels,
            excluded=own + 11 if exclude else None,
        ),
    }
    want["map_mean"] = (want["map_image_to_text"] + want["map_text_to_image"]) / 2
    for k in (3, 11):
        want[f"precision@{k}_image_to_text"] = reference_precision(
            images, texts, labels, labels, k
        )
        want[f"precision@{k}_text_to_image"] = reference_precision(
            texts, images, labels, labels, k
        )
    assert scores == pytest.approx(want, abs=1e-12)


# ---------------------------------------------------------------------------
# Input validation.
# ---------------------------------------------------------------------------

_Q = np.ones((3, 2))
_G = np.ones((4, 2))
_QL = np.array([0, 1, 0])
_GL = np.array([0, 1, 1, 0])


def _with_nan():
    x = _Q.copy()
    x[1, 0] = np.nan
    return x


def _with_inf():
    x = _G.copy()
    x[2, 1] = np.inf
    return x


@pytest.mark.parametrize(
    "kwargs,argument",
    [
        ({"query_embeddings": np.ones(3)}, "query_embeddings"),
        ({"gallery_embeddings": np.ones((4, 2, 1))}, "gallery_embeddings"),
        ({"gallery_embeddings": np.ones((4, 3))}, "gallery_embeddings"),
        (
            {"query_embeddings": np.ones((0, 2)), "query_labels": _QL[:0]},
            "query_embeddings",
        ),
        (
            {"gallery_embeddings": np.ones((0, 2)), "gallery_labels": _GL[:0]},
            "gallery_embeddings",
        ),
        ({"query_embeddings": _with_nan()}, "query_embeddings"),
        ({"gallery_embeddings": _with_inf()}, "gallery_embeddings"),
        ({"query_labels": _QL[:2]}, "query_labels"),
        ({"gallery_labels": np.eye(2)[[0, 1, 1, 0, 1]]}, "gallery_labels"),
        ({"query_labels": _QL.astype(float)}, "query_labels"),
        ({"gallery_labels": np.array([[0, 2]] * 4)}, "gallery_labels"),
        ({"query_labels": np.eye(2)[_QL]}, "query_labels"),
        ({"k": 0}, "k"),
        ({"k": 2.5}, "k"),
        ({"k": True}, "k"),
        ({"block_size": 0}, "block_size"),
        ({"exclude_self": True}, "exclude_self"),
    ],
)
def test_invalid_map_inputs_raise(kwargs, argument):
    call = {
        "query_embeddings": _Q,
        "gallery_embeddings": _G,
        "query_labels": _QL,
        "gallery_labels": _GL,
        **kwargs,
    }
    with pytest.raises(InvalidInputError, match=f"`{argument}`"):
        mean_average_precision(**call)


def test_exclude_self_needs_more_than_one_item():
    with pytest.raises(InvalidInputError, match="`exclude_self`"):
        mean_average_precision(_Q[:1], _Q[:1], _QL[:1], _QL[:1], exclude_self=True)


@pytest.mark.parametrize("k", [0, 5])
def test_invalid_precision_k_raises(k):
    with pytest.raises(InvalidInputError, match="`k`"):
        precision_at_k(_Q, _G, _QL, _GL, k=k)


def test_precision_k_past_list_without_the_query_raises():
    # Excluding the query leaves 2 of the 3 items to rank.
    with pytest.raises(InvalidInputError, match="`k`"):
        precision_at_k(_Q, _Q, _QL, _QL, k=3, exclude_self=True)


@pytest.mark.parametrize(
    "kwargs,argument",
    [
        ({"text_embeddings": np.ones((2, 2))}, "text_embeddings"),
        ({"text_embeddings": np.ones((3, 5))}, "text_embeddings"),
        ({"image_embeddings": _with_nan()}, "image_embeddings"),
        ({"labels": _QL[:2]}, "labels"),
        ({"k_values": (1, 0)}, "k_values"),
        ({"k_values": (4,)}, "k_values"),
        ({"k_values": 2}, "k_values"),
        ({"block_size": -1}, "block_size"),
    ],
)
def test_invalid_cross_modal_inputs_raise(kwargs, argument):
    call = {
        "image_embeddings": _Q,
        "text_embeddings": _Q,
        "labels": _QL,
        "k_values": (1,),
        **kwargs,
    }
    with pytest.raises(InvalidInputError, match=f"`{argument}"):
        cross_modal_retrieval_scores(**call)


def test_random_rankings_score_the_share_of_relevant_items():
    # Classes of 10 %, 30 % and 60 % of the items: a random ranking's AP is
    # about the share of relevant items, so MAP is about 0.1² + 0.3² + 0.6².
    labels = np.repeat([0, 1, 2], [100, 300, 600])
    chance = random_ranking_scores(labels, seed=3)
    assert chance["map_image_to_text"] == pytest.approx(0.46, abs=0.02)
    assert chance["map_text_to_image"] == pytest.approx(0.46, abs=0.02)
    assert random_ranking_scores(labels, seed=3) == chance
    table = format_map_table(chance, chance=chance)
    assert "| Task | MAP@all | Random ranking |" in table
