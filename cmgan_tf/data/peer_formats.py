"""Loaders for the feature files of the peer projects: SDML / MRL and PKU XMedia.

Each file holds, per split, image features, text features and the class ids
of both, under the keys the peers' own loaders read (SDML's `data_loader.py`,
MRL's `src/noisydataset.py`, both at github.com/penghu-cs):

- `sdml_h5`: the one HDF5 file of SDML and MRL, named `.h5py` there (e.g.
  `wiki_deep_doc2vec_data_corr_ae.h5py`): `train_imgs_deep`, `train_text`
  (or `train_texts`), `train_imgs_labels`, `train_texts_labels`, the same for
  `test_` and, in some files, for `valid_`.
- `xmedia_mat`: PKU XMedia's `XMediaFeatures.mat`: `I_tr_CNN`, `T_tr_BOW`,
  `trImgCat`, `trTxtCat`, `I_te_CNN`, `T_te_BOW`, `teImgCat`, `teTxtCat`
  (its audio, 3D and video features are not read).
- `mrl_mat`: the `.mat` layout MRL reads for INRIA-Websearch: `tr_img`,
  `tr_txt`, `tr_img_lab`, `tr_txt_lab`, the same for `te_` and `val_`.

`.mat` files may be MATLAB v5 or v7.3 (HDF5). When a file has a validation
split, the dataset carries it (`CrossModalDataset.validation`) and training
chooses its epoch on it instead of carving one out of train. The peers carve
validation out of test when a file has none; here it comes out of train, so
that test chooses nothing.
"""

import os
import pathlib

import numpy as np

from cmgan_tf.data.hdf5_files import read_hdf5_arrays
from cmgan_tf.data.loaders import (
    _about,
    _as_directory,
    _dataset,
    _is_id_vector,
    _num_rows,
    _pick,
    _read_mat,
    _to_multi_hot,
)
from cmgan_tf.errors import InvalidInputError

# Per split, the keys of the images, texts, image labels and text labels. A
# tuple lists the spellings found in the peers' files, the first preferred.
_SDML_KEYS = {
    split: (
        f"{prefix}_imgs_deep",
        (f"{prefix}_text", f"{prefix}_texts"),
        f"{prefix}_imgs_labels",
        f"{prefix}_texts_labels",
    )
    for split, prefix in (("train", "train"), ("test", "test"), ("validation", "valid"))
}
_XMEDIA_KEYS = {
    "train": ("I_tr_CNN", "T_tr_BOW", "trImgCat", "trTxtCat"),
    "test": ("I_te_CNN", "T_te_BOW", "teImgCat", "teTxtCat"),
}
_MRL_MAT_KEYS = {
    split: (f"{prefix}_img", f"{prefix}_txt", f"{prefix}_img_lab", f"{prefix}_txt_lab")
    for split, prefix in (("train", "tr"), ("test", "te"), ("validation", "val"))
}
_HDF5_SUFFIXES = (".h5py", ".h5", ".hdf5")


def load_sdml_h5(data_dir):
    """Load the HDF5 feature file of SDML and MRL.

    Keys per split (`train`, `test`, and `valid` when the file has it):
    `{split}_imgs_deep` `(n, image_dim)`, `{split}_text` or `{split}_texts`
    `(n, text_dim)`, `{split}_imgs_labels` and `{split}_texts_labels`, class
    ids `(n,)` / `(n, 1)` or multi-hot `(n, C)`. Ids are shifted so that the
    smallest over all splits is class 0 (SDML shifts each split by its own
    minimum, which mislabels a split lacking the first class). Row `i` of
    images and texts is one pair, so both label arrays must agree.

    Args:
        data_dir: Path of the file (any name), or of a directory holding
            exactly one `.h5py`, `.h5` or `.hdf5` file.

    Returns:
        `CrossModalDataset` named after the file stem, with `validation` set
        when the file has the `valid_` keys.

    Raises:
        InvalidInputError: If no single file is found, it is not HDF5 or is
            truncated, lacks a key (the message lists the keys expected and
            found), or holds inconsistent, non-finite or out-of-range arrays,
            or image and text labels that differ.

    Example:
    >>> data = load_sdml_h5("wiki_deep_doc2vec_data_corr_ae.h5py")  # doctest: +SKIP
    >>> data.train.num_pairs, data.test.num_pairs, data.num_classes  # doctest: +SKIP
    (2173, 693, 10)

    Reference:
        Hu, Zhen, Peng, Liu. "Scalable Deep Multimodal Learning for
        Cross-Modal Retrieval". SIGIR 2019.
    """
    path = _feature_file(data_dir, _HDF5_SUFFIXES, "load_sdml_h5")
    return _paired_dataset(path, read_hdf5_arrays(path), _SDML_KEYS)


def load_xmedia_mat(data_dir):
    """Load PKU XMedia's `XMediaFeatures.mat` (image and text modalities).

    Keys: `I_tr_CNN` `(n, image_dim)`, `T_tr_BOW` `(n, text_dim)`, `trImgCat`
    and `trTxtCat` (class ids, MATLAB's from 1) and the same with `te` for
    test. Ids are shifted so that the smallest over both splits is class 0.
    Row `i` of images and texts is one pair, so `trImgCat` and `trTxtCat`
    (and `teImgCat`, `teTxtCat`) must agree. MATLAB v5 and v7.3 files are
    read; sparse matrices are made dense.

    Args:
        data_dir: Path of the `.mat` file (any name), or of a directory
            holding exactly one `.mat` file.

    Returns:
        `CrossModalDataset` named after the file stem, single-label.

    Raises:
        InvalidInputError: As `load_sdml_h5`, for a `.mat` file.

    Example:
    >>> data = load_xmedia_mat("XMedia&Code/XMediaFeatures.mat")  # doctest: +SKIP
    >>> data.num_classes  # doctest: +SKIP
    20

    Reference:
        Peng, Huang, Zhao. "An Overview of Cross-media Retrieval: Concepts,
        Methodologies, Benchmarks and Challenges". IEEE TCSVT 2018.
    """
    path = _feature_file(data_dir, (".mat",), "load_xmedia_mat")
    return _paired_dataset(path, _read_mat(path), _XMEDIA_KEYS)


def load_mrl_mat(data_dir):
    """Load the train / validation / test `.mat` layout read by MRL.

    Keys per split (`tr`, `val`, `te`; `val` may be absent):
    `{split}_img` `(n, image_dim)`, `{split}_txt` `(n, text_dim)`,
    `{split}_img_lab` and `{split}_txt_lab` (class ids or multi-hot). MRL
    reads INRIA-Websearch in this layout. Ids are shifted as in
    `load_sdml_h5`, and image and text labels must agree.

    Args:
        data_dir: Path of the `.mat` file (any name), or of a directory
            holding exactly one `.mat` file.

    Returns:
        `CrossModalDataset` named after the file stem, with `validation` set
        when the file has the `val_` keys.

    Raises:
        InvalidInputError: As `load_sdml_h5`, for a `.mat` file.

    Example:
    >>> data = load_mrl_mat("INRIA-Websearch/INRIA-Websearch.mat")  # doctest: +SKIP
    >>> data.validation is not None  # doctest: +SKIP
    True

    Reference:
        Hu, Peng, Zhu, Zhen, Lin. "Learning Cross-Modal Retrieval with Noisy
        Labels". CVPR 2021.
    """
    path = _feature_file(data_dir, (".mat",), "load_mrl_mat")
    return _paired_dataset(path, _read_mat(path), _MRL_MAT_KEYS)


def _feature_file(data_dir, suffixes, loader):
    """Return `data_dir` if it is a file, else the one file in it with a suffix."""
    if isinstance(data_dir, str | os.PathLike) and pathlib.Path(data_dir).is_file():
        return pathlib.Path(data_dir)
    directory = _as_directory(data_dir, loader)
    found = sorted(
        path.name
        for path in directory.iterdir()
        if path.suffix.lower() in suffixes and path.is_file()
    )
    if len(found) != 1:
        raise InvalidInputError(
            f"`{loader}` reads one {'/'.join(suffixes)} file: pass the file "
            f"itself, or a directory holding exactly one. {directory} holds "
            f"{len(found)}: {found}"
        )
    return directory / found[0]


def _spelling(contents, spellings):
    """Return the spelling of a key that `contents` uses, else the first."""
    if isinstance(spellings, str):
        return spellings
    return next((key for key in spellings if key in contents), spellings[0])


def _paired_dataset(path, contents, layout):
    """Build the dataset of a file read into `contents` under `layout`'s keys."""
    keys = {
        split: [_spelling(contents, spellings) for spellings in layout[split]]
        for split in layout
    }
    # A validation split is optional, but one begun must be complete.
    if "validation" in keys and not any(k in contents for k in keys["validation"]):
        del keys["validation"]
    expected = [key for split_keys in keys.values() for key in split_keys]
    arrays = dict(zip(expected, _pick(contents, expected, path), strict=True))
    with _about(path):
        labels = _to_multi_hot(
            _ids_from_zero(
                {
                    label_key: (arrays[label_key], _num_rows(arrays[rows_key]))
                    for images, texts, image_labels, text_labels in keys.values()
                    for label_key, rows_key in (
                        (image_labels, images),
                        (text_labels, texts),
                    )
                }
            )
        )
    dataset = _dataset(
        path.stem,
        path,
        {
            split: (arrays[images], arrays[texts], labels[image_labels])
            for split, (images, texts, image_labels, _) in keys.items()
        },
    )
    # After `_dataset`, which reports unequal numbers of images and texts.
    with _about(path):
        for _, _, image_labels, text_labels in keys.values():
            _check_same_labels(labels, image_labels, text_labels)
    return dataset


def _ids_from_zero(labels_by_key):
    """Shift class-id vectors so that the smallest id over all of them is 0.

    The peers' files number classes from 0 or, MATLAB-style, from 1. Label
    matrices, negative ids (left for the range check to report) and
    non-numeric arrays are passed on unchanged.
    """
    ids = {
        key: np.asarray(labels)
        for key, (labels, num_rows) in labels_by_key.items()
        if _is_id_vector(labels, num_rows) and np.asarray(labels).dtype.kind in "iuf"
    }
    finite = [array[np.isfinite(array)] for array in ids.values()]
    lowest = min((array.min() for array in finite if array.size), default=0)
    if lowest <= 0:
        return labels_by_key
    return {
        key: (ids[key] - np.floor(lowest) if key in ids else labels, num_rows)
        for key, (labels, num_rows) in labels_by_key.items()
    }


def _check_same_labels(labels, image_key, text_key):
    """Raise unless images and texts carry the same labels, row by row."""
    image_labels, text_labels = labels[image_key], labels[text_key]
    if image_labels.shape != text_labels.shape:
        raise InvalidInputError(
            f"`{image_key}` holds {len(image_labels)} labels and `{text_key}` "
            f"{len(text_labels)}; row i of the images and of the texts must be "
            "one pair."
        )
    differ = np.flatnonzero((image_labels != text_labels).any(axis=1))
    if differ.size:
        raise InvalidInputError(
            f"`{image_key}` and `{text_key}` differ in {differ.size} rows, the "
            f"first row {int(differ[0])}; row i of the images and of the texts "
            "must be one pair, with the same labels."
        )
