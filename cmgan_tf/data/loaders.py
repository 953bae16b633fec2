"""Loaders that read cross-modal feature files into a `CrossModalDataset`.

Three on-disk layouts are read: the classic Wikipedia `wikiData.mat` (shipped
with the package), the six-file MATLAB layout of the public DSCMR code base,
and a plain documented `.npz` (the peer projects' files are read by
`cmgan_tf.data.peer_formats`, with the helpers here). MATLAB files may be of
any version from v4 to v7.3 (HDF5). Every problem with a file is reported as
`InvalidInputError` naming the file, so a command line can print one line
that says what to fix.
"""

import contextlib
import importlib.resources
import os
import pathlib
import zipfile

import numpy as np
import scipy.io
import scipy.sparse
from scipy.io.matlab import MatReadError

from cmgan_tf.data.dataset import (
    CrossModalDataset,
    PairedSplit,
    labels_from_class_ids,
    labels_from_multi_hot,
)
from cmgan_tf.data.hdf5_files import UnreadableVariable, read_hdf5_arrays
from cmgan_tf.errors import InvalidInputError

WIKIPEDIA_CLASS_NAMES = (
    "art",
    "biology",
    "geography",
    "history",
    "literature",
    "media",
    "music",
    "royalty",
    "sport",
    "warfare",
)

_WIKIPEDIA_FILE = "wikiData.mat"
_DSCMR_STEMS = (
    "train_img",
    "train_txt",
    "train_img_lab",
    "test_img",
    "test_txt",
    "test_img_lab",
)
_NPZ_KEYS = (
    "train_images",
    "train_texts",
    "train_labels",
    "test_images",
    "test_texts",
    "test_labels",
)


@contextlib.contextmanager
def _about(where):
    """Prefix an `InvalidInputError` raised inside with what it concerns."""
    try:
        yield
    except InvalidInputError as error:
        raise InvalidInputError(f"{where}: {error}") from error


def _as_directory(data_dir, loader):
    """Return `data_dir` as the path of an existing directory."""
    if data_dir is None:
        raise InvalidInputError(
            f"`{loader}` needs `data_dir`, the directory holding the files. "
            "Received: data_dir=None"
        )
    if not isinstance(data_dir, str | os.PathLike):
        raise InvalidInputError(
            f"`data_dir` must be a path. Received type {type(data_dir).__name__}."
        )
    directory = pathlib.Path(data_dir)
    if directory.is_file():
        raise InvalidInputError(
            f"`data_dir` must be a directory; {directory} is a file."
        )
    if not directory.is_dir():
        raise InvalidInputError(f"Data directory not found: tried {directory}")
    return directory


def _read_mat(path):
    """Read a MATLAB file (v4 to v7.3) into a dict of its variables.

    Sparse matrices come back dense, as the datasets keep dense features.
    """
    if not path.is_file():
        raise InvalidInputError(f"File not found: tried {path}")
    try:
        contents = scipy.io.loadmat(path)
    except NotImplementedError:
        # scipy reads MATLAB v4 to v7.2 only; v7.3 files are HDF5 containers.
        return read_hdf5_arrays(path, matlab=True)
    except (MatReadError, ValueError, OSError, EOFError) as error:
        raise InvalidInputError(
            f"Could not read {path}: not a valid MATLAB .mat file ({error})."
        ) from error
    return {
        key: value.toarray() if scipy.sparse.issparse(value) else value
        for key, value in contents.items()
    }


def _read_npz(path):
    """Read every array of a `.npz` archive into a dict."""
    if not path.is_file():
        raise InvalidInputError(f"File not found: tried {path}")
    # np.load also reads lazily, so both opening and reading members can fail;
    # InvalidInputError is a ValueError, hence the raise outside the try.
    try:
        archive = np.load(path, allow_pickle=False)
        if isinstance(archive, np.lib.npyio.NpzFile):
            with archive:
                return {key: archive[key] for key in archive.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        # For a file that is not a zip at all, numpy's own message speaks of
        # pickled data, which would send the user looking for the wrong fault.
        detail = error if zipfile.is_zipfile(path) else "it is not a zip archive"
        raise InvalidInputError(
            f"Could not read {path}: not a valid .npz archive of numeric "
            f"arrays ({detail})."
        ) from error
    raise InvalidInputError(
        f"Could not read {path}: it holds a single .npy array, not a .npz archive."
    )


def _pick(contents, keys, path):
    """Return the arrays stored under `keys`, naming any that are missing."""
    found = sorted(k for k in contents if not k.startswith("__"))
    missing = [k for k in keys if k not in found]
    if missing:
        raise InvalidInputError(
            f"{path} lacks the keys {missing}. Expected keys {list(keys)}; found "
            f"{found}."
        )
    for key in keys:
        if isinstance(contents[key], UnreadableVariable):
            raise InvalidInputError(
                f"{path}: `{key}` is {contents[key].description}, not a numeric "
                "array. Save features and labels as numeric matrices."
            )
    return [contents[k] for k in keys]


def _num_rows(array):
    """Return the number of rows of `array`, 0 for a scalar."""
    shape = np.shape(array)
    return shape[0] if shape else 0


def _is_id_vector(labels, num_pairs):
    """Tell whether `labels` is a vector of class ids, not a label matrix.

    MATLAB saves a vector as one column or one row, so `(n,)`, `(n, 1)` and
    `(1, n)` all count as ids; a single column is never a one-class matrix.
    """
    shape = np.shape(labels)
    return (
        len(shape) == 1
        or (len(shape) == 2 and shape[1] == 1)
        or (len(shape) == 2 and shape[0] == 1 and num_pairs > 1)
    )


def _to_multi_hot(labels_by_split, num_classes=None):
    """Convert labels (ids from 0, or 0/1 matrices) of each split to multi-hot.

    Args:
        labels_by_split: Dict from split name to `(labels, num_pairs)`; labels
            are ids `(n,)` / `(n, 1)` / `(1, n)` or a matrix `(n, C)`, and
            `num_pairs` tells a MATLAB row vector of ids from a one-row
            matrix.
        num_classes: Optional int. When None, the widest matrix or the largest
            id plus one, over all splits.

    Returns:
        Dict from split name to a float32 multi-hot array `(n, num_classes)`.
    """
    is_ids = {
        name: _is_id_vector(labels, num_pairs)
        for name, (labels, num_pairs) in labels_by_split.items()
    }
    if num_classes is None:
        # Infer over all splits at once: DSCMR's ind2vec infers per split,
        # which gives test fewer columns when its largest class is absent.
        widths = [1]
        for name, (labels, _) in labels_by_split.items():
            labels = np.asarray(labels)
            if not is_ids[name]:
                widths.append(labels.shape[-1])
            elif (
                labels.dtype.kind in "iuf" and labels.size and np.isfinite(labels).all()
            ):
                widths.append(int(labels.max()) + 1)
        num_classes = max(widths)
    converted = {}
    for name, (labels, _) in labels_by_split.items():
        with _about(f"{name} labels"):
            converted[name] = (
                labels_from_class_ids(labels, num_classes)
                if is_ids[name]
                else labels_from_multi_hot(labels)
            )
    return converted


def _dataset(name, where, splits, class_names=None, multi_label=None):
    """Build a dataset from `{"train": (images, texts, labels), "test": ...}`.

    A `"validation"` entry, when the file has one, becomes the dataset's
    validation split. `multi_label` is inferred from the labels when None.
    """
    built = {}
    for split, arrays in splits.items():
        with _about(f"{where} ({split} split)"):
            built[split] = PairedSplit(*arrays)
    if multi_label is None:
        multi_label = any(
            bool((s.labels.sum(axis=1) > 1).any()) for s in built.values()
        )
    with _about(where):
        return CrossModalDataset(
            name,
            built["train"],
            built["test"],
            multi_label,
            class_names,
            validation=built.get("validation"),
        )


def load_wikipedia_classic(data_dir=None):
    """Load the Wikipedia dataset with its classic SIFT / LDA features.

    2173 train and 693 test image-text pairs in 10 single-label classes, read
    from `wikiData.mat` (keys `I_tr`, `T_tr`, `L_tr`, `I_te`, `T_te`, `L_te`;
    labels are MATLAB class ids 1..10).

    Args:
        data_dir: Optional path. None reads the copy shipped with the package;
            otherwise `<data_dir>/wikipedia_classic/wikiData.mat` or
            `<data_dir>/wikiData.mat`, whichever exists (the first if both
            do). Defaults to None.

    Returns:
        `CrossModalDataset` named `"wikipedia_classic"` with images
        `(n, 128)`, texts `(n, 10)`, one-hot labels `(n, 10)` and
        `class_names` from art to warfare.

    Raises:
        InvalidInputError: If no file is found (the message lists the paths
            tried), it cannot be read, lacks a key, or holds inconsistent,
            non-finite or out-of-range values.

    Example:
    >>> data = load_wikipedia_classic()
    >>> data.train.num_pairs, data.test.num_pairs, data.num_classes
    (2173, 693, 10)

    Reference:
        Rasiwasia et al. "A new approach to cross-modal multimedia
        retrieval". ACM MM 2010.
    """
    if data_dir is None:
        resource = importlib.resources.files("cmgan_tf.data").joinpath(
            "resources", "wikipedia_classic", _WIKIPEDIA_FILE
        )
        # as_file gives a real path even when the package is installed zipped.
        with importlib.resources.as_file(resource) as path:
            return _wikipedia_from(path)
    directory = _as_directory(data_dir, "load_wikipedia_classic")
    candidates = [directory / "wikipedia_classic" / _WIKIPEDIA_FILE]
    candidates.append(directory / _WIKIPEDIA_FILE)
    for path in candidates:
        if path.is_file():
            return _wikipedia_from(path)
    raise InvalidInputError(
        f"{_WIKIPEDIA_FILE} not found: tried {', '.join(map(str, candidates))}"
    )


def _wikipedia_from(path):
    """Build the Wikipedia dataset from one `wikiData.mat`."""
    keys = ("I_tr", "T_tr", "L_tr", "I_te", "T_te", "L_te")
    images_tr, texts_tr, ids_tr, images_te, texts_te, ids_te = _pick(
        _read_mat(path), keys, path
    )
    labels = {}
    for split, ids in (("train", ids_tr), ("test", ids_te)):
        with _about(f"{path} ({split} labels)"):
            labels[split] = labels_from_class_ids(
                ids, len(WIKIPEDIA_CLASS_NAMES), first_id=1
            )
    return _dataset(
        "wikipedia_classic",
        path,
        {
            "train": (images_tr, texts_tr, labels["train"]),
            "test": (images_te, texts_te, labels["test"]),
        },
        class_names=WIKIPEDIA_CLASS_NAMES,
        multi_label=False,
    )


def load_dscmr_mat(data_dir):
    """Load features saved in the six-file MATLAB layout of the DSCMR code.

    The public DSCMR code base (github.com/penghu-cs/DSCMR, `load_data.py`)
    and code derived from it ship Pascal Sentences, Wikipedia, NUS-WIDE-10k
    and XMediaNet features as `train_img.mat`, `train_txt.mat`,
    `train_img_lab.mat`, `test_img.mat`, `test_txt.mat` and
    `test_img_lab.mat`, each holding one variable named after its file
    (`train_img`, ...). Labels there are class ids from 0 of shape `(n, 1)`,
    turned into one-hot with `num_classes = max id + 1`; one-hot or
    multi-hot `(n, C)` label matrices are accepted as well.

    Args:
        data_dir: Path of the directory holding the six files.

    Returns:
        `CrossModalDataset` named `"dscmr_mat"`, `multi_label` True when any
        pair has more than one label, and no class names.

    Raises:
        InvalidInputError: If `data_dir` is None or missing, a file is
            missing (all missing files are listed), unreadable or lacks its
            variable, or the arrays are inconsistent, non-finite, or hold
            negative or fractional ids.

    Example:
    >>> data = load_dscmr_mat("data/pascal")  # doctest: +SKIP
    >>> data.train.num_pairs, data.num_classes  # doctest: +SKIP
    (800, 20)

    Reference:
        Zhen, Hu, Wang, Peng. "Deep Supervised Cross-modal Retrieval".
        CVPR 2019.
    """
    directory = _as_directory(data_dir, "load_dscmr_mat")
    paths = {stem: directory / f"{stem}.mat" for stem in _DSCMR_STEMS}
    missing = [str(path) for path in paths.values() if not path.is_file()]
    if missing:
        raise InvalidInputError(
            f"DSCMR layout incomplete, file not found: tried {', '.join(missing)}"
        )
    arrays = {}
    for stem, path in paths.items():
        (arrays[stem],) = _pick(_read_mat(path), (stem,), path)
    with _about(directory):
        labels = _to_multi_hot(
            {
                split: (arrays[f"{split}_img_lab"], _num_rows(arrays[f"{split}_img"]))
                for split in ("train", "test")
            }
        )
    return _dataset(
        "dscmr_mat",
        directory,
        {
            split: (arrays[f"{split}_img"], arrays[f"{split}_txt"], labels[split])
            for split in ("train", "test")
        },
    )


def load_npz(path):
    """Load features from one plain NumPy `.npz` archive.

    The archive holds `train_images` `(n, image_dim)`, `train_texts`
    `(n, text_dim)`, `train_labels`, `test_images`, `test_texts`,
    `test_labels` and, optionally, `class_names` (str array `(C,)`). Labels
    are either int class ids from 0 of shape `(n,)` or 0/1 multi-hot
    matrices `(n, C)`. No pickled objects are read. Write one with:

    ```python
    np.savez(path, train_images=..., train_texts=..., train_labels=...,
             test_images=..., test_texts=..., test_labels=...,
             class_names=np.array(["cat", "dog"]))
    ```

    Args:
        path: Path of the `.npz` file.

    Returns:
        `CrossModalDataset` named after the file stem, `multi_label` True
        when any pair has more than one label. `num_classes` is
        `len(class_names)` when given, else the matrix width or largest id
        plus one.

    Raises:
        InvalidInputError: If the file is missing or not a readable `.npz`,
            lacks a key, or holds non-numeric, inconsistent, non-finite or
            out-of-range arrays.

    Example:
    >>> data = load_npz("features.npz")  # doctest: +SKIP
    >>> data.train.images.dtype  # doctest: +SKIP
    dtype('float32')
    """
    if path is None or not isinstance(path, str | os.PathLike):
        raise InvalidInputError(
            f"`load_npz` needs the path of a .npz file. Received: path={path!r}"
        )
    path = pathlib.Path(path)
    contents = _read_npz(path)
    arrays = dict(zip(_NPZ_KEYS, _pick(contents, _NPZ_KEYS, path), strict=True))
    with _about(path):
        class_names = _class_names(contents.get("class_names"))
        labels = _to_multi_hot(
            {
                split: (arrays[f"{split}_labels"], _num_rows(arrays[f"{split}_images"]))
                for split in ("train", "test")
            },
            num_classes=None if class_names is None else len(class_names),
        )
    return _dataset(
        path.stem,
        path,
        {
            split: (arrays[f"{split}_images"], arrays[f"{split}_texts"], labels[split])
            for split in ("train", "test")
        },
        class_names=class_names,
    )


def _class_names(value):
    """Return `class_names` from an archive as a tuple of str, or None."""
    if value is None:
        return None
    if value.ndim != 1 or value.dtype.kind not in "US":
        raise InvalidInputError(
            "`class_names` must be a 1-D array of str. Received dtype "
            f"{value.dtype} and shape {value.shape}."
        )
    return tuple(n.decode() if isinstance(n, bytes) else str(n) for n in value)
