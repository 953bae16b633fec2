"""Galleries: the embedded items of one modality that a retrieval signature ranks."""

import dataclasses

import numpy as np

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.autoencoder import MODALITIES

OTHER_MODALITY = {"image": "text", "text": "image"}


@dataclasses.dataclass(frozen=True)
class Gallery:
    """Items of one modality that a retrieval signature ranks.

    Attributes:
        modality: `"image"` or `"text"`.
        embeddings: `(n, dim)` float32 unit-norm representations.
        ids: `(n,)` ids returned for the items: int64 (for a dataset split,
            the item's index in the split) or strings (a gallery directory's
            ids, see `gallery_from_directory`).
    """

    modality: str
    embeddings: np.ndarray
    ids: np.ndarray

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise InvalidInputError(
                f"Gallery modality must be 'image' or 'text'. Received: "
                f"{self.modality!r}"
            )
        embeddings = np.asarray(self.embeddings)
        ids = np.asarray(self.ids)
        if (
            embeddings.ndim != 2
            or len(embeddings) == 0
            or not np.issubdtype(embeddings.dtype, np.number)
            or not np.isfinite(embeddings).all()
        ):
            raise InvalidInputError(
                f"The {self.modality} gallery's embeddings must be a non-empty "
                "(n, dim) array of finite numbers. Received: shape "
                f"{embeddings.shape}, dtype {embeddings.dtype}."
            )
        strings = ids.dtype.kind == "U"
        if ids.shape != (len(embeddings),) or not (
            strings or np.issubdtype(ids.dtype, np.integer)
        ):
            raise InvalidInputError(
                f"The {self.modality} gallery's ids must be ({len(embeddings)},) "
                f"integers or strings, one per embedding. Received: shape "
                f"{ids.shape}, dtype {ids.dtype}."
            )
        object.__setattr__(self, "embeddings", embeddings.astype(np.float32))
        object.__setattr__(self, "ids", ids if strings else ids.astype(np.int64))

    @property
    def dim(self):
        """Size of the embeddings."""
        return self.embeddings.shape[1]

    @property
    def ids_dtype(self):
        """`"string"` or `"int64"`: the dtype of the `ids` a retrieval returns."""
        return "string" if self.ids.dtype.kind == "U" else "int64"


def gallery_from_directory(directory):
    """Reads a gallery directory's embeddings as galleries with string ids.

    Args:
        directory: A `GalleryDirectory` (written by `cmgan-embed`).

    Returns:
        Dict from modality to `Gallery`, for the modalities it holds.
    """
    ids = np.asarray(directory.ids, dtype=str)
    return {
        m: Gallery(m, np.asarray(directory.embeddings(m)), ids)
        for m in directory.modalities
    }


def gallery_from_split(encoder, split, modality, batch_size=1024):
    """Embeds one modality of a dataset split as a gallery.

    Args:
        encoder: A `RetrievalEncoder` (a `CrossModalEncoder` or an
            `EnsembleEncoder`).
        split: A `PairedSplit` or `ImageCaptionSplit`.
        modality: `"image"` or `"text"`.
        batch_size: Inference batch size.

    Returns:
        `Gallery` whose ids are the items' indices in `split`.
    """
    inputs = split.images if modality == "image" else split.texts
    embeddings = encoder.predict_arrays(inputs, modality, batch_size=batch_size)
    return Gallery(modality, embeddings, np.arange(len(embeddings)))


def load_gallery_file(path):
    """Reads galleries from a `.npz` file of embeddings.

    The file holds `image_embeddings` and/or `text_embeddings`, each
    `(n, dim)`, and optionally `image_ids` / `text_ids`, each `(n,)` integers
    (default: `0 .. n-1`).

    Args:
        path: Path of the `.npz` file.

    Returns:
        Dict from modality to `Gallery`, for the modalities the file holds.

    Raises:
        InvalidInputError: If the file is missing or unreadable, holds neither
            embedding array, or an array is malformed.
    """
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError) as error:
        raise InvalidInputError(
            f"Could not read the gallery file {path}: {error}"
        ) from error
    galleries = {}
    for modality in MODALITIES:
        embeddings = arrays.get(f"{modality}_embeddings")
        if embeddings is not None:
            ids = arrays.get(f"{modality}_ids", np.arange(len(embeddings)))
            try:
                galleries[modality] = Gallery(modality, embeddings, ids)
            except InvalidInputError as error:
                raise InvalidInputError(f"{path}: {error}") from error
    if not galleries:
        raise InvalidInputError(
            f"The gallery file {path} holds neither `image_embeddings` nor "
            f"`text_embeddings`. Found: {sorted(arrays) or 'no arrays'}."
        )
    return galleries
