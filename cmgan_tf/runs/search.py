"""Searching a gallery directory: `cmgan-search`."""

import numpy as np

from cmgan_tf.checks import check_choice, check_positive_int
from cmgan_tf.data.collection import Collection, read_collection
from cmgan_tf.data.collection_files import format_bad_items
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.retrieval import ann
from cmgan_tf.retrieval.embedding import embed_modality
from cmgan_tf.retrieval.gallery_dir import (
    ANN_FILE,
    GalleryDirectory,
    config_fingerprint,
)
from cmgan_tf.retrieval.search import top_k_search
from cmgan_tf.runs.model_dir import load_run

BACKENDS = ("exact", "faiss")


def read_queries(*, text=None, image=None, queries=None):
    """The queries of `cmgan-search` as a `Collection`.

    Args:
        text: One caption.
        image: An image file, or a folder or list file of images.
        queries: A caption file (text or `.tsv`, as `--captions` takes).

    Returns:
        A `Collection` of one modality.

    Raises:
        InvalidInputError: Unless exactly one argument is given, or if any
            query is bad (named with its file and line).
    """
    given = [
        (n, v)
        for n, v in (("text", text), ("image", image), ("queries", queries))
        if v is not None
    ]
    if len(given) != 1:
        raise InvalidInputError(
            "Give exactly one of --text, --image or --queries. Received: "
            f"{', '.join('--' + n for n, _ in given) or 'none'}."
        )
    if text is not None:
        if not text.strip():
            raise InvalidInputError("`--text` is empty. Received: --text=''")
        return Collection(["text"], ["--text"], captions=[text])
    collection = (
        read_collection(images=image)
        if image is not None
        else read_collection(captions=queries)
    )
    if collection.bad:
        raise InvalidInputError(f"Bad queries:\n  {format_bad_items(collection.bad)}")
    return collection


def search_gallery(
    model_dir, gallery, queries, *, top_k=10, backend="exact", nprobe=ann.DEFAULT_NPROBE
):
    """Ranks a gallery's items for a collection of queries.

    A query of one modality ranks the gallery's embeddings of the other
    modality when it has them (cross-modal retrieval), else of its own.

    Args:
        model_dir: The run the gallery was embedded with.
        gallery: A gallery directory.
        queries: A `Collection` of one modality (see `read_queries`).
        top_k: Hits per query.
        backend: `"exact"` (`top_k_search`) or `"faiss"` (the gallery's
            approximate index, written by `cmgan-embed --ann`).
        nprobe: faiss lists scanned per query.

    Returns:
        List, per query, of lists of hits, best first: dicts with `id`,
        `score` and the item's `path` and/or `caption`.

    Raises:
        InvalidInputError: For a gallery of another run, a missing index, a
            query that cannot be embedded, or a bad argument.
    """
    top_k = check_positive_int("top_k", top_k)
    check_choice("backend", backend, BACKENDS)
    config, encoder = load_run(model_dir)
    directory = GalleryDirectory(gallery)
    directory.check_run(config_fingerprint(config.to_json()), model_dir)
    (modality,) = queries.modalities
    targets = [m for m in ("image", "text") if m != modality] + [modality]
    target = next(m for m in targets if m in directory.modalities)
    embeddings = np.zeros((len(queries.ids), directory.dim), np.float32)
    embed_modality(encoder, queries, modality, embeddings, verbose=0)
    if backend == "faiss":
        path = directory.path / ANN_FILE.format(modality=target)
        if not path.exists():
            raise InvalidInputError(
                f"The gallery {gallery} has no approximate index of its {target} "
                "embeddings: re-run cmgan-embed with --ann, or search exactly."
            )
        index = ann.load_index(path, nprobe)
        rows, scores = ann.ann_search(index, embeddings, top_k)
    else:
        rows, scores = top_k_search(embeddings, directory.embeddings(target), top_k)
    items = directory.items
    # faiss marks the places it could not fill with row -1.
    return [
        [
            {**items[row], "score": float(score)}
            for row, score in zip(query_rows, query_scores, strict=True)
            if row >= 0
        ]
        for query_rows, query_scores in zip(rows, scores, strict=True)
    ]
