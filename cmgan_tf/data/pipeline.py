"""tf.data input pipelines over paired splits: features, pixels or image files.

An `ImageFileSplit` is streamed: its pairs are shuffled as paths and
captions, and each image is read and decoded in `tf.data` (in parallel, a few
batches ahead) only when its batch is formed, so training memory does not
grow with the number of images. A file that does not decode stops training
with an error naming it, or, under `on_bad_item="skip"`, is left out and
counted by `SkippedImages`.
"""

import re

import tensorflow as tf

from cmgan_tf.checks import check_choice
from cmgan_tf.data.dataset import ImageFileSplit
from cmgan_tf.data.image_stream import BAD_ITEM_POLICIES, flag_decoded
from cmgan_tf.errors import InvalidInputError

# Marks the assertion a stream raises on an image that does not decode, so
# that `undecoded_image_error` can tell it from any other error of `fit`.
_UNDECODED = "cmgan_tf: a training image did not decode"
_BATCH_KEYS = ("image", "text", "labels")


class SkippedImages:
    """Counts the training images a stream leaves out because they did not decode.

    The count lives in a `tf.Variable` that the stream updates as it decodes
    (a few batches ahead of training), so it can be read between epochs.
    Create it outside any distribution strategy's scope.

    Attributes:
        count: int64 `tf.Variable`, the images left out so far.
        last_path: string `tf.Variable`, the last of them.
    """

    def __init__(self):
        self.count = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.last_path = tf.Variable("", dtype=tf.string, trainable=False)

    def keep(self, element):
        """`Dataset.filter` predicate: whether `element`'s image decoded.

        Counts the elements it rejects.
        """

        def record():
            with tf.control_dependencies(
                [self.count.assign_add(1), self.last_path.assign(element["path"])]
            ):
                return tf.constant(False)

        return tf.cond(element["decoded"], lambda: tf.constant(True), record)

    def summary(self):
        """A sentence for the log, or `None` while nothing was left out."""
        count = int(self.count.numpy())
        if not count:
            return None
        return (
            f"Left out {count} training images that could not be decoded "
            "(--on_bad_item=skip; once per epoch each, counted as the input "
            "stream decodes, a few batches ahead of training), the last "
            f"{self.last_path.numpy().decode()}."
        )


def undecoded_image_error(error):
    """Turns the error of a stream that met an undecodable image into a clear one.

    Args:
        error: A `tf.errors.InvalidArgumentError` raised while training.

    Returns:
        An `InvalidInputError` naming the file, or `None` if `error` is about
        something else.
    """
    match = re.search(re.escape(_UNDECODED) + r"\] \[(.*?)\]", error.message)
    if match is None:
        return None
    return InvalidInputError(
        f"Could not decode the training image {match.group(1)} as PNG, JPEG, GIF "
        "or BMP; the file is missing or damaged. Replace or remove it, or pass "
        "--on_bad_item=skip to leave such images out."
    )


def _require_decoded(element):
    check = tf.debugging.Assert(element["decoded"], [_UNDECODED, element["path"]])
    with tf.control_dependencies([check]):
        return {key: tf.identity(element[key]) for key in _BATCH_KEYS}


def _check_batch_size(split, batch_size, num_replicas):
    if batch_size > split.num_pairs:
        raise InvalidInputError(
            f"`batch_size` ({batch_size}) exceeds the number of training pairs "
            f"({split.num_pairs}); no full batch can be formed. Use a smaller "
            "--batch_size."
        )
    if batch_size % num_replicas:
        raise InvalidInputError(
            f"`batch_size` ({batch_size}) must be a multiple of the number of "
            f"replicas ({num_replicas}) so that every replica gets an equal share."
        )


def _shuffled_pairs(split, batch_size, seed):
    """One epoch of pairs, shuffled, without the pairs of a last partial batch.

    Every iteration shuffles anew, in an order fixed by `seed` and the
    iteration's number. A file split is shuffled as paths and captions,
    before any image is read.
    """
    if isinstance(split, ImageFileSplit):
        pairs = tf.data.Dataset.from_tensor_slices(
            {"path": split.paths, "text": split.texts, "labels": split.labels}
        )
    else:
        pairs = tf.data.Dataset.from_tensor_slices(
            {"image": split.images, "text": split.texts, "labels": split.labels}
        ).cache()
    return pairs.shuffle(
        split.num_pairs, seed=seed, reshuffle_each_iteration=True
    ).take(split.num_pairs // batch_size * batch_size)


def _batched(pairs, split, batch_size, text_vectorizer, on_bad_item, skipped):
    """Decodes a file split's images; batches, tokenises and prefetches."""
    check_choice("on_bad_item", on_bad_item, BAD_ITEM_POLICIES)
    if isinstance(split, ImageFileSplit):
        pairs = flag_decoded(pairs, split.image_shape[:2])
        if on_bad_item == "skip":
            if skipped is None:
                raise InvalidInputError(
                    'on_bad_item="skip" needs `skipped`, a `SkippedImages` to '
                    "count the images left out."
                )
            pairs = pairs.filter(skipped.keep).map(
                lambda element: {key: element[key] for key in _BATCH_KEYS}
            )
        else:
            pairs = pairs.map(_require_decoded)
    dataset = pairs.batch(batch_size, drop_remainder=True)
    if text_vectorizer is not None:
        dataset = dataset.map(
            lambda batch: {**batch, "text": text_vectorizer(batch["text"])},
            num_parallel_calls=tf.data.AUTOTUNE,
        )
    # Under MultiWorkerMirroredStrategy, Keras splits each global batch into
    # per-replica batches and each worker keeps its replicas' share. Workers
    # do not split the files among themselves, so sharding is by data, stated
    # here rather than left to the AUTO policy to fall back to. Every worker
    # shuffles with the same seed, so the shares of a batch are disjoint and
    # cover it.
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )
    return dataset.prefetch(tf.data.AUTOTUNE).with_options(options)


def training_dataset(
    split,
    batch_size,
    seed,
    *,
    num_replicas=1,
    text_vectorizer=None,
    on_bad_item="fail",
    skipped=None,
):
    """Returns one epoch of shuffled, batched training pairs.

    Batches are dicts ready for `CMGAN.train_step`: `image` `(batch,
    *image_shape)`, `text` `(batch, text_dim)` and `labels` `(batch,
    num_classes)`. Raw pairs keep their uint8 pixels, and their captions are
    turned into `(batch, sequence_length)` token ids here by
    `text_vectorizer`: string operations cannot run inside the XLA-compiled
    training step. The images of an `ImageFileSplit` are read and decoded
    here, as the batches are consumed.
    The last partial batch is dropped so that every step has the same shape
    (XLA compiles once) and every replica the same share; the order changes each
    epoch (each iteration of the dataset), so no pair is left out for good.
    Across workers the dataset is sharded by data: each worker trains on its
    share of every global batch.

    Args:
        split: A `PairedSplit`, `ImageCaptionSplit` or `ImageFileSplit` of
            training pairs.
        batch_size: Global batch size, over all replicas of all workers.
        seed: Shuffling seed.
        num_replicas: Replicas the batch is split over, of all workers; must
            divide `batch_size`. Defaults to 1.
        text_vectorizer: For raw pairs, the adapted
            `keras.layers.TextVectorization` of the text trunk; `None` for
            feature vectors.
        on_bad_item: For an `ImageFileSplit`, what an image that does not
            decode does: `"fail"` stops the stream with an error that
            `undecoded_image_error` names the file from; `"skip"` leaves it
            out (batches then follow on across its place). Defaults to
            `"fail"`.
        skipped: A `SkippedImages` counting what `"skip"` leaves out.

    Returns:
        A `tf.data.Dataset` of dicts.

    Raises:
        InvalidInputError: if a batch does not fit the data or the replicas.
    """
    _check_batch_size(split, batch_size, num_replicas)
    return _batched(
        _shuffled_pairs(split, batch_size, seed),
        split,
        batch_size,
        text_vectorizer,
        on_bad_item,
        skipped,
    )


def training_stream(
    split,
    batch_size,
    seed,
    *,
    initial_epoch=0,
    num_replicas=1,
    text_vectorizer=None,
    on_bad_item="fail",
    skipped=None,
):
    """Returns the endless stream of `training_dataset`'s epochs, from an epoch on.

    Epoch `e` of the stream holds the batches of the `e`-th iteration of
    `training_dataset`, so a run resumed after `initial_epoch` epochs sees the
    same batches as an uninterrupted one. The epochs already done are skipped
    as shuffled pairs, before any image is decoded, so resuming costs no
    image reads. (Under `on_bad_item="skip"` this holds while no image was
    left out: each one left out shifts the later batches by one pair, and a
    resumed run cannot know how many an interrupted one met.)

    Args:
        split: As for `training_dataset`.
        batch_size: As for `training_dataset`.
        seed: As for `training_dataset`.
        initial_epoch: Epochs already trained. Defaults to 0.
        num_replicas: As for `training_dataset`.
        text_vectorizer: As for `training_dataset`.
        on_bad_item: As for `training_dataset`.
        skipped: As for `training_dataset`.

    Returns:
        An endless `tf.data.Dataset` of dicts.
    """
    _check_batch_size(split, batch_size, num_replicas)
    pairs = (
        _shuffled_pairs(split, batch_size, seed)
        .repeat()
        .skip(initial_epoch * (split.num_pairs // batch_size) * batch_size)
    )
    return _batched(pairs, split, batch_size, text_vectorizer, on_bad_item, skipped)
