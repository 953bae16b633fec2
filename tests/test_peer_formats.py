"""The peer projects' feature files: SDML / MRL `.h5py`, PKU XMedia and MRL `.mat`.

Every file here is generated in the layout the peers' loaders read, small
enough that no test trains.
"""

import logging

import h5py
import numpy as np
import pytest
import scipy.io
import scipy.sparse

from cmgan_tf.config import ExperimentConfig
from cmgan_tf.data import CrossModalDataset, load_dataset, load_wikipedia_classic
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.runs.trainer import prepare_data
from tests.conftest import make_paired_split

_SIZES = {"train": 12, "test": 8, "valid": 6}
_IMAGE_DIM, _TEXT_DIM = 6, 4


def _ids(num_pairs, first_id=0, num_classes=3):
    return first_id + np.arange(num_pairs) % num_classes


def _sdml_arrays(prefixes=("train", "test"), text_key="text", first_id=0):
    rng = np.random.default_rng(0)
    arrays = {}
    for prefix in prefixes:
        ids = _ids(_SIZES[prefix], first_id)
        arrays[f"{prefix}_imgs_deep"] = rng.normal(size=(len(ids), _IMAGE_DIM))
        arrays[f"{prefix}_{text_key}"] = rng.normal(size=(len(ids), _TEXT_DIM))
        arrays[f"{prefix}_imgs_labels"] = ids
        arrays[f"{prefix}_texts_labels"] = ids.copy()
    return arrays


def _xmedia_arrays():
    rng = np.random.default_rng(1)
    arrays = {}
    for split, tag in (("tr", "train"), ("te", "test")):
        num_pairs = _SIZES[tag]
        # MATLAB saves the category vectors as columns, ids from 1.
        ids = _ids(num_pairs, first_id=1)[:, None].astype(np.float64)
        arrays[f"I_{split}_CNN"] = rng.normal(size=(num_pairs, _IMAGE_DIM))
        # Bag-of-words counts, mostly zeros, saved sparse.
        counts = rng.poisson(0.3, size=(num_pairs, _TEXT_DIM)).astype(np.float64)
        arrays[f"T_{split}_BOW"] = scipy.sparse.csc_matrix(counts)
        arrays[f"{split}ImgCat"] = ids
        arrays[f"{split}TxtCat"] = ids.copy()
        # Another modality, which is not read.
        arrays[f"A_{split}"] = rng.normal(size=(2, 3))
        arrays[f"{split}AudCat"] = np.array([[1.0], [2.0]])
    return arrays


def _mrl_arrays(with_validation=True):
    rng = np.random.default_rng(2)
    arrays = {}
    splits = (("tr", "train"), ("te", "test"))
    if with_validation:
        splits += (("val", "valid"),)
    for prefix, tag in splits:
        ids = _ids(_SIZES[tag])[:, None]
        arrays[f"{prefix}_img"] = rng.normal(size=(len(ids), _IMAGE_DIM))
        arrays[f"{prefix}_txt"] = rng.normal(size=(len(ids), _TEXT_DIM))
        arrays[f"{prefix}_img_lab"] = ids
        arrays[f"{prefix}_txt_lab"] = ids.copy()
    return arrays


def _write_h5(path, arrays):
    with h5py.File(path, "w") as file:
        for key, value in arrays.items():
            file[key] = value
    return path


def _write_mat_v5(path, arrays):
    scipy.io.savemat(path, arrays)
    return path


def _write_mat_v73(path, arrays, cells=()):
    """Writes `arrays` as MATLAB v7.3 does: HDF5 behind a 512-byte header."""
    with h5py.File(path, "w", userblock_size=512) as file:
        for key, value in arrays.items():
            if scipy.sparse.issparse(value):
                matrix = scipy.sparse.csc_matrix(value)
                group = file.create_group(key)
                group.attrs["MATLAB_class"] = np.bytes_("double")
                group.attrs["MATLAB_sparse"] = np.uint64(matrix.shape[0])
                group["data"] = matrix.data
                group["ir"] = matrix.indices.astype(np.uint64)
                group["jc"] = matrix.indptr.astype(np.uint64)
                continue
            value = np.asarray(value, dtype=np.float64)
            matrix = value if value.ndim == 2 else value[:, None]
            # Column-major: MATLAB's (n, d) is HDF5's (d, n).
            file.create_dataset(key, data=matrix.T)
            file[key].attrs["MATLAB_class"] = np.bytes_("double")
        for key in cells:
            file.create_dataset(key, shape=(1, 2), dtype=h5py.ref_dtype)
            file[key].attrs["MATLAB_class"] = np.bytes_("cell")
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".ljust(116)
    with open(path, "r+b") as file:
        file.write(header + bytes(8) + b"\x00\x02IM")
    return path


def _one_hot_ids(labels):
    assert (labels.sum(axis=1) == 1).all()
    return labels.argmax(axis=1)


# SDML / MRL .h5py.


@pytest.mark.parametrize("text_key", ["text", "texts"])
def test_sdml_h5_reads_both_splits(tmp_path, text_key):
    arrays = _sdml_arrays(text_key=text_key)
    path = _write_h5(tmp_path / "wiki_deep_doc2vec_data_corr_ae.h5py", arrays)
    data = load_dataset("sdml_h5", path)
    assert data.name == "wiki_deep_doc2vec_data_corr_ae"
    assert (data.train.num_pairs, data.test.num_pairs) == (12, 8)
    assert (data.image_dim, data.text_dim, data.num_classes) == (6, 4, 3)
    assert data.validation is None and not data.multi_label
    np.testing.assert_allclose(data.train.images, arrays["train_imgs_deep"], 1e-6)
    np.testing.assert_allclose(data.test.texts, arrays[f"test_{text_key}"], 1e-6)
    np.testing.assert_array_equal(_one_hot_ids(data.test.labels), _ids(8))


def test_sdml_h5_ids_from_one_become_columns_from_zero(tmp_path):
    path = _write_h5(tmp_path / "f.h5py", _sdml_arrays(first_id=1))
    data = load_dataset("sdml_h5", path)
    assert data.num_classes == 3
    np.testing.assert_array_equal(_one_hot_ids(data.train.labels), _ids(12))


def test_sdml_h5_validation_split_is_used_instead_of_carving(tmp_path, caplog):
    arrays = _sdml_arrays(prefixes=("train", "test", "valid"))
    path = _write_h5(tmp_path / "nus.h5py", arrays)
    config = ExperimentConfig().replace(
        data={"dataset": "sdml_h5", "data_dir": str(path)}
    )
    with caplog.at_level(logging.INFO, logger="absl"):
        dataset, train, validation = prepare_data(config)
    assert dataset.validation.num_pairs == 6
    np.testing.assert_allclose(
        dataset.validation.images, arrays["valid_imgs_deep"], 1e-6
    )
    # All training pairs are trained on; the file's validation pairs validate.
    assert train is dataset.train and train.num_pairs == 12
    assert validation is dataset.validation
    assert "Validating on the 6 validation pairs given with dataset" in caplog.text
    assert "validation_fraction is not used" in caplog.text


def test_prepare_data_still_carves_validation_without_one(tmp_path):
    path = _write_h5(tmp_path / "wiki.h5py", _sdml_arrays())
    config = ExperimentConfig().replace(
        data={"dataset": "sdml_h5", "data_dir": str(path), "validation_fraction": 0.25}
    )
    dataset, train, validation = prepare_data(config)
    assert dataset.validation is None
    assert (train.num_pairs, validation.num_pairs) == (9, 3)


def test_sdml_h5_begun_validation_split_must_be_complete(tmp_path):
    arrays = _sdml_arrays()
    arrays["valid_imgs_deep"] = np.ones((6, _IMAGE_DIM))
    path = _write_h5(tmp_path / "f.h5py", arrays)
    with pytest.raises(InvalidInputError) as error:
        load_dataset("sdml_h5", path)
    message = str(error.value)
    assert (
        "lacks the keys ['valid_text', 'valid_imgs_labels', 'valid_texts_labels']"
        in message
    )
    assert "'valid_imgs_deep'" in message.split("found")[1]


def test_directory_with_one_file_is_read_and_with_two_is_refused(tmp_path):
    _write_h5(tmp_path / "a.h5py", _sdml_arrays())
    (tmp_path / "notes.txt").write_text("not a feature file")
    assert load_dataset("sdml_h5", tmp_path).name == "a"
    _write_h5(tmp_path / "b.h5", _sdml_arrays())
    with pytest.raises(InvalidInputError, match="holds 2: \\['a.h5py', 'b.h5'\\]"):
        load_dataset("sdml_h5", tmp_path)


def test_data_dir_is_required(tmp_path):
    for name in ("sdml_h5", "xmedia_mat", "mrl_mat"):
        with pytest.raises(InvalidInputError, match=f"'{name}' needs `data_dir`"):
            load_dataset(name)


# PKU XMedia .mat, MATLAB v5 and v7.3.


@pytest.mark.parametrize("write", [_write_mat_v5, _write_mat_v73])
def test_xmedia_mat_reads_images_and_texts(tmp_path, write):
    arrays = _xmedia_arrays()
    path = write(tmp_path / "XMediaFeatures.mat", arrays)
    data = load_dataset("xmedia_mat", path)
    assert data.name == "XMediaFeatures"
    assert (data.train.num_pairs, data.test.num_pairs) == (12, 8)
    assert (data.image_dim, data.text_dim, data.num_classes) == (6, 4, 3)
    assert data.validation is None
    np.testing.assert_allclose(data.train.images, arrays["I_tr_CNN"], 1e-6)
    # The sparse bag-of-words matrix comes back dense.
    np.testing.assert_array_equal(data.test.texts, arrays["T_te_BOW"].toarray())
    # MATLAB's ids from 1 are label columns from 0.
    np.testing.assert_array_equal(_one_hot_ids(data.train.labels), _ids(12))


def test_mat_v73_cell_variable_is_refused_only_when_read(tmp_path):
    arrays = _xmedia_arrays()
    path = _write_mat_v73(tmp_path / "x.mat", arrays, cells=["class_names"])
    assert load_dataset("xmedia_mat", path).num_classes == 3
    del arrays["T_tr_BOW"]
    path = _write_mat_v73(tmp_path / "y.mat", arrays, cells=["T_tr_BOW"])
    with pytest.raises(InvalidInputError, match="`T_tr_BOW` is a MATLAB cell"):
        load_dataset("xmedia_mat", path)


def test_the_other_mat_loaders_read_v73_too(tmp_path):
    shipped = load_wikipedia_classic()
    arrays = {}
    for split, tag in (("train", "tr"), ("test", "te")):
        part = getattr(shipped, split)
        arrays[f"I_{tag}"] = part.images
        arrays[f"T_{tag}"] = part.texts
        arrays[f"L_{tag}"] = part.labels.argmax(axis=1) + 1
    _write_mat_v73(tmp_path / "wikiData.mat", arrays)
    data = load_wikipedia_classic(tmp_path)
    np.testing.assert_array_equal(data.test.labels, shipped.test.labels)
    np.testing.assert_array_equal(data.train.texts, shipped.train.texts)


# MRL's train / validation / test .mat.


@pytest.mark.parametrize("write", [_write_mat_v5, _write_mat_v73])
def test_mrl_mat_carries_its_validation_split(tmp_path, write):
    arrays = _mrl_arrays()
    data = load_dataset("mrl_mat", write(tmp_path / "INRIA-Websearch.mat", arrays))
    assert (data.train.num_pairs, data.validation.num_pairs) == (12, 6)
    np.testing.assert_allclose(data.validation.texts, arrays["val_txt"], 1e-6)
    np.testing.assert_array_equal(_one_hot_ids(data.validation.labels), _ids(6))


def test_mrl_mat_without_validation_split(tmp_path):
    path = _write_mat_v5(tmp_path / "f.mat", _mrl_arrays(with_validation=False))
    assert load_dataset("mrl_mat", path).validation is None


# Bad input.


@pytest.mark.parametrize(
    ("name", "path_name", "write", "expected"),
    [
        ("sdml_h5", "f.h5py", _write_h5, "'train_imgs_deep', 'train_text'"),
        ("xmedia_mat", "f.mat", _write_mat_v5, "'I_tr_CNN', 'T_tr_BOW', 'trImgCat'"),
        ("xmedia_mat", "f.mat", _write_mat_v73, "'I_tr_CNN', 'T_tr_BOW'"),
        ("mrl_mat", "f.mat", _write_mat_v5, "'tr_img', 'tr_txt', 'tr_img_lab'"),
    ],
)
def test_wrong_layout_lists_the_keys_expected_and_found(
    tmp_path, name, path_name, write, expected
):
    # The Wikipedia layout, handed to the other loaders.
    path = write(
        tmp_path / path_name, {"I_tr": np.ones((2, 3)), "L_tr": np.ones((2, 1))}
    )
    with pytest.raises(InvalidInputError) as error:
        load_dataset(name, path)
    message = str(error.value)
    assert str(path) in message
    assert f"Expected keys [{expected}" in message
    assert message.endswith("found ['I_tr', 'L_tr'].")


@pytest.mark.parametrize(
    ("name", "path_name", "write", "arrays"),
    [
        ("sdml_h5", "f.h5py", _write_h5, _sdml_arrays()),
        ("xmedia_mat", "f.mat", _write_mat_v73, _xmedia_arrays()),
    ],
)
def test_truncated_hdf5_is_one_line_naming_the_file(
    tmp_path, name, path_name, write, arrays
):
    path = write(tmp_path / path_name, arrays)
    contents = path.read_bytes()
    path.write_bytes(contents[: len(contents) // 2])
    with pytest.raises(InvalidInputError) as error:
        load_dataset(name, path)
    message = str(error.value)
    assert "\n" not in message
    assert message.startswith(f"Could not read {path}: not a readable HDF5 file")
    assert "truncated file" in message


def test_a_file_that_is_not_hdf5_is_refused(tmp_path):
    path = tmp_path / "f.h5py"
    path.write_text("train_imgs_deep,train_text\n1,2\n")
    with pytest.raises(InvalidInputError, match="file signature not found"):
        load_dataset("sdml_h5", path)


def _with(arrays, **changes):
    return {**arrays, **changes}


_SDML = _sdml_arrays()


@pytest.mark.parametrize(
    ("arrays", "words"),
    [
        (
            _with(_SDML, train_imgs_labels=-_ids(12), train_texts_labels=-_ids(12)),
            r"train_imgs_labels labels: Class ids must lie in \[0, 2\].*min -2",
        ),
        (
            _with(_SDML, test_imgs_labels=_ids(8) + 0.5),
            "test_imgs_labels labels: Class ids must be whole numbers",
        ),
        (
            _with(_SDML, test_text=np.full((8, _TEXT_DIM), np.nan)),
            r"\(test split\): `texts` holds 32 NaN and 0 Inf values",
        ),
        (
            _with(_SDML, train_imgs_deep=np.full((12, _IMAGE_DIM), np.inf)),
            r"\(train split\): `images` holds 0 NaN and 72 Inf values",
        ),
        (
            _with(_SDML, train_text=np.ones((11, _TEXT_DIM))),
            r"\(train split\): .* Received 12 images, 11 texts and 12 labels",
        ),
        (
            _with(_SDML, train_texts_labels=np.roll(_ids(12), 1)),
            "`train_imgs_labels` and `train_texts_labels` differ in 12 rows, the "
            "first row 0; row i of the images and of the texts must be one pair",
        ),
        (
            _with(_SDML, test_texts_labels=_ids(7)),
            "`test_imgs_labels` holds 8 labels and `test_texts_labels` 7",
        ),
    ],
)
def test_bad_values_name_the_file_and_the_problem(tmp_path, arrays, words):
    path = _write_h5(tmp_path / "f.h5py", arrays)
    with pytest.raises(InvalidInputError, match=words) as error:
        load_dataset("sdml_h5", path)
    assert str(error.value).startswith(str(path))


def test_dataset_validation_split_must_match_train():
    train, test = make_paired_split(8), make_paired_split(4)
    with pytest.raises(InvalidInputError, match="Train and validation must agree"):
        CrossModalDataset(
            "toy", train, test, False, validation=make_paired_split(4, image_dim=5)
        )
    with pytest.raises(InvalidInputError, match="`validation` must be a PairedSplit"):
        CrossModalDataset("toy", train, test, False, validation=train.images)
