"""Brute-force retrieval reference: one Python loop per query.

An explicit sort with the documented tie rule (lower gallery index first) and
explicit sums, shared by the tests of every retrieval metric.
"""

import math

import numpy as np


def _label_set(label):
    label = np.asarray(label)
    if label.ndim == 0:
        return {int(label)}
    return {j for j, value in enumerate(label) if value}


def _cosine(a, b):
    norm_a = math.sqrt(sum(float(x) * float(x) for x in a))
    norm_b = math.sqrt(sum(float(x) * float(x) for x in b))
    if norm_a == 0 or norm_b == 0:
        return 0.0
    return sum(float(x) * float(y) for x, y in zip(a, b, strict=True)) / (
        norm_a * norm_b
    )


def ranked_lists(query, gallery, excluded=None):
    """Each query's gallery rows, most similar first."""
    lists = []
    for i, q in enumerate(query):
        candidates = [
            j for j in range(len(gallery)) if excluded is None or j != excluded[i]
        ]
        candidates.sort(key=lambda j, q=q: (-_cosine(q, gallery[j]), j))
        lists.append(candidates)
    return lists


def ranked_relevance(query, gallery, query_labels, gallery_labels, excluded=None):
    return [
        [
            bool(_label_set(query_labels[i]) & _label_set(gallery_labels[j]))
            for j in candidates
        ]
        for i, candidates in enumerate(ranked_lists(query, gallery, excluded))
    ]


def reference_average_precisions(
    query, gallery, query_labels, gallery_labels, excluded=None
):
    aps = []
    for relevance in ranked_relevance(
        query, gallery, query_labels, gallery_labels, excluded
    ):
        hits, total = 0, 0.0
        for rank, relevant in enumerate(relevance, start=1):
            if relevant:
                hits += 1
                total += hits / rank
        aps.append(total / hits if hits else 0.0)
    return aps


def reference_recall(query, gallery, partners, k, excluded=None):
    lists = ranked_lists(query, gallery, excluded)
    found = [partners[i] in candidates[:k] for i, candidates in enumerate(lists)]
    return sum(found) / len(found)


def reference_interpolated_precision(
    query, gallery, query_labels, gallery_labels, levels, excluded=None
):
    """Mean over queries of max{precision_i : recall_i >= r} at each level r."""
    curve = [0.0] * len(levels)
    lists = ranked_relevance(query, gallery, query_labels, gallery_labels, excluded)
    for relevance in lists:
        num_relevant = sum(relevance)
        if not num_relevant:
            continue
        points, hits = [], 0
        for rank, relevant in enumerate(relevance, start=1):
            hits += relevant
            points.append((hits / num_relevant, hits / rank))
        for j, level in enumerate(levels):
            curve[j] += max(p for r, p in points if r >= level - 1e-12)
    return [value / len(lists) for value in curve]


def reference_map(query, gallery, query_labels, gallery_labels, k=None, excluded=None):
    aps = []
    for relevance in ranked_relevance(
        query, gallery, query_labels, gallery_labels, excluded
    ):
        top = relevance if k is None else relevance[:k]
        hits, total = 0, 0.0
        for rank, relevant in enumerate(top, start=1):
            if relevant:
                hits += 1
                total += hits / rank
        aps.append(total / hits if hits else 0.0)
    return sum(aps) / len(aps)


def reference_precision(query, gallery, query_labels, gallery_labels, k, excluded=None):
    lists = ranked_relevance(query, gallery, query_labels, gallery_labels, excluded)
    return sum(sum(relevance[:k]) / k for relevance in lists) / len(lists)


def random_case(seed, *, num_queries, num_gallery, label_form, embedding_kind):
    """Random embeddings and labels; integer embeddings make many exact ties."""
    rng = np.random.default_rng(seed)
    num_classes, dim = 4, 3
    if embedding_kind == "integer":
        # Values in {-1, 0, 1} over 3 dims: many parallel, duplicated and zero
        # vectors, so equal similarities are common.
        query = rng.integers(-1, 2, size=(num_queries, dim)).astype(np.float64)
        gallery = rng.integers(-1, 2, size=(num_gallery, dim)).astype(np.float64)
    else:
        query = rng.normal(size=(num_queries, dim))
        gallery = rng.normal(size=(num_gallery, dim))
        # Duplicated gallery rows still give exact ties between those rows.
        gallery[1::3] = gallery[0:-1:3][: len(gallery[1::3])]
    if label_form == "ids":
        query_labels = rng.integers(0, num_classes, size=num_queries)
        gallery_labels = rng.integers(0, num_classes, size=num_gallery)
    else:
        # Sparse multi-hot: some rows share nothing, some have no label at all.
        query_labels = (rng.random((num_queries, num_classes)) < 0.3).astype(np.int32)
        gallery_labels = (rng.random((num_gallery, num_classes)) < 0.3).astype(np.int32)
    return query, gallery, query_labels, gallery_labels
