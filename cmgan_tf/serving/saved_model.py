"""SavedModels of a trained encoder, laid out for TensorFlow Serving.

A served model is a directory `<export_dir>/<model_name>/<version>/` holding a
SavedModel whose signatures are:

- `encode_image` (also `serving_default`): `images` -> `embeddings`;
- `encode_text`: `texts` -> `embeddings`;
- `retrieve_with_image`: `images` -> `ids`, `scores` of the `top_k` most
  similar items of the text gallery;
- `retrieve_with_text`: `texts` -> `ids`, `scores` of the image gallery;
- for models of pixels, `encode_image_bytes` and `retrieve_with_image_bytes`:
  the same from `image_bytes`, encoded PNG/JPEG/GIF/BMP files (base64 in REST
  JSON), decoded and resized in the graph.

Signature inputs are fixed in type, so a query of each modality has its own
retrieval signature. Ids are int64 for a dataset split or a `.npz` gallery,
strings for a gallery directory. Everything a request needs is in the graph:
image decoding, pixel scaling, the caption tokeniser and feature
standardisation, and checks that reject NaN/Inf features, captions with no
words and bytes that are not an image with a named error. TF Serving's
warm-up requests (`assets.extra/tf_serving_warmup_requests`) call every
signature once before the model serves.
"""

import dataclasses
import json
import os
import pathlib
import re
import tempfile

import keras
import numpy as np
import tensorflow as tf

from cmgan_tf.data.collection import decode_image
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.serving.staging import staged_directory
from cmgan_tf.serving.warmup import example_input, write_warmup_requests

MODALITIES = ("image", "text")
INPUT_NAMES = {"image": "images", "text": "texts"}
# TF Serving's REST API decodes `{"b64": ...}` values; the `_bytes` suffix is
# the convention that marks such an input.
IMAGE_BYTES_INPUT = "image_bytes"
_IMAGE_MAGIC_BYTES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM")
OTHER_MODALITY = {"image": "text", "text": "image"}
# TF Serving ignores `assets.extra/` apart from warm-up requests, so it is where
# the files that say how the model was made travel with it.
EXTRA_ASSETS = "assets.extra"
CONFIG_FILE = "cmgan_config.json"
SIGNATURES_FILE = "signatures.json"
MODELS_CONFIG_FILE = "models.config"
_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


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
        encoder: A `CrossModalEncoder`.
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


def serving_input_spec(encoder, modality):
    """Returns the `tf.TensorSpec` of one modality's serving input.

    Raw captions are `tf.string` `(batch,)`, raw images `tf.uint8`
    `(batch, height, width, 3)`, feature vectors `tf.float32` `(batch, dim)`.

    Args:
        encoder: A built `CrossModalEncoder`.
        modality: `"image"` or `"text"`.
    """
    shape = tuple(encoder.get_build_config()["input_shape"][modality])
    if modality == "text" and encoder.text_vectorizer is not None:
        dtype = tf.string
    elif len(shape) == 4:
        dtype = tf.uint8
    else:
        dtype = tf.float32
    return tf.TensorSpec((None, *shape[1:]), dtype, name=INPUT_NAMES[modality])


def _image_bytes_spec(encoder):
    """The `image_bytes` input of a pixel model, or `None` for features."""
    if serving_input_spec(encoder, "image").dtype != tf.uint8:
        return None
    return tf.TensorSpec((None,), tf.string, name=IMAGE_BYTES_INPUT)


def signature_inputs(encoder, galleries=None):
    """The signatures an export has: name -> `(query modality, input spec)`.

    `encode_{image,text}` always; for a pixel model, `encode_image_bytes`,
    which takes encoded images; `retrieve_with_{modality}` (and
    `retrieve_with_image_bytes`) when the other modality has a gallery.
    The first is also `serving_default`.

    Args:
        encoder: A built `CrossModalEncoder`.
        galleries: Optional dict from modality to `Gallery`.
    """
    image_bytes = _image_bytes_spec(encoder)
    inputs = {}
    for prefix in ("encode", "retrieve_with"):
        for modality in MODALITIES:
            if prefix == "retrieve_with" and OTHER_MODALITY[modality] not in (
                galleries or {}
            ):
                continue
            spec = serving_input_spec(encoder, modality)
            inputs[f"{prefix}_{modality}"] = (modality, spec)
            if modality == "image" and image_bytes is not None:
                inputs[f"{prefix}_image_bytes"] = (modality, image_bytes)
    return inputs


def _decoded(image_bytes, encoder):
    """Decodes a batch of encoded images in the graph, naming bad items."""
    image_shape = tuple(serving_input_spec(encoder, "image").shape[1:3])
    # `decode_image` fails on bytes of another format with a message that
    # does not name the input; the signatures check the formats' magic bytes
    # first. Damaged data past a valid header still fails in the decoder.
    known = tf.reduce_any(
        tf.stack(
            [
                tf.strings.substr(image_bytes, 0, len(magic)) == magic
                for magic in _IMAGE_MAGIC_BYTES
            ]
        ),
        axis=0,
    )
    check = tf.debugging.Assert(
        tf.reduce_all(known),
        [
            f"`{IMAGE_BYTES_INPUT}` holds an item that is not an encoded PNG, "
            "JPEG, GIF or BMP image; the first such item is at index",
            tf.argmin(tf.cast(known, tf.int32)),
        ],
    )
    with tf.control_dependencies([check]):
        return tf.map_fn(
            lambda contents: decode_image(contents, image_shape),
            image_bytes,
            fn_output_signature=tf.TensorSpec((*image_shape, 3), tf.uint8),
        )


def _queries(encoder, modality, inputs):
    """Encodes a request's inputs, with checks that name what it got wrong."""
    name = INPUT_NAMES[modality]
    if modality == "image" and inputs.dtype == tf.string:
        inputs = _decoded(inputs, encoder)
    if inputs.dtype == tf.string:
        token_ids = encoder.text_vectorizer(inputs)
        words = tf.reduce_sum(tf.cast(token_ids > 0, tf.int32), axis=1)
        check = tf.debugging.assert_positive(
            words,
            message=f"`{name}` holds a caption with no words (empty, whitespace "
            "or punctuation only)",
        )
    elif inputs.dtype.is_floating:
        check = tf.debugging.assert_all_finite(
            inputs, message=f"`{name}` holds NaN or Inf"
        )
    else:
        return encoder.encode(inputs, modality)
    with tf.control_dependencies([check]):
        return encoder.encode(tf.identity(inputs), modality)


def build_serving_archive(encoder, galleries=None, top_k=10):
    """Builds the `keras.export.ExportArchive` of an encoder's signatures.

    Args:
        encoder: A built `CrossModalEncoder`.
        galleries: Optional dict from modality to `Gallery`. A text gallery
            adds `retrieve_with_image`, an image gallery `retrieve_with_text`.
        top_k: Items each retrieval returns (at most the gallery's size).

    Returns:
        The `ExportArchive`, ready for `write_out`.
    """
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise InvalidInputError(
            f"`top_k` must be a positive integer. Received: top_k={top_k!r}"
        )
    archive = keras.export.ExportArchive()
    # Endpoints track the variables they use, but not lookup tables. The
    # encoder itself is not tracked: Keras would trace a default signature of
    # its generator with float inputs, which a token-id text trunk rejects.
    if encoder.text_vectorizer is not None:
        archive.track(encoder.text_vectorizer)

    gallery_variables = {}
    for modality, gallery in (galleries or {}).items():
        if gallery.dim != encoder_dim(encoder):
            raise InvalidInputError(
                f"The {gallery.modality} gallery's embeddings have {gallery.dim} "
                f"dimensions; the encoder's have {encoder_dim(encoder)}."
            )
        gallery_variables[modality] = (
            tf.Variable(
                gallery.embeddings, trainable=False, name=f"{modality}_gallery"
            ),
            tf.Variable(gallery.ids, trainable=False, name=f"{modality}_gallery_ids"),
        )

    def endpoint(name, modality):
        if name.startswith("encode"):
            return lambda inputs: {"embeddings": _queries(encoder, modality, inputs)}
        embeddings, ids = gallery_variables[OTHER_MODALITY[modality]]
        k = min(top_k, int(ids.shape[0]))

        def retrieve(inputs):
            # The representations are unit-norm: the dot product is the cosine.
            similarity = tf.matmul(
                _queries(encoder, modality, inputs), embeddings, transpose_b=True
            )
            best = tf.math.top_k(similarity, k=k)
            return {"ids": tf.gather(ids, best.indices), "scores": best.values}

        return retrieve

    # The first endpoint is also `serving_default`.
    for name, (modality, spec) in signature_inputs(encoder, galleries).items():
        archive.add_endpoint(name, endpoint(name, modality), input_signature=[spec])
    if gallery_variables:
        archive.add_variable_collection(
            "galleries", [v for pair in gallery_variables.values() for v in pair]
        )
    return archive


def encoder_dim(encoder):
    """Size of the representations an encoder returns."""
    if encoder.representation == "class_probabilities":
        return encoder.generator.num_classes
    return encoder.generator.common_dim


def signature_summary(encoder, galleries=None, top_k=10):
    """Describes the signatures' inputs and outputs, as `signatures.json` does.

    Returns:
        Dict from signature name to `{"inputs": {...}, "outputs": {...}}`,
        each tensor as `{"dtype": str, "shape": [int or None, ...]}`.
    """

    def tensor(dtype, shape):
        return {"dtype": dtype, "shape": list(shape)}

    summary = {}
    for name, (modality, spec) in signature_inputs(encoder, galleries).items():
        inputs = {spec.name: tensor(spec.dtype.name, spec.shape.as_list())}
        if name.startswith("encode"):
            outputs = {"embeddings": tensor("float32", (None, encoder_dim(encoder)))}
        else:
            gallery = galleries[OTHER_MODALITY[modality]]
            k = min(top_k, len(gallery.ids))
            outputs = {
                "ids": tensor(gallery.ids_dtype, (None, k)),
                "scores": tensor("float32", (None, k)),
            }
        summary[name] = {"inputs": inputs, "outputs": outputs}
    summary["serving_default"] = summary["encode_image"]
    return summary


def warmup_requests(encoder, galleries=None):
    """One valid request per signature: `{signature: {input name: array}}`."""
    vocabulary = (
        None
        if encoder.text_vectorizer is None
        else encoder.text_vectorizer.get_vocabulary()
    )
    return {
        name: {spec.name: example_input(spec, vocabulary)}
        for name, (_, spec) in signature_inputs(encoder, galleries).items()
    }


def export_saved_model(
    encoder, path, *, config=None, galleries=None, top_k=10, model_name="cmgan"
):
    """Writes the serving SavedModel of an encoder to `path`.

    Besides the SavedModel, `assets.extra/` receives `signatures.json` (see
    `signature_summary`), TF Serving's warm-up requests (one per signature,
    see `warmup`) and, given `config`, `cmgan_config.json`.

    Args:
        encoder: A built `CrossModalEncoder`.
        path: Directory to write; it must not exist or be empty.
        config: Optional `ExperimentConfig` the encoder was trained with.
        galleries: Optional dict from modality to `Gallery`.
        top_k: Items each retrieval returns.
        model_name: The name the model is served under (in the warm-up
            requests).
    """
    archive = build_serving_archive(encoder, galleries, top_k)
    archive.write_out(str(path), verbose=False)
    extra = pathlib.Path(path) / EXTRA_ASSETS
    extra.mkdir(exist_ok=True)
    summary = signature_summary(encoder, galleries, top_k)
    (extra / SIGNATURES_FILE).write_text(json.dumps(summary, indent=2) + "\n")
    write_warmup_requests(extra, warmup_requests(encoder, galleries), model_name)
    if config is not None:
        (extra / CONFIG_FILE).write_text(config.to_json() + "\n")


def next_version(model_root):
    """Returns 1 + the highest numeric version directory in `model_root`."""
    versions = [int(p.name) for p in _version_dirs(model_root)]
    return max(versions, default=0) + 1


def _version_dirs(model_root):
    root = pathlib.Path(model_root)
    if not root.is_dir():
        return []
    return [p for p in root.iterdir() if p.is_dir() and p.name.isdigit()]


def write_serving_version(
    encoder,
    export_dir,
    *,
    model_name="cmgan",
    version=None,
    overwrite=False,
    config=None,
    galleries=None,
    top_k=10,
    serving_base_path=None,
):
    """Adds a version of a model to a TensorFlow Serving model repository.

    The SavedModel is written into a hidden temporary directory beside the
    version directory and renamed into place only when complete. TF Serving
    loads numeric directories only, so it never sees a partial version, and a
    failure leaves nothing behind. `models.config` is then rewritten to list
    every model of `export_dir`.

    Args:
        encoder: A built `CrossModalEncoder`.
        export_dir: Root of the model repository.
        model_name: Name the model is served under.
        version: Positive int; `None` takes the next free number.
        overwrite: Replace an existing version. Defaults to `False`.
        config: Optional `ExperimentConfig`, saved with the model.
        galleries: Optional dict from modality to `Gallery`.
        top_k: Items each retrieval returns.
        serving_base_path: The path under which TF Serving sees `export_dir`
            (for example `/models` inside its Docker container); defaults to
            the absolute path of `export_dir`.

    Returns:
        `pathlib.Path` of the written version directory.

    Raises:
        InvalidInputError: On a bad name or version, an existing version
            without `overwrite`, or an export directory that cannot be written.
    """
    if not isinstance(model_name, str) or not _MODEL_NAME.match(model_name):
        raise InvalidInputError(
            "`model_name` must be letters, digits, '_', '.' or '-', starting "
            f"with a letter or digit. Received: model_name={model_name!r}"
        )
    if version is not None and (
        isinstance(version, bool) or not isinstance(version, int) or version < 1
    ):
        raise InvalidInputError(
            f"`version` must be a positive integer. Received: version={version!r}"
        )
    model_root = pathlib.Path(export_dir) / model_name
    target = model_root / str(version or next_version(model_root))
    if target.exists() and not overwrite:
        raise InvalidInputError(
            f"{target} already exists. Choose another --version or pass --overwrite."
        )
    created = _make_directories(model_root)
    try:
        with staged_directory(target, overwrite=overwrite) as staging:
            export_saved_model(
                encoder,
                staging,
                config=config,
                galleries=galleries,
                top_k=top_k,
                model_name=model_name,
            )
    except BaseException:
        for directory in reversed(created):
            if not any(directory.iterdir()):
                directory.rmdir()
        raise
    write_models_config(export_dir, serving_base_path)
    return target


def _make_directories(path):
    """Creates `path` and its parents; returns those created, outermost first."""
    missing = [p for p in (path, *path.parents) if not p.exists()][::-1]
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise InvalidInputError(
            f"Cannot create the export directory {path}: {error.strerror}."
        ) from error
    if not os.access(path, os.W_OK | os.X_OK):
        raise InvalidInputError(f"The export directory {path} is not writable.")
    return missing


def write_models_config(export_dir, serving_base_path=None):
    """Writes `<export_dir>/models.config` for `--model_config_file`.

    It lists every model directory of `export_dir` that holds at least one
    numeric version, in the text format of TF Serving's `ModelServerConfig`.

    Args:
        export_dir: Root of the model repository.
        serving_base_path: Where TF Serving sees `export_dir`; defaults to its
            absolute path.

    Returns:
        `pathlib.Path` of the file.
    """
    root = pathlib.Path(export_dir)
    base = serving_base_path or str(root.resolve())
    models = sorted(p.name for p in root.iterdir() if p.is_dir() and _version_dirs(p))
    entries = "".join(
        "  config {\n"
        f"    name: '{name}'\n"
        f"    base_path: '{base.rstrip('/')}/{name}'\n"
        "    model_platform: 'tensorflow'\n"
        "  }\n"
        for name in models
    )
    path = root / MODELS_CONFIG_FILE
    with tempfile.NamedTemporaryFile(
        "w", dir=root, prefix=".models.config-", delete=False
    ) as handle:
        handle.write(f"model_config_list {{\n{entries}}}\n")
    os.replace(handle.name, path)
    return path
