"""The signatures of a trained encoder's SavedModel, as TensorFlow Serving serves them.

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

import json

import keras
import tensorflow as tf

from cmgan_tf import file_io
from cmgan_tf.checks import check_positive_int
from cmgan_tf.data.image_stream import decode_image
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.autoencoder import MODALITIES
from cmgan_tf.serving.gallery import OTHER_MODALITY
from cmgan_tf.serving.warmup import example_input, write_warmup_requests

INPUT_NAMES = {"image": "images", "text": "texts"}
# TF Serving's REST API decodes `{"b64": ...}` values; the `_bytes` suffix is
# the convention that marks such an input.
IMAGE_BYTES_INPUT = "image_bytes"
_IMAGE_MAGIC_BYTES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF8", b"BM")
# TF Serving ignores `assets.extra/` apart from warm-up requests, so it is where
# the files that say how the model was made travel with it.
EXTRA_ASSETS = "assets.extra"
CONFIG_FILE = "cmgan_config.json"
SIGNATURES_FILE = "signatures.json"


def serving_input_spec(encoder, modality):
    """Returns the `tf.TensorSpec` of one modality's serving input.

    Raw captions are `tf.string` `(batch,)`, raw images `tf.uint8`
    `(batch, height, width, 3)`, feature vectors `tf.float32` `(batch, dim)`.

    Args:
        encoder: A built `RetrievalEncoder` (a `CrossModalEncoder` or an
            `EnsembleEncoder`).
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
        encoder: A built `RetrievalEncoder` (a `CrossModalEncoder` or an
            `EnsembleEncoder`).
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
            inputs[f"{prefix}_{modality}"] = (
                modality,
                serving_input_spec(encoder, modality),
            )
            if modality == "image" and image_bytes is not None:
                inputs[f"{prefix}_image_bytes"] = (modality, image_bytes)
    return inputs


def _decoded(image_bytes, encoder):
    """Decodes a batch of encoded images in the graph, naming bad items."""
    image_shape = tuple(serving_input_spec(encoder, "image").shape[1:3])
    # `decode_image` fails on bytes of another format with a message that
    # does not name the input; the formats' magic bytes are checked first.
    # Damaged data behind a valid header still fails in the decoder.
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


def _encode_checked(encoder, inputs, modality):
    """Encodes a request's inputs behind graph checks that name what it got wrong.

    Returns:
        `(batch, dim)` unit-norm representations.
    """
    name = INPUT_NAMES[modality]
    if modality == "image" and inputs.dtype == tf.string:
        inputs = _decoded(inputs, encoder)
    tokenized = inputs.dtype == tf.string
    if tokenized:
        inputs = encoder.tokenize(inputs)
        words = tf.reduce_sum(tf.cast(inputs > 0, tf.int32), axis=1)
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
        check = tf.no_op()
    with tf.control_dependencies([check]):
        inputs = tf.identity(inputs)
    return encoder.encode(inputs, modality, tokenized=tokenized)


def build_serving_archive(encoder, galleries=None, top_k=10):
    """Builds the `keras.export.ExportArchive` of an encoder's signatures.

    Args:
        encoder: A built `RetrievalEncoder` (a `CrossModalEncoder` or an
            `EnsembleEncoder`).
        galleries: Optional dict from modality to `Gallery`. A text gallery
            adds `retrieve_with_image`, an image gallery `retrieve_with_text`.
        top_k: Items each retrieval returns (at most the gallery's size).

    Returns:
        The `ExportArchive`, ready for `write_out`.
    """
    check_positive_int("top_k", top_k)
    archive = keras.export.ExportArchive()
    # Endpoints track the variables they use, but not lookup tables. The
    # encoder itself is not tracked: Keras would trace a default signature of
    # its generator with float inputs, which a token-id text trunk rejects.
    if encoder.text_vectorizer is not None:
        archive.track(encoder.text_vectorizer)

    gallery_variables = {}
    for modality, gallery in (galleries or {}).items():
        if gallery.dim != encoder.output_dim:
            raise InvalidInputError(
                f"The {gallery.modality} gallery's embeddings have {gallery.dim} "
                f"dimensions; the encoder's have {encoder.output_dim}."
            )
        gallery_variables[modality] = (
            tf.Variable(
                gallery.embeddings, trainable=False, name=f"{modality}_gallery"
            ),
            tf.Variable(gallery.ids, trainable=False, name=f"{modality}_gallery_ids"),
        )

    def endpoint(name, modality):
        if name.startswith("encode"):
            return lambda inputs: {
                "embeddings": _encode_checked(encoder, inputs, modality)
            }
        embeddings, ids = gallery_variables[OTHER_MODALITY[modality]]
        k = min(top_k, int(ids.shape[0]))

        def retrieve(inputs):
            queries = _encode_checked(encoder, inputs, modality)
            # The representations are unit-norm: the dot product is the cosine.
            similarity = tf.matmul(queries, embeddings, transpose_b=True)
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
            outputs = {"embeddings": tensor("float32", (None, encoder.output_dim))}
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
        encoder: A built `RetrievalEncoder` (a `CrossModalEncoder` or an
            `EnsembleEncoder`).
        path: Directory to write; it must not exist or be empty.
        config: Optional `ExperimentConfig` the encoder was trained with.
        galleries: Optional dict from modality to `Gallery`.
        top_k: Items each retrieval returns.
        model_name: The name the model is served under (in the warm-up
            requests).
    """
    archive = build_serving_archive(encoder, galleries, top_k)
    archive.write_out(str(path), verbose=False)
    extra = file_io.join(path, EXTRA_ASSETS)
    tf.io.gfile.makedirs(extra)
    summary = signature_summary(encoder, galleries, top_k)
    file_io.write_text_atomically(
        file_io.join(extra, SIGNATURES_FILE), json.dumps(summary, indent=2) + "\n"
    )
    write_warmup_requests(extra, warmup_requests(encoder, galleries), model_name)
    if config is not None:
        file_io.write_text_atomically(
            file_io.join(extra, CONFIG_FILE), config.to_json() + "\n"
        )
