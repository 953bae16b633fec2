"""The retrieval grid: a few queries and their top results, to look at.

Each row is one query and its top `k` results in the other modality, ranked
as evaluation ranks them (`retrieval.metrics.ranked_indices`). A result is
framed green when it shares a label with the query, red when not. Images are
drawn as thumbnails where the split holds pixels; a text is drawn as its
caption where the split holds strings, else (pre-extracted features) as its
id and class name.
"""

import textwrap

import numpy as np

from cmgan_tf.data.dataset import ImageCaptionSplit
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.reports.plots import DIRECTION_LABELS, new_figure
from cmgan_tf.retrieval import metrics

DIRECTIONS = ("image_to_text", "text_to_image")
_RELEVANT, _IRRELEVANT = "#2ca02c", "#d62728"
_CELL_INCHES = 1.4


def choose_queries(num_pairs, *, queries=None, num_queries=6, seed=0):
    """Returns the pair ids the grid shows.

    Args:
        num_pairs: Pairs in the evaluated split.
        queries: Pair ids chosen by the user (ints, or strings of ints as
            a list flag gives them), or `None` to draw
            `num_queries` at random with `seed`. Defaults to `None`.
        num_queries: Queries drawn when `queries` is `None`. Defaults to 6.
        seed: Seed of the draw. Defaults to 0.

    Returns:
        Int array of distinct pair ids, in the order given (or ascending).

    Raises:
        InvalidInputError: if a given id is not an integer in
            `[0, num_pairs)`, or ids repeat.
    """
    if queries is None:
        rng = np.random.default_rng(seed)
        return np.sort(
            rng.choice(num_pairs, min(num_queries, num_pairs), replace=False)
        )
    ids = [_as_int(q) for q in queries]
    bad = [
        q
        for q in ids
        if isinstance(q, bool)
        or not isinstance(q, int | np.integer)
        or not 0 <= q < num_pairs
    ]
    if bad or not ids or len(set(ids)) != len(ids):
        raise InvalidInputError(
            f"`queries` must be distinct pair ids of the test split, integers in "
            f"[0, {num_pairs - 1}]. Received: queries={ids!r}"
            + (f", of which {bad!r} do not exist." if bad else ".")
        )
    return np.array(ids, dtype=np.int64)


def _as_int(value):
    """`int(value)` for a string of an integer, else `value` unchanged."""
    try:
        return int(value) if isinstance(value, str) else value
    except ValueError:
        return value


def retrieval_grid(image_embeddings, text_embeddings, labels, query_ids, *, top_k=5):
    """The top `top_k` results of each query, in both cross-modal directions.

    Args:
        image_embeddings: float array `(num_pairs, dim)`.
        text_embeddings: float array `(num_pairs, dim)`.
        labels: int class ids `(num_pairs,)` or multi-hot
            `(num_pairs, num_classes)`.
        query_ids: int pair ids, from `choose_queries`.
        top_k: Results per query, at most `num_pairs`. Defaults to 5.

    Returns:
        JSON-ready dict from direction (`image_to_text`, `text_to_image`) to
        a list with one dict per query: `query` (its pair id) and `results`,
        a list of `{"id", "relevant"}` dicts, best first; ids index the
        split's pairs.
    """
    images, texts, hot = metrics.check_pairs(image_embeddings, text_embeddings, labels)
    top_k = min(top_k, len(images))
    grid = {}
    for direction, query, gallery in (
        ("image_to_text", images, texts),
        ("text_to_image", texts, images),
    ):
        (order,) = metrics.ranked_indices(
            query[query_ids], gallery, depth=top_k, block_size=len(query_ids)
        )
        relevant = (hot[query_ids][:, None, :] & hot[order]).any(axis=-1)
        grid[direction] = [
            {
                "query": int(q),
                "results": [
                    {"id": int(i), "relevant": bool(r)}
                    for i, r in zip(row, hits, strict=True)
                ],
            }
            for q, row, hits in zip(query_ids, order, relevant, strict=True)
        ]
    return grid


def grid_figure(rows, direction, split, class_names):
    """Draws one direction of a `retrieval_grid`.

    Args:
        rows: `retrieval_grid(...)[direction]`.
        direction: `"image_to_text"` or `"text_to_image"`.
        split: The evaluated `PairedSplit` or `ImageCaptionSplit`.
        class_names: One name per label column.

    Returns:
        A `Figure` of 140 x 140 pixels per cell, `top_k + 1` cells wide and
        one row per query (plus 40 pixels for the title).
    """
    num_columns = 1 + len(rows[0]["results"])
    figure = new_figure(_CELL_INCHES * num_columns, _CELL_INCHES * len(rows) + 0.4)
    figure.suptitle(f"{DIRECTION_LABELS[direction]}: query, then the top results")
    query_modality, result_modality = direction.split("_to_")
    axes = figure.subplots(len(rows), num_columns, squeeze=False)
    for row_axes, row in zip(axes, rows, strict=True):
        _draw_item(row_axes[0], split, query_modality, row["query"], class_names, None)
        row_axes[0].set_ylabel("query", fontsize="small")
        for cell, result in zip(row_axes[1:], row["results"], strict=True):
            _draw_item(
                cell,
                split,
                result_modality,
                result["id"],
                class_names,
                result["relevant"],
            )
    for column, cell in enumerate(axes[0][1:], start=1):
        cell.set_title(f"#{column}", fontsize="small")
    return figure


def _class_text(labels, class_names):
    return ", ".join(class_names[i] for i in np.flatnonzero(labels))


def _draw_item(axes, split, modality, pair_id, class_names, relevant):
    """Draws item `pair_id` of `modality`, framed by relevance (`None`: grey)."""
    raw = isinstance(split, ImageCaptionSplit)
    classes = _class_text(split.labels[pair_id], class_names)
    axes.set_xticks([])
    axes.set_yticks([])
    if raw and modality == "image":
        axes.imshow(split.images[pair_id], interpolation="nearest")
    else:
        body = str(split.texts[pair_id]) if raw else classes
        axes.text(
            0.5,
            0.5,
            textwrap.fill(textwrap.shorten(body, 90), 18),
            ha="center",
            va="center",
            fontsize=7,
            transform=axes.transAxes,
        )
    axes.set_xlabel(
        textwrap.shorten(f"{modality} {pair_id}: {classes}", 26), fontsize=6
    )
    colour = "grey" if relevant is None else (_RELEVANT if relevant else _IRRELEVANT)
    for spine in axes.spines.values():
        spine.set_edgecolor(colour)
        spine.set_linewidth(1 if relevant is None else 4)
