"""Embedding a user's collection into a gallery directory: `cmgan-embed`."""

import os
import pathlib

import numpy as np
from absl import logging

from cmgan_tf import file_io
from cmgan_tf.checks import check_choice, check_positive_int
from cmgan_tf.data.collection import collection_from_split, read_collection
from cmgan_tf.data.collection_files import BadItem, format_bad_items
from cmgan_tf.data.image_stream import BAD_ITEM_POLICIES
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.retrieval import ann
from cmgan_tf.retrieval.embedding import embed_modality
from cmgan_tf.retrieval.gallery_dir import (
    ANN_FILE,
    MANIFEST_FILE,
    GalleryDirectory,
    config_fingerprint,
    write_gallery,
    write_manifest,
)
from cmgan_tf.runs.data import load_configured_dataset
from cmgan_tf.runs.model_dir import load_run

SPLITS = ("train", "test")
_SCRATCH_FILE = ".scratch_{modality}.npy"
# Queries drawn from the gallery to measure an index's recall.
_RECALL_QUERIES = 256


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
        collection = _without_known_ids(collection, previous)
    if collection.bad and on_bad_item == "fail":
        raise InvalidInputError(
            f"{len(collection.bad)} items cannot be embedded (pass "
            f"--on_bad_item=skip to skip them):\n  {format_bad_items(collection.bad)}"
        )
    dim = encoder.output_dim
    with file_io.staged_directory(output, overwrite=previous is not None) as staging:
        staging = pathlib.Path(staging)
        scratch, streamed_bad, seconds = _embed_into_scratch(
            encoder, collection, staging, dim, batch_size, on_bad_item, verbose
        )
        skipped = collection.bad + list(streamed_bad.values())
        rows = np.setdiff1d(np.arange(len(collection.ids)), list(streamed_bad))
        if previous is None and not len(rows):
            raise InvalidInputError(
                f"No item could be embedded:\n  {format_bad_items(skipped)}"
            )
        items = [
            {"id": collection.ids[row], **collection.metadata(row)} for row in rows
        ]
        source = {
            "images": images and os.path.abspath(images),
            "captions": captions and os.path.abspath(captions),
            "split": split,
            "dataset": dataset,
            "added": len(items),
            "skipped": len(skipped),
        }
        manifest = write_gallery(
            staging,
            run={"model_dir": os.path.abspath(model_dir), "fingerprint": fingerprint},
            dim=dim,
            previous=previous,
            new_items=items,
            new_embeddings={m: _Rows(a, rows) for m, a in scratch.items()},
            sources=[
                *([] if previous is None else previous.manifest["sources"]),
                source,
            ],
        )
        del scratch
        for modality in collection.modalities:
            os.remove(staging / _SCRATCH_FILE.format(modality=modality))
        result = {}
        if build_ann:
            result["ann_recall_at_10"] = _write_indices(staging, manifest)
    result.update(
        path=str(output),
        added=len(items),
        count=manifest["count"],
        skipped=skipped,
        seconds=seconds,
        items_per_s={m: len(collection.ids) / max(t, 1e-9) for m, t in seconds.items()},
    )
    logging.info("Wrote %s: %d items (%d new).", output, result["count"], len(items))
    return result


def _without_known_ids(collection, previous):
    """Moves items whose id the gallery already has to the bad items."""
    existing = set(previous.ids)
    clashes = [row for row, i in enumerate(collection.ids) if i in existing]
    collection.bad.extend(
        BadItem(
            collection.where[row],
            f"id {collection.ids[row]!r} is already in the gallery {previous.path}",
        )
        for row in clashes
    )
    return collection.select(sorted(set(range(len(collection.ids))) - set(clashes)))


def _embed_into_scratch(
    encoder, collection, directory, dim, batch_size, on_bad_item, verbose
):
    """Embeds every modality of a collection into memory-mapped scratch files.

    Returns:
        `(scratch, bad, seconds)`: dict from modality to its `(n, dim)`
        memory map (rows of bad items unset), dict from each row that could
        not be embedded to its `BadItem` (an item bad in both modalities is
        reported once), and dict from modality to the seconds it took.
    """
    scratch, bad, seconds = {}, {}, {}
    for modality in collection.modalities:
        scratch[modality] = np.lib.format.open_memmap(
            directory / _SCRATCH_FILE.format(modality=modality),
            mode="w+",
            dtype=np.float32,
            shape=(len(collection.ids), dim),
        )
        modality_bad, seconds[modality] = embed_modality(
            encoder,
            collection,
            modality,
            scratch[modality],
            batch_size=batch_size,
            fail_fast=on_bad_item == "fail",
            verbose=verbose,
        )
        bad.update(modality_bad)
    return scratch, bad, seconds


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
