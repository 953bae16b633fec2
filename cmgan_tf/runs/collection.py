"""Embedding a user's collection into a gallery directory, and searching it.

`embed_collection` is `cmgan-embed`, `search_gallery` is `cmgan-search`.
"""

import os
import pathlib

import numpy as np
from absl import logging

from cmgan_tf import file_io
from cmgan_tf.checks import check_choice, check_positive_int
from cmgan_tf.data.collection import (
    BadItem,
    Collection,
    collection_from_split,
    read_collection,
)
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.retrieval import ann
from cmgan_tf.retrieval.embedding import embed_modality
from cmgan_tf.retrieval.gallery_dir import (
    MANIFEST_FILE,
    GalleryDirectory,
    config_fingerprint,
    write_gallery,
    write_manifest,
)
from cmgan_tf.retrieval.search import top_k_search
from cmgan_tf.runs.data import load_configured_dataset
from cmgan_tf.runs.model_dir import load_run
from cmgan_tf.serving.signatures import encoder_dim

BAD_ITEM_POLICIES = ("fail", "skip")
SPLITS = ("train", "test")
BACKENDS = ("exact", "faiss")
ANN_FILE = "{modality}_ivf.faiss"
# Bad items named in an error message; the rest are counted.
_REPORTED = 20
# Queries drawn from the gallery to measure an index's recall.
_RECALL_QUERIES = 256


def _report(bad):
    lines = [str(item) for item in bad[:_REPORTED]]
    if len(bad) > _REPORTED:
        lines.append(f"... and {len(bad) - _REPORTED} more")
    return "\n  ".join(lines)


def _previous_gallery(output, fingerprint, model_dir, collection):
    """The gallery at `output` to add to, or `None` for a new one."""
    path = pathlib.Path(output)
    if not path.exists():
        if not path.parent.is_dir():
            raise InvalidInputError(
                f"--output={output}: the parent directory {path.parent} does not exist."
            )
        return None
    if not (path / MANIFEST_FILE).exists():
        raise InvalidInputError(
            f"--output={output} exists and is not a gallery directory. Choose a "
            "new directory, or an existing gallery to add to."
        )
    previous = GalleryDirectory(path)
    previous.check_run(fingerprint, model_dir)
    if set(previous.modalities) != set(collection.modalities):
        raise InvalidInputError(
            f"The gallery {output} holds {' and '.join(previous.modalities)} "
            f"embeddings; the new items have {' and '.join(collection.modalities)}. "
            "Items added to a gallery must have the same modalities."
        )
    return previous


def embed_collection(
    model_dir,
    output,
    *,
    images=None,
    captions=None,
    split=None,
    dataset=None,
    data_dir=None,
    on_bad_item="fail",
    batch_size=64,
    build_ann=False,
    verbose=1,
):
    """Embeds a collection with a run's encoder into a gallery directory.

    A new `output` is created; an existing gallery of the same run gets the
    new items appended. The directory is written beside its place and
    renamed when complete, so a failure leaves it as it was.

    Args:
        model_dir: Directory of a finished training run.
        output: The gallery directory (see `gallery_dir`).
        images: Image folder, list file or feature file, or `None`.
        captions: Caption text, `.tsv` or feature file, or `None`.
        split: `"train"` or `"test"`: embed that split of a dataset instead
            of files.
        dataset: With `split`, the name of a dataset the project loads (see
            `data.registry`); defaults to the run's own.
        data_dir: With `split`, the dataset's location; defaults to the one
            recorded in the run for its own dataset.
        on_bad_item: `"fail"` (raise, naming the bad items) or `"skip"`
            (leave them out and report them).
        batch_size: Items per encoder call.
        build_ann: Also build an approximate (faiss) index per modality.
        verbose: 0 for silence, else progress bars.

    Returns:
        Dict with `path`, `added`, `count` (items in the gallery), `skipped`
        (list of `BadItem`), `seconds` and `items_per_s` per modality and,
        with `build_ann`, `ann_recall_at_10` per modality.

    Raises:
        InvalidInputError: For a bad source, a gallery of another run or
            other modalities, or, with `on_bad_item="fail"`, any bad item.
    """
    check_choice("on_bad_item", on_bad_item, BAD_ITEM_POLICIES)
    batch_size = check_positive_int("batch_size", batch_size)
    if split is not None and (images or captions):
        raise InvalidInputError("Give either --split or --images/--captions, not both.")
    if not file_io.is_local(output):
        raise InvalidInputError(
            f"--output={output} must be a local directory: the embeddings are "
            "memory-mapped files."
        )
    config, encoder = load_run(model_dir)
    fingerprint = config_fingerprint(config.to_json())
    if split is not None:
        check_choice("split", split, SPLITS)
        data = config.data
        if dataset is not None:
            data = config.replace(data={"dataset": dataset, "data_dir": None}).data
        loaded = load_configured_dataset(data, data_dir)
        collection = collection_from_split(getattr(loaded, split), split)
    else:
        collection = read_collection(images, captions)
    previous = _previous_gallery(output, fingerprint, model_dir, collection)
    if previous is not None:
        existing = set(previous.ids)
        clashes = [row for row, i in enumerate(collection.ids) if i in existing]
        collection.bad.extend(
            BadItem(
                collection.where[row],
                f"id {collection.ids[row]!r} is already in the gallery {output}",
            )
            for row in clashes
        )
        collection = collection.select(
            sorted(set(range(len(collection.ids))) - set(clashes))
        )
    if collection.bad and on_bad_item == "fail":
        raise InvalidInputError(
            f"{len(collection.bad)} items cannot be embedded (pass "
            f"--on_bad_item=skip to skip them):\n  {_report(collection.bad)}"
        )
    dim = encoder_dim(encoder)
    result = {"path": str(output), "skipped": list(collection.bad), "seconds": {}}
    with file_io.staged_directory(output, overwrite=previous is not None) as staging:
        staging = pathlib.Path(staging)
        scratch, kept = {}, np.ones(len(collection.ids), bool)
        streamed_bad = {}
        for modality in collection.modalities:
            scratch[modality] = np.lib.format.open_memmap(
                staging / f".scratch_{modality}.npy",
                mode="w+",
                dtype=np.float32,
                shape=(len(collection.ids), dim),
            )
            bad, seconds = embed_modality(
                encoder,
                collection,
                modality,
                scratch[modality],
                batch_size=batch_size,
                fail_fast=on_bad_item == "fail",
                verbose=verbose,
            )
            kept[list(bad)] = False
            # An item bad in both modalities is reported once.
            streamed_bad.update(bad)
            result["seconds"][modality] = seconds
        result["skipped"] += streamed_bad.values()
        rows = np.flatnonzero(kept)
        if previous is None and not len(rows):
            raise InvalidInputError(
                f"No item could be embedded:\n  {_report(result['skipped'])}"
            )
        items = [
            {"id": collection.ids[row], **collection.metadata(row)} for row in rows
        ]
        sources = [] if previous is None else previous.manifest["sources"]
        manifest = write_gallery(
            staging,
            run={"model_dir": os.path.abspath(model_dir), "fingerprint": fingerprint},
            dim=dim,
            previous=previous,
            new_items=items,
            new_embeddings={m: _Rows(a, rows) for m, a in scratch.items()},
            sources=[
                *sources,
                {
                    "images": images and os.path.abspath(images),
                    "captions": captions and os.path.abspath(captions),
                    "split": split,
                    "added": len(items),
                    "skipped": len(result["skipped"]),
                },
            ],
        )
        del scratch
        for modality in collection.modalities:
            os.remove(staging / f".scratch_{modality}.npy")
        if build_ann:
            result["ann_recall_at_10"] = _write_indices(staging, manifest)
    result.update(
        added=len(items),
        count=manifest["count"],
        items_per_s={
            m: len(collection.ids) / max(s, 1e-9) for m, s in result["seconds"].items()
        },
    )
    logging.info("Wrote %s: %d items (%d new).", output, result["count"], len(items))
    return result


class _Rows:
    """A view of chosen rows of an array, sliced lazily, chunk by chunk."""

    def __init__(self, array, rows):
        self.array, self.rows = array, rows

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, index):
        return self.array[self.rows[index]]


def _write_indices(directory, manifest):
    """Builds, measures and writes one faiss index per modality.

    Each index's recall@10 against exact search, on up to 256 gallery items
    of the other modality as queries, goes into the manifest.
    """
    recalls = {}
    gallery = GalleryDirectory(directory)
    rng = np.random.default_rng(0)
    for modality in gallery.modalities:
        embeddings = gallery.embeddings(modality)
        index = ann.build_index(embeddings)
        # Queries of the other modality when there is one: what search sees.
        other = [m for m in gallery.modalities if m != modality] or [modality]
        sample = rng.choice(gallery.count, min(gallery.count, _RECALL_QUERIES), False)
        queries = np.asarray(gallery.embeddings(other[0])[np.sort(sample)])
        recalls[modality] = ann.recall_at_k(index, embeddings, queries, k=10)
        ann.save_index(index, directory / ANN_FILE.format(modality=modality))
    logging.info("faiss recall@10 against exact search: %s", recalls)
    manifest["ann"] = {
        m: {
            "file": ANN_FILE.format(modality=m),
            "nprobe": ann.DEFAULT_NPROBE,
            "recall_at_10": recall,
        }
        for m, recall in recalls.items()
    }
    write_manifest(directory, manifest)
    return recalls


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
        raise InvalidInputError(f"Bad queries:\n  {_report(collection.bad)}")
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
