"""Loads image-caption pairs from a TFDS dataset that is already prepared.

Any TFDS dataset with an image, a caption and a class label per item will do,
e.g. `coco_captions`:

```
image          Image                            the image
captions/text  Sequence of strings              five captions per image
objects/label  Sequence of ClassLabel (80)      the classes of its objects
```

Features are named by their keys, nested keys joined with `/`. What becomes
of them:

- the image feature: an `Image` of uint8 pixels, RGB or grayscale; resized to
  `image_size` x `image_size` (grayscale becomes RGB in `ImageCaptionSplit`).
- the caption feature: a string (`Text`, or a string `Tensor` as in
  `coco_captions`), or a `Sequence` of strings of which the first is kept.
- the label feature: a `ClassLabel` gives single-label data (one-hot); a
  `Sequence` of `ClassLabel` gives multi-label data (multi-hot: the classes
  present, each once), where items are relevant to each other when they share
  a class, as in NUS-WIDE. Class names are the `ClassLabel`'s.

Items with no label (an empty sequence, or an id such as -1 outside the
classes) are dropped and counted in the log: retrieval scores need every item
to have a class. Nothing is downloaded; a dataset that is not prepared in the
data directory is an error that says how to prepare it. Importing this module
also registers the project's `cmgan_shapes` builder.

The training split is streamed, as `image_captions`' is: the first load
copies its images, still encoded, into a cache of files (`cache_dir`, by
default `cmgan_tf_images/` in the TFDS dataset's own directory) with its
captions and labels, and training reads and decodes them as it goes
(`ImageFileSplit`), so memory does not grow with the split. The cache records
what it was copied from (the TFDS name and version, split, keys and the
split's files); a cache of anything else is rebuilt. The test split is
decoded into memory, as evaluation reads it as arrays.
"""

import functools
import hashlib
import io
import operator
import os
import re
import typing

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds
from absl import logging

from cmgan_tf import file_io
from cmgan_tf.data import tfds_shapes  # noqa: F401  (registers `cmgan_shapes`)
from cmgan_tf.data.dataset import (
    CrossModalDataset,
    ImageCaptionSplit,
    ImageFileSplit,
    check_image_size,
    decode_texts,
)
from cmgan_tf.data.image_stream import decode_image
from cmgan_tf.errors import InvalidInputError

# Items are resized one by one before batching, so a batch holds only small
# images; batches just cut the per-item cost of leaving tf.data.
_BATCH_SIZE = 128

# The cache of a training split's image files: a directory per split holding
# `images/`, `pairs.npz` (file names, captions, labels) and the manifest,
# written last, that says what it was copied from.
DEFAULT_CACHE_NAME = "cmgan_tf_images"
CACHE_MANIFEST = "cache.json"
_CACHE_PAIRS = "pairs.npz"
_CACHE_IMAGES = "images"
# Encoded images are copied as they are; the suffix only helps people
# browsing the cache (decoding looks at the bytes).
_IMAGE_SUFFIXES = ((b"\x89PNG", ".png"), (b"\xff\xd8", ".jpg"), (b"GIF8", ".gif"))
_LOG_EVERY = 10000


class _Feature(typing.NamedTuple):
    """A leaf feature of a TFDS dataset.

    Attributes:
        key: Its path joined with `/`, as the `tfds_*_key` fields spell it.
        connector: The `tfds.features.FeatureConnector`.
        path: The keys leading to it in the decoded example's nested dicts.
        depth: How many `Sequence`s wrap it: 1 for `captions/text`.
    """

    key: str
    connector: tfds.features.FeatureConnector
    path: tuple[str, ...]
    depth: int


def _leaf_features(connector, path=(), depth=0):
    """Yields a `_Feature` for every leaf under `connector`."""
    if isinstance(connector, tfds.features.FeaturesDict):
        for name, child in connector.items():
            yield from _leaf_features(child, (*path, name), depth)
    elif isinstance(connector, tfds.features.Sequence):
        yield from _leaf_features(connector.feature, path, depth + 1)
    else:
        yield _Feature("/".join(path), connector, path, depth)


def _describe(leaf):
    name = type(leaf.connector).__name__
    if type(leaf.connector) is tfds.features.Tensor:
        name += f" of {leaf.connector.tf_dtype.name}"
    return "Sequence of " * leaf.depth + name


def _is_image(connector):
    return isinstance(connector, tfds.features.Image)


def _is_string(connector):
    # Text, or a string Tensor as coco_captions' `captions/text` is.
    return (
        isinstance(connector, tfds.features.Tensor)
        and connector.tf_dtype == tf.string
        and connector.shape == ()
    )


def _is_class_label(connector):
    return isinstance(connector, tfds.features.ClassLabel)


def _find_feature(builder, tfds_name, flag, key, accepts, depths, expected):
    """Returns the `_Feature` of `key`, checking its type.

    Args:
        builder: The dataset's builder.
        tfds_name: The dataset's name, for messages.
        flag: The config field naming the key, for messages.
        key: `/`-joined key of a leaf feature.
        accepts: Callable telling whether a leaf connector has the right type.
        depths: Accepted numbers of `Sequence`s around it.
        expected: What is expected, in words.
    """
    leaves = {leaf.key: leaf for leaf in _leaf_features(builder.info.features)}
    if key not in leaves:
        raise InvalidInputError(
            f"TFDS dataset {tfds_name!r} has no feature {key!r} (`{flag}`). "
            f"Available keys: {', '.join(leaves)}."
        )
    leaf = leaves[key]
    if not accepts(leaf.connector) or leaf.depth not in depths:
        raise InvalidInputError(
            f"Feature {key!r} of TFDS dataset {tfds_name!r} (`{flag}`) has type "
            f"{_describe(leaf)}; expected {expected}."
        )
    return leaf


def _open_builder(tfds_name, data_dir):
    """Returns the prepared builder of `tfds_name` in `data_dir`."""
    try:
        builder = tfds.builder(tfds_name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        # TFDS's own message lists every registered dataset, over a thousand.
        raise InvalidInputError(
            f"TFDS dataset {tfds_name!r} is not registered, and no prepared "
            f"copy of it was found in {data_dir or 'the default TFDS data dir'}."
            " Check the spelling (`tfds.list_builders()` lists the registered "
            "names)."
        ) from None
    except ValueError as error:
        # An unknown configuration or version of a registered dataset.
        raise InvalidInputError(
            f"Could not open TFDS dataset {tfds_name!r}: {error}"
        ) from None
    if not builder.is_prepared():
        module = type(builder).__module__
        command = f"tfds build {tfds_name}"
        call = f"tfds.builder({tfds_name!r}).download_and_prepare()"
        if data_dir is not None:
            command += f" --data_dir={os.fspath(data_dir)}"
            call = call.replace(")", f", data_dir={os.fspath(data_dir)!r})", 1)
        if not module.startswith("tensorflow_datasets."):
            command += f" --imports={module}"
            call = f"import {module}; {call}"
        manual = (
            ", with its manually downloaded files in --manual_dir=DIR"
            if builder.MANUAL_DOWNLOAD_INSTRUCTIONS
            else ""
        )
        # Both ways: the `tfds` command line of some TFDS releases needs
        # apache_beam just to start.
        raise InvalidInputError(
            f"TFDS dataset {tfds_name!r} is not prepared: {builder.data_dir} "
            "holds no prepared copy, and cmgan_tf does not download. Prepare "
            f"it first with `{command}`{manual} (or in Python: `{call}`), or "
            "pass the --data_dir where it is prepared."
        )
    return builder


def _check_split(builder, tfds_name, split, flag):
    """Raises unless `split` names a non-empty split of the dataset."""
    try:
        num_examples = builder.info.splits[split].num_examples
    except (KeyError, ValueError):
        raise InvalidInputError(
            f"TFDS dataset {tfds_name!r} has no split {split!r} (`{flag}`). "
            f"Available splits: {', '.join(builder.info.splits)}."
        ) from None
    if num_examples == 0:
        raise InvalidInputError(
            f"Split {split!r} of TFDS dataset {tfds_name!r} (`{flag}`) holds no items."
        )


def _set_path(tree, path, value):
    """Sets `tree[path[0]][path[1]]...` to `value`, making the inner dicts."""
    for name in path[:-1]:
        tree = tree.setdefault(name, {})
    tree[path[-1]] = value


def _decoders(image, caption, label):
    """Decodes the caption and label only (`coco_captions` has more features).

    The image stays the encoded bytes TFDS stores: the cache copies them as
    they are, and the test split decodes them as training streams decode
    files (`decode_image`), so both see the same pixels.
    """
    wanted, skip = {}, {}
    for feature in (image, caption, label):
        _set_path(wanted, feature.path, True)
    _set_path(skip, image.path, tfds.decode.SkipDecoding())
    return tfds.decode.PartialDecoding(wanted, decoders=skip)


def _pairs(builder, split, image, caption, label, prepare_image):
    """Batches of `(images, captions, labels)` of `split`, in TFDS's order.

    `labels` are `(batch, C)` multi-hot; `images` are what `prepare_image`
    makes of each image's encoded bytes.
    """
    num_classes = label.connector.num_classes

    def prepare(example):
        def get(feature):
            return functools.reduce(operator.getitem, feature.path, example)

        text = get(caption)
        if caption.depth:
            # An item without captions gets "", which `decode_texts` rejects
            # by its index.
            text = tf.concat([text, [""]], axis=0)[0]
        # Summed one-hot rows of the ids, capped at 1: multi-hot with each
        # class once, all zeros for no ids or ids outside [0, C) such as -1.
        ids = tf.reshape(get(label), [-1])
        labels = tf.minimum(tf.reduce_sum(tf.one_hot(ids, num_classes), axis=0), 1.0)
        return prepare_image(get(image)), text, labels

    decoders = _decoders(image, caption, label)
    return tfds.as_numpy(
        builder.as_dataset(split=split, shuffle_files=False, decoders=decoders)
        .map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(_BATCH_SIZE)
        .prefetch(tf.data.AUTOTUNE)
    )


def _read_split(builder, split, image, caption, label, image_size):
    """Returns images `(n, s, s, 3)` uint8, captions `(n,)` and labels `(n, C)`."""
    batches = _pairs(
        builder,
        split,
        image,
        caption,
        label,
        lambda contents: decode_image(contents, (image_size, image_size)),
    )
    images, captions, labels = zip(*batches, strict=True)
    return np.concatenate(images), np.concatenate(captions), np.concatenate(labels)


def _where(tfds_name, split):
    """Names a split in messages."""
    return f"TFDS dataset {tfds_name!r}, split {split!r}"


def _labelled_pairs(where, captions, labels, caption_key, label_key):
    """Returns the decoded captions and the mask of the items that have a label.

    Raises:
        InvalidInputError: naming `where`, for a caption that is missing,
            empty or not UTF-8, or if no item has a label.
    """
    try:
        # Checked before dropping unlabelled items, so that an index is the
        # item's position in the split as TFDS reads it.
        captions = decode_texts(captions)
    except InvalidInputError as error:
        raise InvalidInputError(f"{where}, {caption_key!r}: {error}") from None
    labelled = labels.any(axis=1)
    if not labelled.any():
        raise InvalidInputError(
            f"{where}: none of its {len(labels)} items has a label in {label_key!r}."
        )
    if not labelled.all():
        logging.info(
            "%s: dropped %d of %d items that have no label in %r.",
            where,
            int((~labelled).sum()),
            len(labels),
            label_key,
        )
    return captions, labelled


def _load_split(builder, tfds_name, split, image, caption, label, image_size):
    """Returns one split as an `ImageCaptionSplit` of its labelled items."""
    images, captions, labels = _read_split(
        builder, split, image, caption, label, image_size
    )
    where = _where(tfds_name, split)
    captions, labelled = _labelled_pairs(
        where, captions, labels, caption.key, label.key
    )
    try:
        return ImageCaptionSplit(
            images[labelled],
            [text for text, keep in zip(captions, labelled, strict=True) if keep],
            labels[labelled],
        )
    except InvalidInputError as error:
        raise InvalidInputError(f"{where}: {error}") from None


def _cache_source(builder, split, image, caption, label):
    """What a split's cache is copied from: a cache of anything else is stale.

    A dataset prepared again (another version, other files) or read with
    other keys gives another source.
    """
    info = builder.info.splits[split]
    files = []
    for instruction in info.file_instructions:
        files.append(
            [
                os.path.basename(instruction.filename),
                instruction.skip,
                instruction.take,
                tf.io.gfile.stat(instruction.filename).length,
            ]
        )
    return {
        "tfds": builder.info.full_name,
        "split": split,
        "keys": [image.key, caption.key, label.key],
        "num_examples": int(info.num_examples),
        "files": files,
    }


def _cache_path(cache_dir, builder, split):
    """The directory of `split`'s cache: readable, and unique for each split."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{builder.info.full_name}_{split}")
    digest = hashlib.sha1(split.encode("utf-8")).hexdigest()[:8]
    return file_io.join(cache_dir, f"{readable}-{digest}")


def _read_cache(directory, source):
    """Returns the cache's `(paths, captions, labels)`, or `None` if stale."""
    manifest = file_io.join(directory, CACHE_MANIFEST)
    if not file_io.exists(manifest):
        return None
    try:
        found = file_io.read_json(manifest)
        with tf.io.gfile.GFile(file_io.join(directory, _CACHE_PAIRS), "rb") as handle:
            pairs = np.load(io.BytesIO(handle.read()))
            names, captions, labels = pairs["names"], pairs["captions"], pairs["labels"]
    except (ValueError, KeyError, OSError, tf.errors.OpError) as error:
        logging.warning(
            "The image cache %s is damaged (%s); rebuilding it.", directory, error
        )
        return None
    if found.get("source") != source:
        logging.warning(
            "The image cache %s was copied from %s, not from %s; rebuilding it.",
            directory,
            found.get("source"),
            source,
        )
        return None
    return _cached_pairs(directory, names, captions, labels)


def _cached_pairs(directory, names, captions, labels):
    """`(paths, captions, labels)` of a cache's pairs, labels float32."""
    images = file_io.join(directory, _CACHE_IMAGES)
    paths = [file_io.join(images, name) for name in names]
    return paths, captions, labels.astype(np.float32)


def _write_cache(builder, tfds_name, split, image, caption, label, directory, source):
    """Copies the labelled items of `split` into a new cache at `directory`.

    Returns:
        The cache's `(paths, captions, labels)`, as `_read_cache` reads them.
    """
    where = _where(tfds_name, split)
    logging.info(
        "Copying the %d images of %s into the image cache %s (once).",
        source["num_examples"],
        where,
        directory,
    )
    file_io.make_directory(
        os.path.dirname(directory), "TFDS image cache directory (--tfds_cache_dir)"
    )
    with file_io.staged_directory(directory, overwrite=True) as staging:
        images = file_io.join(staging, _CACHE_IMAGES)
        tf.io.gfile.makedirs(images)
        names, captions, labels = [], [], []
        batches = _pairs(builder, split, image, caption, label, tf.identity)
        for encoded, texts, rows in batches:
            for contents in encoded:
                suffix = next(
                    (s for magic, s in _IMAGE_SUFFIXES if contents.startswith(magic)),
                    ".img",
                )
                names.append(f"{len(names):09d}{suffix}")
                with tf.io.gfile.GFile(file_io.join(images, names[-1]), "wb") as handle:
                    handle.write(contents)
                if len(names) % _LOG_EVERY == 0:
                    logging.info("Copied %d images of %s.", len(names), where)
            captions.append(texts)
            labels.append(rows)
        captions, labels = np.concatenate(captions), np.concatenate(labels)
        captions, labelled = _labelled_pairs(
            where, captions, labels, caption.key, label.key
        )
        pairs = {
            "names": np.asarray(names)[labelled],
            "captions": np.asarray(captions, dtype=str)[labelled],
            "labels": labels[labelled].astype(np.uint8),
        }
        buffer = io.BytesIO()
        np.savez(buffer, **pairs)
        with tf.io.gfile.GFile(file_io.join(staging, _CACHE_PAIRS), "wb") as handle:
            handle.write(buffer.getvalue())
        # Last: a cache without its manifest is not used.
        file_io.write_json_atomically(
            file_io.join(staging, CACHE_MANIFEST),
            {"source": source, "num_pairs": int(labelled.sum())},
        )
    return _cached_pairs(directory, **pairs)


def _file_split(
    builder, tfds_name, split, image, caption, label, image_size, cache_dir
):
    """Returns `split` as an `ImageFileSplit` over its image cache, built if needed."""
    source = _cache_source(builder, split, image, caption, label)
    directory = _cache_path(cache_dir, builder, split)
    cached = _read_cache(directory, source)
    if cached is None:
        cached = _write_cache(
            builder, tfds_name, split, image, caption, label, directory, source
        )
    paths, captions, labels = cached
    try:
        return ImageFileSplit(paths, captions, labels, image_size)
    except InvalidInputError as error:
        raise InvalidInputError(f"{_where(tfds_name, split)}: {error}") from None


def load_tfds_captions(
    data_dir=None,
    *,
    tfds_name,
    image_size=64,
    image_key="image",
    caption_key="caption",
    label_key="label",
    train_split="train",
    test_split="test",
    cache_dir=None,
):
    """Loads two splits of a prepared TFDS dataset as image-caption pairs.

    See the module docstring for which features are accepted and how they
    are turned into images, captions and labels. The training split is
    streamed from a cache of its image files, copied on the first load; the
    test split is decoded into NumPy arrays in memory (`coco_captions`' 5000
    test images take 60 MB at `image_size=64`).

    Args:
        data_dir: TFDS data directory the dataset was prepared in. Defaults to
            None, TFDS's default (`~/tensorflow_datasets`, or
            `$TFDS_DATA_DIR`).
        tfds_name: TFDS name, with a configuration or version if needed, e.g.
            `"coco_captions"` or `"cmgan_shapes/small"`.
        image_size: Side the images are resized to. Defaults to 64.
        image_key: Key of the `Image` feature. Defaults to `"image"`.
        caption_key: Key of the string feature, or of a `Sequence` of
            strings whose first caption is kept, e.g. `"captions/text"`.
            Defaults to `"caption"`.
        label_key: Key of the `ClassLabel` feature (single-label data), or of
            a `Sequence` of `ClassLabel` (multi-label data), e.g.
            `"objects/label"`. Defaults to `"label"`.
        train_split: TFDS split to train on; slices such as `"train[:10%]"`
            work. Defaults to `"train"`.
        test_split: TFDS split to evaluate on. Defaults to `"test"`.
        cache_dir: Directory of the training split's image cache. Defaults to
            None, `cmgan_tf_images/` in the dataset's TFDS directory.

    Returns:
        A `CrossModalDataset` named `tfds_name`: an `ImageFileSplit` to train
        on (images decoded to `(image_size, image_size, 3)` uint8 as they
        are read) and an `ImageCaptionSplit` to test on, with captions `(n,)`
        and labels `(n, num_classes)`.

    Raises:
        InvalidInputError: for a TFDS name that is not registered, a dataset
            that is not prepared in `data_dir`, a missing split or feature key
            (the message lists those there are), a feature of the wrong type,
            a missing, empty or non-UTF-8 caption (named by its index in the
            split), a split left with no labelled item, or a cache directory
            that cannot be written.

    Example:
    >>> data = load_tfds_captions(
    ...     "/data/tensorflow_datasets",
    ...     tfds_name="coco_captions",
    ...     caption_key="captions/text",
    ...     label_key="objects/label",
    ... )  # doctest: +SKIP
    >>> data.multi_label, data.num_classes  # doctest: +SKIP
    (True, 80)
    """
    check_image_size(image_size)
    builder = _open_builder(tfds_name, data_dir)
    find = functools.partial(_find_feature, builder, tfds_name)
    image = find("tfds_image_key", image_key, _is_image, (0,), "Image")
    caption = find(
        "tfds_caption_key",
        caption_key,
        _is_string,
        (0, 1),
        "a string (Text or string Tensor) or a Sequence of strings",
    )
    label = find(
        "tfds_label_key",
        label_key,
        _is_class_label,
        (0, 1),
        "ClassLabel or Sequence of ClassLabel",
    )
    if image.connector.np_dtype != np.uint8:
        raise InvalidInputError(
            f"Feature {image_key!r} of TFDS dataset {tfds_name!r} holds "
            f"{image.connector.np_dtype} pixels; expected uint8 images."
        )
    splits = {"train": train_split, "test": test_split}
    for role, split in splits.items():
        _check_split(builder, tfds_name, split, f"tfds_{role}_split")
    if cache_dir is None:
        cache_dir = file_io.join(builder.data_dir, DEFAULT_CACHE_NAME)
    train = _file_split(
        builder, tfds_name, train_split, image, caption, label, image_size, cache_dir
    )
    test = _load_split(
        builder, tfds_name, test_split, image, caption, label, image_size
    )
    return CrossModalDataset(
        tfds_name,
        train,
        test,
        multi_label=label.depth == 1,
        class_names=tuple(label.connector.names),
    )
