"""Recall@k, ranking curves and per-class AP against a brute-force reference."""

import numpy as np
import pytest

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.retrieval import cross_modal_retrieval_scores
from cmgan_tf.retrieval.curves import (
    default_k_values,
    precision_at_k_curve,
    precision_recall_curve,
)
from cmgan_tf.retrieval.evaluation import random_embeddings, retrieval_report
from cmgan_tf.retrieval.instance import recall_at_k
from cmgan_tf.retrieval.per_class import per_class_average_precision
from tests.retrieval_reference import (
    _label_set,
    random_case,
    reference_average_precisions,
    reference_interpolated_precision,
    reference_precision,
    reference_recall,
)

CASES = [
    pytest.param(seed, form, kind, id=f"{seed}-{form}-{kind}")
    for seed in (0, 1)
    for form in ("ids", "multi_hot")
    for kind in ("integer", "normal")
]


def _case(seed, label_form, embedding_kind, num_queries=9, num_gallery=17):
    return random_case(
        seed,
        num_queries=num_queries,
        num_gallery=num_gallery,
        label_form=label_form,
        embedding_kind=embedding_kind,
    )


@pytest.mark.parametrize("seed,label_form,embedding_kind", CASES)
def test_recall_matches_brute_force(seed, label_form, embedding_kind):
    query, gallery, _, _ = _case(seed, label_form, embedding_kind)
    partners = np.random.default_rng(seed).integers(0, len(gallery), len(query))
    got = recall_at_k(query, gallery, partners, k_values=(1, 3, 5, 40), block_size=4)
    for k in (1, 3, 5, 40):
        assert got[k] == pytest.approx(reference_recall(query, gallery, partners, k))


@pytest.mark.parametrize("seed,label_form,embedding_kind", CASES)
def test_recall_with_excluded_rows_matches_brute_force(
    seed, label_form, embedding_kind
):
    query, gallery, _, _ = _case(seed, label_form, embedding_kind)
    excluded = np.arange(len(query))
    partners = excluded + 1
    got = recall_at_k(query, gallery, partners, k_values=(1, 4), excluded=excluded)
    for k in (1, 4):
        want = reference_recall(query, gallery, partners, k, excluded=excluded)
        assert got[k] == pytest.approx(want)


def test_recall_by_hand():
    # Query 0 ranks gallery 0 first, query 1 ranks gallery 1 first.
    query = np.array([[1.0, 0.0], [0.0, 1.0]])
    gallery = np.array([[1.0, 0.1], [0.1, 1.0], [1.0, 1.0]])
    got = recall_at_k(query, gallery, np.array([2, 1]), k_values=(1, 2, 3))
    assert got == {1: 0.5, 2: 1.0, 3: 1.0}


@pytest.mark.parametrize("seed,label_form,embedding_kind", CASES)
@pytest.mark.parametrize("exclude_self", [False, True])
def test_precision_recall_curve_matches_brute_force(
    seed, label_form, embedding_kind, exclude_self
):
    query, gallery, query_labels, gallery_labels = _case(
        seed, label_form, embedding_kind, num_gallery=9 if exclude_self else 17
    )
    if exclude_self:
        gallery, gallery_labels = query, query_labels
    recall, precision = precision_recall_curve(
        query,
        gallery,
        query_labels,
        gallery_labels,
        num_levels=11,
        exclude_self=exclude_self,
        block_size=4,
    )
    np.testing.assert_allclose(recall, np.linspace(0, 1, 11))
    want = reference_interpolated_precision(
        query,
        gallery,
        query_labels,
        gallery_labels,
        recall,
        excluded=np.arange(len(query)) if exclude_self else None,
    )
    np.testing.assert_allclose(precision, want, atol=1e-12)
    assert np.all(np.diff(precision) <= 1e-12), "interpolation is non-increasing"


def test_precision_recall_curve_by_hand():
    # One query, relevant items at ranks 2 and 3 of 4: precisions 1/2, 2/3.
    query = np.array([[1.0, 0.0]])
    gallery = np.array([[1.0, 0.0], [1.0, 0.1], [1.0, 0.2], [1.0, 0.3]])
    recall, precision = precision_recall_curve(
        query, gallery, np.array([1]), np.array([0, 1, 1, 0]), num_levels=3
    )
    np.testing.assert_allclose(precision, [2 / 3, 2 / 3, 2 / 3])


@pytest.mark.parametrize("seed,label_form,embedding_kind", CASES)
def test_precision_at_k_curve_matches_brute_force(seed, label_form, embedding_kind):
    query, gallery, query_labels, gallery_labels = _case(
        seed, label_form, embedding_kind
    )
    k, precision = precision_at_k_curve(
        query, gallery, query_labels, gallery_labels, k_values=(17, 1, 5, 5)
    )
    assert k.tolist() == [1, 5, 17]
    want = [
        reference_precision(query, gallery, query_labels, gallery_labels, k=value)
        for value in (1, 5, 17)
    ]
    np.testing.assert_allclose(precision, want, atol=1e-12)


def test_default_k_values_span_the_list():
    k = default_k_values(1999)
    assert k[0] == 1 and k[-1] == 1999
    assert list(k) == sorted(set(k))


@pytest.mark.parametrize("seed,label_form,embedding_kind", CASES)
def test_per_class_average_precision_matches_brute_force(
    seed, label_form, embedding_kind
):
    query, gallery, query_labels, gallery_labels = _case(
        seed, label_form, embedding_kind
    )
    ap, counts = per_class_average_precision(
        query, gallery, query_labels, gallery_labels, block_size=4
    )
    query_aps = reference_average_precisions(
        query, gallery, query_labels, gallery_labels
    )
    classes = (
        sorted(set(np.concatenate([query_labels, gallery_labels]).tolist()))
        if label_form == "ids"
        else list(range(query_labels.shape[1]))
    )
    assert len(ap) == len(classes)
    for column, label in enumerate(classes):
        members = [i for i in range(len(query)) if label in _label_set(query_labels[i])]
        assert counts[column] == len(members)
        if members:
            want = sum(query_aps[i] for i in members) / len(members)
            assert ap[column] == pytest.approx(want, abs=1e-12)
        else:
            assert np.isnan(ap[column])


@pytest.mark.parametrize("label_form", ["ids", "multi_hot"])
@pytest.mark.parametrize("exclude", [False, True])
def test_report_agrees_with_map_and_references(label_form, exclude):
    images, texts, labels, _ = random_case(
        3,
        num_queries=10,
        num_gallery=10,
        label_form=label_form,
        embedding_kind="normal",
    )
    report = retrieval_report(
        images, texts, labels, exclude_query_from_gallery=exclude, num_recall_levels=21
    )
    scores = cross_modal_retrieval_scores(
        images, texts, labels, k_values=(), exclude_query_from_gallery=exclude
    )
    assert set(report) == {
        "image_to_text",
        "text_to_image",
        "image_to_all",
        "text_to_all",
    }
    for direction, values in report.items():
        assert values["map"] == pytest.approx(scores[f"map_{direction}"])
        assert len(values["precision_recall"]["precision"]) == 21
    everything = np.concatenate([images, texts])
    own = np.arange(10) if exclude else None
    assert report["image_to_all"]["recall@5"] == pytest.approx(
        reference_recall(images, everything, np.arange(10) + 10, 5, excluded=own)
    )
    assert report["text_to_image"]["recall@1"] == pytest.approx(
        reference_recall(texts, images, np.arange(10), 1)
    )


def test_area_under_interpolated_curve_is_close_to_map():
    # Texts near their image: a ranking far from random, as a trained model's.
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 300)
    centres = rng.normal(size=(5, 16))
    images = centres[labels] + 0.8 * rng.normal(size=(300, 16))
    texts = centres[labels] + 0.8 * rng.normal(size=(300, 16))
    for embeddings in ((images, texts), random_embeddings(300)):
        report = retrieval_report(*embeddings, labels)
        for values in report.values():
            area = values["precision_recall"]["area"]
            # Interpolation only raises precision, so the area is MAP or a bit more.
            assert values["map"] - 0.01 <= area <= values["map"] + 0.05


@pytest.mark.parametrize(
    "kwargs, argument",
    [
        ({"partners": np.array([0, 5])}, "partners"),
        ({"partners": np.array([0])}, "partners"),
        ({"partners": np.array([0.0, 1.0])}, "partners"),
        ({"excluded": np.array([0, 2])}, "excluded"),
        ({"k_values": (0,)}, "k_values"),
        ({"block_size": 0}, "block_size"),
    ],
)
def test_invalid_recall_inputs_raise(kwargs, argument):
    call = {
        "query_embeddings": np.eye(2),
        "gallery_embeddings": np.eye(3)[:, :2],
        "partners": np.array([0, 2]),
    } | kwargs
    with pytest.raises(InvalidInputError, match=argument):
        recall_at_k(**call)


def test_invalid_curve_inputs_raise():
    emb, labels = np.eye(3), np.arange(3)
    with pytest.raises(InvalidInputError, match="num_levels"):
        precision_recall_curve(emb, emb, labels, labels, num_levels=1)
    with pytest.raises(InvalidInputError, match="k_values"):
        precision_at_k_curve(emb, emb, labels, labels, k_values=(4,))
    with pytest.raises(InvalidInputError, match="query_embeddings"):
        per_class_average_precision(emb[:, :2], emb, labels, labels)
