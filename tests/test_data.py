"""Tests for cmgan_tf.data: the dataset types, the three loaders, the registry
and train / validation splits. Every file is written here in its real format,
so nothing depends on the network or on files outside the repository."""

import numpy as np
import pytest
import scipy.io

from cmgan_tf.data import (
    DATASETS,
    WIKIPEDIA_CLASS_NAMES,
    CrossModalDataset,
    ImageCaptionSplit,
    ImageFileSplit,
    PairedSplit,
    dataset_names,
    labels_from_class_ids,
    labels_from_multi_hot,
    load_dataset,
    load_dscmr_mat,
    load_npz,
    load_wikipedia_classic,
    train_validation_split,
)
from cmgan_tf.data.splits import concatenate_splits
from cmgan_tf.errors import InvalidInputError

DSCMR_STEMS = (
    "train_img",
    "train_txt",
    "train_img_lab",
    "test_img",
    "test_txt",
    "test_img_lab",
)


def _features(rng, n, dim):
    return rng.normal(size=(n, dim))


def _write_dscmr(directory, *, train_labels, test_labels, image_dim=6, text_dim=4):
    """Writes the six DSCMR files, one variable named after each file."""
    rng = np.random.default_rng(0)
    n_train, n_test = len(train_labels), len(test_labels)
    arrays = {
        "train_img": _features(rng, n_train, image_dim),
        "train_txt": _features(rng, n_train, text_dim).astype(np.float32),
        "train_img_lab": train_labels,
        "test_img": _features(rng, n_test, image_dim),
        "test_txt": _features(rng, n_test, text_dim).astype(np.float32),
        "test_img_lab": test_labels,
    }
    directory.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        scipy.io.savemat(directory / f"{stem}.mat", {stem: array})
    return arrays


def _npz_arrays(train_labels, test_labels, image_dim=5, text_dim=3):
    rng = np.random.default_rng(1)
    return {
        "train_images": _features(rng, len(train_labels), image_dim),
        "train_texts": _features(rng, len(train_labels), text_dim),
        "train_labels": np.asarray(train_labels),
        "test_images": _features(rng, len(test_labels), image_dim),
        "test_texts": _features(rng, len(test_labels), text_dim),
        "test_labels": np.asarray(test_labels),
    }


def _wikipedia_arrays(n_train=12, n_test=5):
    rng = np.random.default_rng(2)
    return {
        "I_tr": _features(rng, n_train, 128),
        "T_tr": _features(rng, n_train, 10),
        "L_tr": (np.arange(n_train) % 10 + 1).astype(np.uint8)[:, None],
        "I_te": _features(rng, n_test, 128),
        "T_te": _features(rng, n_test, 10),
        "L_te": (np.arange(n_test) % 10 + 1).astype(np.uint8)[:, None],
    }


def _split(class_ids, num_classes=None, dim=3):
    class_ids = np.asarray(class_ids)
    num_classes = num_classes or int(class_ids.max()) + 1
    n = class_ids.size
    # Row i's features encode i, so a subset can be traced back to its rows.
    images = np.repeat(np.arange(n, dtype=np.float64)[:, None], dim, axis=1)
    return PairedSplit(
        images, images[:, :2], labels_from_class_ids(class_ids, num_classes)
    )


def _rows(split):
    return split.images[:, 0].astype(int)


# The packaged Wikipedia features.


def test_packaged_wikipedia_has_documented_shapes():
    data = load_wikipedia_classic()
    assert data.name == "wikipedia_classic"
    assert data.train.images.shape == (2173, 128)
    assert data.train.texts.shape == (2173, 10)
    assert data.train.labels.shape == (2173, 10)
    assert data.test.images.shape == (693, 128)
    assert data.test.texts.shape == (693, 10)
    assert data.num_classes == 10
    assert not data.multi_label
    assert data.class_names == WIKIPEDIA_CLASS_NAMES
    assert data.class_names[0] == "art" and data.class_names[-1] == "warfare"
    for split in (data.train, data.test):
        assert split.images.dtype == np.float32
        np.testing.assert_array_equal(split.labels.sum(axis=1), 1.0)
    # Every class occurs in both splits.
    assert (data.train.labels.sum(axis=0) > 0).all()
    assert (data.test.labels.sum(axis=0) > 0).all()


def test_registry_loads_packaged_wikipedia_without_data_dir():
    data = load_dataset("wikipedia_classic")
    assert data.train.num_pairs == 2173 and data.test.num_pairs == 693


@pytest.mark.parametrize("subdirectory", [True, False])
def test_wikipedia_data_dir_variants(tmp_path, subdirectory):
    arrays = _wikipedia_arrays()
    folder = tmp_path / "wikipedia_classic" if subdirectory else tmp_path
    folder.mkdir(exist_ok=True)
    scipy.io.savemat(folder / "wikiData.mat", arrays)
    data = load_dataset("wikipedia_classic", tmp_path)
    assert data.train.num_pairs == 12 and data.test.num_pairs == 5
    # MATLAB ids 1..10 become one-hot columns 0..9.
    np.testing.assert_array_equal(
        data.train.labels.argmax(axis=1), arrays["L_tr"].ravel() - 1
    )
    np.testing.assert_allclose(data.train.images, arrays["I_tr"].astype(np.float32))


def test_wikipedia_missing_file_lists_paths_tried(tmp_path):
    with pytest.raises(InvalidInputError, match="not found") as error:
        load_wikipedia_classic(tmp_path)
    message = str(error.value)
    assert str(tmp_path / "wikipedia_classic" / "wikiData.mat") in message
    assert str(tmp_path / "wikiData.mat") in message


def test_wikipedia_missing_data_dir(tmp_path):
    with pytest.raises(InvalidInputError, match="directory not found") as error:
        load_wikipedia_classic(tmp_path / "nowhere")
    assert "nowhere" in str(error.value)


@pytest.mark.parametrize("bad_id", [0, 11])
def test_wikipedia_label_out_of_range(tmp_path, bad_id):
    arrays = _wikipedia_arrays()
    arrays["L_te"][2] = bad_id
    scipy.io.savemat(tmp_path / "wikiData.mat", arrays)
    with pytest.raises(InvalidInputError) as error:
        load_wikipedia_classic(tmp_path)
    message = str(error.value)
    assert "wikiData.mat" in message and "test labels" in message
    assert "[1, 10]" in message and f"{bad_id}" in message


# The DSCMR layout.


def test_dscmr_round_trip_with_class_ids(tmp_path):
    # As DSCMR ships them: (n, 1) int ids from 0.
    train_ids = np.array([[0], [1], [2], [3], [1], [0]])
    test_ids = np.array([[3], [2], [0]])
    arrays = _write_dscmr(tmp_path, train_labels=train_ids, test_labels=test_ids)
    data = load_dataset("dscmr_mat", tmp_path)
    assert data.name == "dscmr_mat"
    assert not data.multi_label
    assert (data.image_dim, data.text_dim, data.num_classes) == (6, 4, 4)
    np.testing.assert_array_equal(data.train.labels, np.eye(4)[train_ids.ravel()])
    np.testing.assert_array_equal(data.test.labels, np.eye(4)[test_ids.ravel()])
    np.testing.assert_allclose(data.test.images, arrays["test_img"].astype(np.float32))
    np.testing.assert_allclose(data.train.texts, arrays["train_txt"])


def test_dscmr_infers_classes_over_both_splits(tmp_path):
    # Test lacks class 3; it must still get 4 label columns, as train does.
    _write_dscmr(
        tmp_path,
        train_labels=np.array([[0], [1], [2], [3]]),
        test_labels=np.array([[0], [1]]),
    )
    data = load_dscmr_mat(tmp_path)
    assert data.test.labels.shape == (2, 4)


def test_dscmr_round_trip_with_one_hot_and_multi_hot_labels(tmp_path):
    one_hot = np.eye(3)[[0, 1, 2, 1]]
    _write_dscmr(tmp_path / "one", train_labels=one_hot, test_labels=one_hot[:2])
    data = load_dscmr_mat(tmp_path / "one")
    assert not data.multi_label
    np.testing.assert_array_equal(data.train.labels, one_hot)

    multi_hot = np.array([[1, 1, 0], [0, 1, 0], [0, 0, 1]], dtype=np.uint8)
    _write_dscmr(tmp_path / "multi", train_labels=multi_hot, test_labels=multi_hot)
    data = load_dscmr_mat(tmp_path / "multi")
    assert data.multi_label
    np.testing.assert_array_equal(data.test.labels, multi_hot)


def test_dscmr_row_vector_of_ids(tmp_path):
    # MATLAB saves a 1-D vector as one row.
    _write_dscmr(
        tmp_path, train_labels=np.array([0, 1, 1]), test_labels=np.array([1, 0])
    )
    data = load_dscmr_mat(tmp_path)
    np.testing.assert_array_equal(data.train.labels.argmax(axis=1), [0, 1, 1])


def test_dscmr_missing_files_are_all_listed(tmp_path):
    _write_dscmr(
        tmp_path, train_labels=np.array([[0], [1]]), test_labels=np.array([[1]])
    )
    (tmp_path / "test_txt.mat").unlink()
    (tmp_path / "train_img_lab.mat").unlink()
    with pytest.raises(InvalidInputError, match="not found") as error:
        load_dscmr_mat(tmp_path)
    message = str(error.value)
    assert str(tmp_path / "test_txt.mat") in message
    assert str(tmp_path / "train_img_lab.mat") in message
    assert "train_img.mat," not in message


def test_dscmr_needs_data_dir():
    with pytest.raises(InvalidInputError, match="needs `data_dir`") as error:
        load_dataset("dscmr_mat")
    assert "train_img.mat" in str(error.value)
    with pytest.raises(InvalidInputError, match="needs `data_dir`"):
        load_dscmr_mat(None)


def test_dscmr_corrupt_file(tmp_path):
    _write_dscmr(
        tmp_path, train_labels=np.array([[0], [1]]), test_labels=np.array([[1]])
    )
    (tmp_path / "test_img.mat").write_bytes(b"\x00garbage, not MATLAB\xff" * 20)
    with pytest.raises(InvalidInputError, match="Could not read") as error:
        load_dscmr_mat(tmp_path)
    assert "test_img.mat" in str(error.value)
    assert error.value.__cause__ is not None


def test_dscmr_wrong_key(tmp_path):
    _write_dscmr(
        tmp_path, train_labels=np.array([[0], [1]]), test_labels=np.array([[1]])
    )
    scipy.io.savemat(tmp_path / "train_txt.mat", {"text": np.ones((2, 4))})
    with pytest.raises(InvalidInputError, match="lacks the keys") as error:
        load_dscmr_mat(tmp_path)
    message = str(error.value)
    assert "train_txt.mat" in message
    assert "Expected keys ['train_txt']" in message and "found ['text']" in message


def test_dscmr_mismatched_counts(tmp_path):
    _write_dscmr(
        tmp_path, train_labels=np.array([[0], [1], [1]]), test_labels=np.array([[1]])
    )
    scipy.io.savemat(tmp_path / "train_txt.mat", {"train_txt": np.ones((2, 4))})
    with pytest.raises(InvalidInputError, match="one row per pair") as error:
        load_dscmr_mat(tmp_path)
    message = str(error.value)
    assert "train split" in message and "3 images, 2 texts and 3 labels" in message


def test_dscmr_negative_id_is_out_of_range(tmp_path):
    _write_dscmr(
        tmp_path, train_labels=np.array([[0], [-1]]), test_labels=np.array([[1]])
    )
    with pytest.raises(InvalidInputError, match=r"must lie in \[0, 1\]") as error:
        load_dscmr_mat(tmp_path)
    assert "min -1" in str(error.value)


def test_a_damaged_v73_mat_file_is_refused_by_name(tmp_path):
    # MATLAB v7.3 files are HDF5 containers; their header names the version.
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64".ljust(116) + bytes(8)
    (tmp_path / "wikiData.mat").write_bytes(header + b"\x00\x02IM" + bytes(512))
    with pytest.raises(InvalidInputError, match="Could not read") as error:
        load_wikipedia_classic(tmp_path)
    assert "wikiData.mat" in str(error.value)


# The npz layout.


def test_npz_round_trip_single_label(tmp_path):
    arrays = _npz_arrays([0, 2, 1, 2], [1, 0])
    path = tmp_path / "toy.npz"
    np.savez(path, class_names=np.array(["cat", "dog", "eel"]), **arrays)
    data = load_npz(path)
    assert data.name == "toy"
    assert not data.multi_label
    assert data.class_names == ("cat", "dog", "eel")
    assert (data.image_dim, data.text_dim, data.num_classes) == (5, 3, 3)
    np.testing.assert_array_equal(data.train.labels.argmax(axis=1), [0, 2, 1, 2])
    np.testing.assert_allclose(data.test.texts, arrays["test_texts"].astype(np.float32))


def test_npz_round_trip_multi_label(tmp_path):
    labels = np.array([[1, 0, 1, 0], [0, 1, 0, 0], [0, 0, 1, 1]])
    np.savez(tmp_path / "features.npz", **_npz_arrays(labels, labels[:2]))
    # A directory is read through its features.npz.
    data = load_dataset("npz", tmp_path)
    assert data.multi_label
    assert data.class_names is None
    np.testing.assert_array_equal(data.train.labels, labels)


def test_npz_class_names_fix_the_number_of_classes(tmp_path):
    path = tmp_path / "few.npz"
    np.savez(
        path, class_names=np.array(["a", "b", "c", "d"]), **_npz_arrays([0, 1], [1])
    )
    assert load_dataset("npz", path).num_classes == 4
    np.savez(path, class_names=np.array(["a", "b"]), **_npz_arrays([0, 2], [1]))
    with pytest.raises(InvalidInputError, match=r"must lie in \[0, 1\]"):
        load_npz(path)


def test_npz_missing_file(tmp_path):
    with pytest.raises(InvalidInputError, match="not found") as error:
        load_dataset("npz", tmp_path / "absent.npz")
    assert "absent.npz" in str(error.value)
    with pytest.raises(InvalidInputError, match="features.npz"):
        load_dataset("npz", tmp_path)
    with pytest.raises(InvalidInputError, match="needs `data_dir`"):
        load_dataset("npz")


@pytest.mark.parametrize(
    "payload", [b"\x00garbage bytes\xff" * 10, b"", b"PK\x03\x04 truncated zip"]
)
def test_npz_corrupt_file(tmp_path, payload):
    path = tmp_path / "broken.npz"
    path.write_bytes(payload)
    with pytest.raises(InvalidInputError, match="Could not read") as error:
        load_npz(path)
    assert "broken.npz" in str(error.value) and "npz" in str(error.value)
    assert error.value.__cause__ is not None


def test_npy_instead_of_npz(tmp_path):
    path = tmp_path / "single.npy"
    np.save(path, np.ones(3))
    with pytest.raises(InvalidInputError, match="not a .npz archive"):
        load_npz(path)


def test_npz_wrong_keys(tmp_path):
    arrays = _npz_arrays([0, 1], [1])
    arrays["train_image"] = arrays.pop("train_images")
    path = tmp_path / "keys.npz"
    np.savez(path, **arrays)
    with pytest.raises(InvalidInputError, match="lacks the keys") as error:
        load_npz(path)
    message = str(error.value)
    assert "keys.npz" in message and "['train_images']" in message
    assert "train_image'" in message and "test_labels" in message


def test_npz_mismatched_counts(tmp_path):
    arrays = _npz_arrays([0, 1, 1], [1, 0])
    arrays["test_texts"] = arrays["test_texts"][:1]
    path = tmp_path / "counts.npz"
    np.savez(path, **arrays)
    with pytest.raises(InvalidInputError, match="one row per pair") as error:
        load_npz(path)
    message = str(error.value)
    assert "counts.npz" in message and "test split" in message
    assert "2 images, 1 texts and 2 labels" in message


@pytest.mark.parametrize(
    ("value", "word"), [(np.nan, "2 NaN and 0 Inf"), (np.inf, "0 NaN and 2 Inf")]
)
def test_npz_non_finite_features(tmp_path, value, word):
    arrays = _npz_arrays([0, 1, 1, 0], [1])
    arrays["train_texts"][2, 1] = value
    arrays["train_texts"][3, 0] = -value
    path = tmp_path / "finite.npz"
    np.savez(path, **arrays)
    with pytest.raises(InvalidInputError) as error:
        load_npz(path)
    message = str(error.value)
    assert "finite.npz" in message and "train split" in message
    assert "`texts`" in message and word in message and "row 2" in message


def test_npz_labels_not_binary(tmp_path):
    arrays = _npz_arrays(np.array([[1, 0], [0, 2]]), np.array([[1, 0]]))
    path = tmp_path / "binary.npz"
    np.savez(path, **arrays)
    with pytest.raises(InvalidInputError, match="only 0 and 1") as error:
        load_npz(path)
    assert "train labels" in str(error.value) and "row 1" in str(error.value)


def test_npz_non_numeric_array(tmp_path):
    arrays = _npz_arrays([0, 1], [1])
    arrays["train_images"] = np.array([["a", "b"], ["c", "d"]])
    path = tmp_path / "text.npz"
    np.savez(path, **arrays)
    with pytest.raises(InvalidInputError, match="must be a numeric array") as error:
        load_npz(path)
    assert "text.npz" in str(error.value) and "`images`" in str(error.value)


def test_npz_fractional_class_id(tmp_path):
    path = tmp_path / "fraction.npz"
    np.savez(path, **_npz_arrays(np.array([0.0, 1.5]), np.array([1.0])))
    with pytest.raises(InvalidInputError, match="whole numbers") as error:
        load_npz(path)
    assert "index 1" in str(error.value)


# The registry.


def test_registry_names():
    assert dataset_names() == (
        "dscmr_mat",
        "image_captions",
        "mrl_mat",
        "npz",
        "sdml_h5",
        "shapes",
        "tfds",
        "wikipedia_classic",
        "xmedia_mat",
    )
    assert set(DATASETS) == set(dataset_names())


def test_unknown_dataset_lists_known_names():
    with pytest.raises(InvalidInputError, match="Unknown dataset 'pascal'") as error:
        load_dataset("pascal")
    for name in dataset_names():
        assert name in str(error.value)


# The dataset types.


def test_paired_split_casts_to_read_only_float32():
    split = PairedSplit(
        np.ones((2, 3), np.int64), np.ones((2, 1)), np.eye(2, dtype=bool)
    )
    assert split.images.dtype == split.texts.dtype == split.labels.dtype == np.float32
    assert (split.num_pairs, split.num_classes) == (2, 2)
    with pytest.raises(ValueError, match="read-only"):
        split.images[0, 0] = 5.0


@pytest.mark.parametrize(
    ("images", "labels", "words"),
    [
        (np.ones(3), np.eye(3), "must be 2-D"),
        (np.ones((0, 2)), np.ones((0, 2)), "at least one pair"),
        (np.ones((3, 2)), np.eye(3) * 0.5, "only 0 and 1"),
        (np.ones((3, 2)), np.array([[1, 0], [0, 0], [0, 1]]), "first in row 1"),
    ],
)
def test_paired_split_rejects_bad_arrays(images, labels, words):
    texts = np.ones((len(images), 2))
    with pytest.raises(InvalidInputError, match=words):
        PairedSplit(images, texts, labels)


def test_cross_modal_dataset_checks_agreement():
    small = _split([0, 1, 0])
    wider = PairedSplit(np.ones((2, 4)), np.ones((2, 2)), np.eye(2))
    with pytest.raises(
        InvalidInputError, match=r"image_shape. Received \(3,\) for train and \(4,\)"
    ):
        CrossModalDataset("toy", small, wider, multi_label=False)
    raw = ImageCaptionSplit(np.zeros((2, 8, 8, 3), np.uint8), ["a", "b"], np.eye(2))
    with pytest.raises(InvalidInputError, match="both hold features or both raw"):
        CrossModalDataset("toy", small, raw, multi_label=False)
    # Raw pairs in files and in memory are one kind: train streams, test not.
    files = ImageFileSplit(["a.png", "b.png"], ["a", "b"], np.eye(2), image_size=8)
    assert CrossModalDataset("toy", files, raw, multi_label=False).raw
    more_classes = _split([0, 1, 2])
    with pytest.raises(InvalidInputError, match="num_classes"):
        CrossModalDataset("toy", small, more_classes, multi_label=False)
    multi = PairedSplit(np.ones((1, 3)), np.ones((1, 2)), np.ones((1, 2)))
    with pytest.raises(InvalidInputError, match="several labels"):
        CrossModalDataset("toy", small, multi, multi_label=False)
    with pytest.raises(InvalidInputError, match="name all 2 classes"):
        CrossModalDataset("toy", small, small, False, class_names=("a",))
    data = CrossModalDataset("toy", small, small, False, class_names=["a", "b"])
    assert data.class_names == ("a", "b")


def test_labels_from_class_ids():
    np.testing.assert_array_equal(
        labels_from_class_ids(np.array([[2], [0]]), 3), [[0, 0, 1], [1, 0, 0]]
    )
    np.testing.assert_array_equal(
        labels_from_class_ids([1.0, 3.0], 3, first_id=1), [[1, 0, 0], [0, 0, 1]]
    )
    with pytest.raises(InvalidInputError) as error:
        labels_from_class_ids([0, 5, 2], 4, first_id=1)
    message = str(error.value)
    assert "[1, 4]" in message and "min 0" in message and "max 5" in message
    with pytest.raises(InvalidInputError, match="num_classes"):
        labels_from_class_ids([0], 0)
    np.testing.assert_array_equal(labels_from_multi_hot([[True, False]]), [[1, 0]])


# Train / validation splits.


def test_split_is_stratified():
    class_ids = np.repeat([0, 1, 2], [60, 30, 10])
    fit, validation = train_validation_split(_split(class_ids), 0.2, seed=3)
    assert validation.num_pairs == 20 and fit.num_pairs == 80
    np.testing.assert_array_equal(validation.labels.sum(axis=0), [12, 6, 2])
    np.testing.assert_array_equal(fit.labels.sum(axis=0), [48, 24, 8])


def test_split_keeps_one_of_each_class_in_train():
    # Quotas are 1.2, 1.2, 1.2 and 6 of 10: by remainders alone a 2-pair
    # class would get the last slot and leave none of itself in train.
    class_ids = np.repeat(np.arange(4), [2, 2, 2, 10])
    for seed in range(5):
        fit, validation = train_validation_split(_split(class_ids), 0.6, seed=seed)
        np.testing.assert_array_equal(validation.labels.sum(axis=0), [1, 1, 1, 7])
        np.testing.assert_array_equal(fit.labels.sum(axis=0), [1, 1, 1, 3])


def test_split_fraction_too_large_for_stratification():
    with pytest.raises(InvalidInputError, match="keeps one in train"):
        train_validation_split(_split(np.repeat(np.arange(4), 2)), 0.75, seed=0)


@pytest.mark.parametrize("multi_label", [False, True])
def test_split_has_no_overlap_and_covers_all(multi_label):
    split = _split(np.arange(50) % 4)
    if multi_label:
        labels = split.labels.copy()
        labels[::3, 0] = 1.0
        split = PairedSplit(split.images, split.texts, labels)
    fit, validation = train_validation_split(split, 0.3, seed=7)
    rows_fit, rows_validation = _rows(fit), _rows(validation)
    assert validation.num_pairs == 15
    assert not set(rows_fit) & set(rows_validation)
    np.testing.assert_array_equal(
        np.sort(np.concatenate([rows_fit, rows_validation])), np.arange(50)
    )
    # Rows keep their original order and stay paired with their labels.
    assert (np.diff(rows_fit) > 0).all() and (np.diff(rows_validation) > 0).all()
    np.testing.assert_array_equal(validation.labels, split.labels[rows_validation])
    np.testing.assert_array_equal(validation.texts[:, 0], rows_validation)


@pytest.mark.parametrize("multi_label", [False, True])
def test_split_is_deterministic_per_seed(multi_label):
    split = _split(np.arange(200) % 5)
    if multi_label:
        split = PairedSplit(split.images, split.texts, np.ones_like(split.labels))
    first = _rows(train_validation_split(split, 0.25, seed=11)[1])
    again = _rows(train_validation_split(split, 0.25, seed=11)[1])
    other = _rows(train_validation_split(split, 0.25, seed=12)[1])
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize(
    "fraction", [0.0, 1.0, -0.1, 1.5, True, "0.2", None, 0.01, 0.99]
)
def test_split_rejects_bad_fractions(fraction):
    # 0.01 and 0.99 of 20 pairs leave one side empty.
    with pytest.raises(InvalidInputError, match="validation"):
        train_validation_split(_split(np.arange(20) % 2), fraction, seed=0)


def test_split_rejects_bad_seed():
    with pytest.raises(InvalidInputError, match="seed"):
        train_validation_split(_split([0, 1, 0, 1]), 0.5, seed=-1)


def test_concatenated_splits_keep_both_parts_in_order():
    first, second = _split(np.arange(6) % 3), _split(np.arange(4) % 3)
    joined = concatenate_splits(first, second)
    assert isinstance(joined, PairedSplit) and joined.num_pairs == 10
    for name in ("images", "texts", "labels"):
        np.testing.assert_array_equal(
            getattr(joined, name),
            np.concatenate([getattr(first, name), getattr(second, name)]),
        )
    raw = ImageCaptionSplit(np.zeros((2, 8, 8, 3), np.uint8), ["a", "b"], np.eye(2))
    more = ImageCaptionSplit(np.ones((1, 8, 8, 3), np.uint8), ["c"], np.eye(2)[:1])
    joined = concatenate_splits(raw, more)
    assert list(joined.texts) == ["a", "b", "c"] and joined.images[2].max() == 1


def test_splits_that_cannot_be_joined_are_named():
    split = _split(np.arange(6) % 3)
    raw = ImageCaptionSplit(np.zeros((2, 8, 8, 3), np.uint8), ["a", "b"], np.eye(2))
    files = ImageFileSplit(["a.png", "b.png"], ["a", "b"], np.eye(2), image_size=8)
    other_classes = PairedSplit(split.images, split.texts, np.eye(6))
    wider = PairedSplit(np.zeros((2, 5)), split.texts[:2], split.labels[:2])
    with pytest.raises(InvalidInputError, match="one type"):
        concatenate_splits(split, raw)
    with pytest.raises(InvalidInputError, match="image files"):
        concatenate_splits(files, raw)
    with pytest.raises(InvalidInputError, match="number of classes"):
        concatenate_splits(split, other_classes)
    with pytest.raises(InvalidInputError, match="image_shape"):
        concatenate_splits(split, wider)
