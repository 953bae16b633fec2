"""The training input pipeline: batch layout, epochs, shuffling, errors."""

import numpy as np
import pytest
import tensorflow as tf

from cmgan_tf.data.dataset import PairedSplit
from cmgan_tf.data.pipeline import training_dataset
from cmgan_tf.errors import InvalidInputError

NUM_PAIRS, IMAGE_DIM, TEXT_DIM, NUM_CLASSES = 50, 5, 3, 4


@pytest.fixture
def split():
    """Random pairs whose first image and text feature is the pair's index."""
    rng = np.random.default_rng(0)
    images = rng.normal(size=(NUM_PAIRS, IMAGE_DIM))
    texts = rng.normal(size=(NUM_PAIRS, TEXT_DIM))
    images[:, 0] = texts[:, 0] = np.arange(NUM_PAIRS)
    labels = np.eye(NUM_CLASSES)[rng.integers(0, NUM_CLASSES, NUM_PAIRS)]
    return PairedSplit(images=images, texts=texts, labels=labels)


def _epoch(iterator_source):
    """One pass: the list of batches as NumPy dicts."""
    return [
        {key: value.numpy() for key, value in batch.items()}
        for batch in iterator_source
    ]


def _ids(epoch):
    return [batch["image"][:, 0].astype(int).tolist() for batch in epoch]


def test_element_keys_dtypes_and_static_batch_shape(split):
    dataset = training_dataset(split, 8, seed=0)
    spec = dataset.element_spec
    assert set(spec) == {"image", "text", "labels"}
    assert spec["image"].shape == (8, IMAGE_DIM)
    assert spec["text"].shape == (8, TEXT_DIM)
    assert spec["labels"].shape == (8, NUM_CLASSES)
    for key in spec:
        assert spec[key].dtype == tf.float32, key


def test_batches_per_epoch_drop_the_remainder(split):
    epoch = _epoch(training_dataset(split, 8, seed=0))
    assert len(epoch) == NUM_PAIRS // 8
    assert all(batch["image"].shape == (8, IMAGE_DIM) for batch in epoch)


def test_batch_of_the_whole_split_gives_one_batch(split):
    epoch = _epoch(training_dataset(split, NUM_PAIRS, seed=0))
    assert len(epoch) == 1
    assert sorted(_ids(epoch)[0]) == list(range(NUM_PAIRS))


def test_each_pair_appears_at_most_once_per_epoch_and_stays_whole(split):
    dataset = training_dataset(split, 8, seed=0)
    for _ in range(3):
        epoch = _epoch(dataset)
        ids = np.concatenate(_ids(epoch))
        assert len(ids) == len(set(ids)) == (NUM_PAIRS // 8) * 8
        for batch in epoch:
            rows = batch["image"][:, 0].astype(int)
            # Image, text and labels of a row are one pair, not three shuffles.
            np.testing.assert_array_equal(batch["image"], split.images[rows])
            np.testing.assert_array_equal(batch["text"], split.texts[rows])
            np.testing.assert_array_equal(batch["labels"], split.labels[rows])


def test_order_changes_between_epochs(split):
    dataset = training_dataset(split, 8, seed=0)
    first, second = _ids(_epoch(dataset)), _ids(_epoch(dataset))
    assert first != second
    # The dropped remainder changes too, so no pair is left out for good.
    seen = set(np.concatenate(first)) | set(np.concatenate(second))
    assert len(seen) > (NUM_PAIRS // 8) * 8


def test_order_is_deterministic_for_a_seed(split):
    def two_epochs(seed):
        dataset = training_dataset(split, 8, seed=seed)
        return _ids(_epoch(dataset)), _ids(_epoch(dataset))

    assert two_epochs(3) == two_epochs(3)
    assert two_epochs(3) != two_epochs(4)


def test_batch_larger_than_the_data_is_rejected(split):
    with pytest.raises(InvalidInputError, match="batch_size.*51.*50"):
        training_dataset(split, NUM_PAIRS + 1, seed=0)


def test_batch_not_divisible_by_the_replicas_is_rejected(split):
    with pytest.raises(InvalidInputError, match="batch_size.*9.*replicas.*2"):
        training_dataset(split, 9, seed=0, num_replicas=2)
    assert len(_epoch(training_dataset(split, 8, seed=0, num_replicas=2))) == 6
