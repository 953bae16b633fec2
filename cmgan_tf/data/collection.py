"""A user's own collection of images and captions, read item by item.

A collection has no labels. Its items come from:

- images: one image file, a folder (searched recursively for PNG, JPEG, GIF
  and BMP files; an item's id is its path relative to the folder), a list
  file (one image path per line, relative to the list file; the id is the
  path as written), or a feature file (`.npy` of `(n, dim)` rows, or `.npz`
  with `features` and optionally `ids`);
- captions: a text file (one caption per line; the id is the line number),
  a `.tsv` file (`id<TAB>caption` per line), or a feature file as above;
- a split of a dataset the project loads (the id is `<split>/<row>`).

Images and captions may come alone or paired. A `.tsv` pairs its captions
with the images by id; a plain caption file or a feature file pairs by order
(line `i` with image `i`, in the folder's sorted order).

Problems with single items (a missing image, an empty or non-UTF-8 caption
line, a non-finite feature row, a duplicate id) are collected as `BadItem`s
naming the file and line, so that the caller can fail with all of them or
skip them (the readers are in `collection_files`); a damaged image is only
found when it is decoded, in the stream (`image_stream`).
"""

import dataclasses

import numpy as np

from cmgan_tf.data.collection_files import (
    FEATURE_SUFFIXES,
    BadItem,
    check_path,
    read_caption_source,
    read_feature_file,
    read_image_source,
)
from cmgan_tf.data.dataset import ImageFileSplit
from cmgan_tf.errors import InvalidInputError


@dataclasses.dataclass
class Collection:
    """Items to embed, one row per item in every field that is not `None`.

    Attributes:
        ids: List of `n` str ids, unique.
        where: List of `n` str, the file and line of each item, for reports.
        image_files: List of `n` image paths to decode, or `None`.
        image_array: `(n, ...)` image features or pixels, or `None`.
        captions: List of `n` captions, or `None`.
        text_array: `(n, dim)` text features, or `None`.
        bad: `BadItem`s found while reading; they are not among the `n`.
    """

    ids: list
    where: list
    image_files: list | None = None
    image_array: np.ndarray | None = None
    captions: list | None = None
    text_array: np.ndarray | None = None
    bad: list = dataclasses.field(default_factory=list)

    @property
    def modalities(self):
        """The modalities the items have, of `("image", "text")`."""
        return tuple(
            m
            for m, present in (
                ("image", self.image_files is not None or self.image_array is not None),
                ("text", self.captions is not None or self.text_array is not None),
            )
            if present
        )

    def metadata(self, row):
        """`{"path": ..., "caption": ...}` of item `row`, for what it has."""
        entry = {}
        if self.image_files is not None:
            entry["path"] = self.image_files[row]
        if self.captions is not None:
            entry["caption"] = self.captions[row]
        return entry

    def select(self, rows):
        """Returns the collection restricted to `rows`, a list of indices."""
        if list(rows) == list(range(len(self.ids))):
            # Indexing would copy a memory-mapped feature file into memory.
            return self

        def pick(values):
            if values is None:
                return None
            if isinstance(values, np.ndarray):
                return values[rows]
            return [values[i] for i in rows]

        return Collection(
            ids=pick(self.ids),
            where=pick(self.where),
            image_files=pick(self.image_files),
            image_array=pick(self.image_array),
            captions=pick(self.captions),
            text_array=pick(self.text_array),
            bad=list(self.bad),
        )


def _without_duplicates(ids, where, bad):
    """Rows to keep: the first of every id; the others are bad items."""
    seen, keep = {}, []
    for row, item_id in enumerate(ids):
        if item_id in seen:
            bad.append(
                BadItem(
                    where[row],
                    f"duplicate id {item_id!r} (first at {where[seen[item_id]]})",
                )
            )
        else:
            seen[item_id] = row
            keep.append(row)
    return keep


def read_collection(images=None, captions=None):
    """Reads a collection from an image source and/or a caption source.

    Args:
        images: A folder, list file or feature file of images (see the module
            docstring), or `None`.
        captions: A text, `.tsv` or feature file of captions, or `None`.

    Returns:
        A `Collection` whose `bad` lists the items that cannot be embedded.

    Raises:
        InvalidInputError: If neither source is given, a source does not
            exist or is malformed as a whole, or paired sources do not match
            (different counts, or ids of one missing in the other).
    """
    if images is None and captions is None:
        raise InvalidInputError("Give --images, --captions or both.")
    parts = {}
    if images is not None:
        path = check_path(images, "images")
        if path.suffix.lower() in FEATURE_SUFFIXES:
            array, ids, where = read_feature_file(path, "images")
            parts["image"] = (ids, where, {"image_array": array}, [], "order")
        else:
            ids, where, files, bad = read_image_source(path)
            pairing = "order" if not path.is_dir() else "sorted"
            parts["image"] = (ids, where, {"image_files": files}, bad, pairing)
    if captions is not None:
        path = check_path(captions, "captions")
        if path.suffix.lower() in FEATURE_SUFFIXES:
            array, ids, where = read_feature_file(path, "captions")
            parts["text"] = (ids, where, {"text_array": array}, [], "order")
        else:
            ids, where, texts, bad = read_caption_source(path)
            pairing = "id" if path.suffix.lower() == ".tsv" else "order"
            parts["text"] = (ids, where, {"captions": texts}, bad, pairing)
    if len(parts) == 1:
        ((ids, where, fields, bad, _),) = parts.values()
        keep = _without_duplicates(ids, where, bad)
        return Collection(ids, where, **fields, bad=bad).select(keep)
    return _paired(parts["image"], parts["text"])


def _paired(image_part, text_part):
    """Joins image and caption items, by id for a `.tsv`, else by order."""
    image_ids, image_where, image_fields, bad, _ = image_part
    text_ids, text_where, text_fields, text_bad, pairing = text_part
    bad = bad + text_bad
    if pairing == "id":
        keep = _without_duplicates(text_ids, text_where, bad)
        by_id = {text_ids[row]: row for row in keep}
        missing = [i for i in image_ids if i not in by_id]
        extra = sorted(set(by_id) - set(image_ids))
        if missing or extra:
            raise InvalidInputError(
                "The captions' ids must be the images' ids. "
                f"Images without a caption: {missing[:5]} ({len(missing)} in all); "
                f"captions without an image: {extra[:5]} ({len(extra)} in all)."
            )
        text_rows = [by_id[i] for i in image_ids]
    else:
        if text_bad:
            raise InvalidInputError(
                "Captions paired by line need every line: "
                + "; ".join(str(b) for b in text_bad[:5])
            )
        if len(text_ids) != len(image_ids):
            raise InvalidInputError(
                f"{len(image_ids)} images but {len(text_ids)} captions; pairing "
                "by order needs as many of each. Give the captions as a .tsv of "
                "`id<TAB>caption` to pair them by id."
            )
        text_rows = list(range(len(text_ids)))
    text = Collection(text_ids, text_where, **text_fields).select(text_rows)
    collection = Collection(
        image_ids,
        image_where,
        **image_fields,
        captions=text.captions,
        text_array=text.text_array,
        bad=bad,
    )
    return collection.select(_without_duplicates(image_ids, image_where, bad))


def collection_from_split(split, split_name):
    """A collection of a dataset split's pairs, ids `<split_name>/<row>`.

    Args:
        split: A `PairedSplit`, `ImageCaptionSplit` or `ImageFileSplit`
            (whose files are then decoded as they are embedded).
        split_name: Its name, such as `"test"`.
    """
    ids = [f"{split_name}/{row}" for row in range(split.num_pairs)]
    raw_texts = not np.issubdtype(np.asarray(split.texts).dtype, np.number)
    files = isinstance(split, ImageFileSplit)
    return Collection(
        ids,
        [f"split {split_name}, row {row}" for row in range(len(ids))],
        image_files=list(split.paths) if files else None,
        image_array=None if files else np.asarray(split.images),
        captions=list(split.texts) if raw_texts else None,
        text_array=None if raw_texts else np.asarray(split.texts),
    )
