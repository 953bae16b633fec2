"""Dataset names, as a command line spells them, mapped to their loaders."""

import os
import pathlib
import types

from cmgan_tf.data import demo, image_captions, loaders, peer_formats, tfds_captions
from cmgan_tf.errors import InvalidInputError

NPZ_FILE_NAME = "features.npz"


def _load_npz_file_or_directory(data_dir):
    """Load `data_dir` if it is a `.npz` file, else `<data_dir>/features.npz`."""
    if isinstance(data_dir, str | os.PathLike) and pathlib.Path(data_dir).is_dir():
        data_dir = pathlib.Path(data_dir) / NPZ_FILE_NAME
    return loaders.load_npz(data_dir)


def _load_shapes(data_dir):
    """The generated shapes dataset; it has no files, so `data_dir` must be None."""
    if data_dir is not None:
        raise InvalidInputError(
            "Dataset 'shapes' is generated, not read: leave out --data_dir. "
            f"Received: data_dir={data_dir!r}"
        )
    return demo.load_shapes()


DATASETS = types.MappingProxyType(
    {
        "image_captions": image_captions.load_image_captions,
        "shapes": _load_shapes,
        "wikipedia_classic": loaders.load_wikipedia_classic,
        "dscmr_mat": loaders.load_dscmr_mat,
        "npz": _load_npz_file_or_directory,
        "tfds": tfds_captions.load_tfds_captions,
        "sdml_h5": peer_formats.load_sdml_h5,
        "xmedia_mat": peer_formats.load_xmedia_mat,
        "mrl_mat": peer_formats.load_mrl_mat,
    }
)
"""Read-only mapping from dataset name to a loader taking `data_dir`."""

# What `data_dir` must point at, for the datasets that cannot do without one.
_DATA_DIR_NEEDED = types.MappingProxyType(
    {
        "dscmr_mat": "the directory holding train_img.mat, train_txt.mat, "
        "train_img_lab.mat, test_img.mat, test_txt.mat and test_img_lab.mat",
        "npz": f"a .npz file, or a directory holding {NPZ_FILE_NAME}",
        "image_captions": "the directory holding train.tsv, test.tsv and the "
        "images (see cmgan_tf.data.image_captions)",
        "sdml_h5": "the SDML / MRL .h5py file, or a directory holding just one "
        ".h5py, .h5 or .hdf5 file",
        "xmedia_mat": "the PKU XMedia .mat file (XMediaFeatures.mat), or a "
        "directory holding just one .mat file",
        "mrl_mat": "the .mat file with tr_img, tr_txt, tr_img_lab, tr_txt_lab, "
        "te_... and optionally val_... keys, or a directory holding just one "
        ".mat file",
    }
)


# The datasets whose images are resized on loading.
_RESIZES_IMAGES = frozenset({"image_captions", "tfds"})


def dataset_names():
    """Return the names `load_dataset` accepts.

    Returns:
        Sorted tuple of str.

    Example:
    >>> dataset_names()
    ('dscmr_mat', 'image_captions', 'mrl_mat', 'npz', 'sdml_h5', 'shapes', 'tfds', \
'wikipedia_classic', 'xmedia_mat')
    """
    return tuple(sorted(DATASETS))


def load_dataset(name, data_dir=None, *, image_size=None, tfds_options=None):
    """Load a dataset by name.

    Args:
        name: str, one of `dataset_names()`:
            `"wikipedia_classic"` (classic Wikipedia features; `data_dir`
            optional, None reads the copy shipped with the package),
            `"dscmr_mat"` (`data_dir` is the directory of the six DSCMR
            `.mat` files), `"npz"` (`data_dir` is the `.npz` file itself,
            or a directory holding `features.npz`), `"shapes"` (generated,
            no `data_dir`), `"image_captions"` (see
            `cmgan_tf.data.image_captions`), `"tfds"` (a prepared TFDS
            dataset; `data_dir` is the TFDS data directory, None its default),
            or a peer project's feature file, `"sdml_h5"`, `"xmedia_mat"` or
            `"mrl_mat"` (`data_dir` is the file, or a directory holding just
            that file; see `cmgan_tf.data.peer_formats`).
        data_dir: Optional path, as described under `name`. Defaults to None.
        image_size: Side that images are resized to, for datasets of
            full-size images (`"image_captions"`, `"tfds"`); `None` keeps the
            loader's default. Other datasets ignore it.
        tfds_options: Dict of the keyword arguments of
            `cmgan_tf.data.tfds_captions.load_tfds_captions` (`tfds_name`,
            required, and optionally `image_key`, `caption_key`, `label_key`,
            `train_split`, `test_split`). Required by `"tfds"`, refused by
            the other datasets. Defaults to None.

    Returns:
        `CrossModalDataset`.

    Raises:
        InvalidInputError: If `name` is unknown (the message lists the known
            names), the dataset needs `data_dir` and got None, `tfds_options`
            is missing for `"tfds"` or given for another dataset, or the
            dataset's files are missing or invalid.

    Example:
    >>> data = load_dataset("wikipedia_classic")
    >>> data.image_dim, data.text_dim
    (128, 10)
    """
    if name not in DATASETS:
        raise InvalidInputError(
            f"Unknown dataset {name!r}. Known datasets: {', '.join(dataset_names())}."
        )
    if data_dir is None and name in _DATA_DIR_NEEDED:
        raise InvalidInputError(
            f"Dataset {name!r} needs `data_dir`: {_DATA_DIR_NEEDED[name]}. "
            "Received: data_dir=None"
        )
    if (name == "tfds") != (tfds_options is not None):
        raise InvalidInputError(
            "`tfds_options` (the TFDS name and feature keys) go with dataset "
            f"'tfds' and only with it. Received: name={name!r}, "
            f"tfds_options={tfds_options!r}"
        )
    options = dict(tfds_options or {})
    if image_size is not None and name in _RESIZES_IMAGES:
        options["image_size"] = image_size
    return DATASETS[name](data_dir, **options)
