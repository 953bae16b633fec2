"""The signatures of a trained encoder's SavedModel, as TensorFlow Serving serves them.

- `encode_image` (also `serving_default`): `images` -> `embeddings`;
- `encode_text`: `texts` -> `embeddings`;
- `retrieve_with_image`: `images` -> `ids`, `scores` of the `top_k` most
  similar items of the text gallery;
- `retrieve_with_text`: `texts` -> `ids`, `scores` of the image gallery.

Signature inputs are fixed in type, so a query of each modality has its own
retrieval signature. Everything a request needs is in the graph: pixel scaling,
the caption tokeniser and feature standardisation, and checks that reject
NaN/Inf features and captions with no words with a named error.
"""

import json

import keras
import tensorflow as tf

from cmgan_tf import file_io
from cmgan_tf.checks import check_positive_int
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.autoencoder import MODALITIES
from cmgan_tf.serving.gallery import OTHER_MODALITY

INPUT_NAMES = {"image": "images", "text": "texts"}
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


def _encode_checked(encoder, inputs, modality):
    """Encodes a request's inputs behind graph checks that name what it got wrong.

    Returns:
        `(batch, dim)` unit-norm representations.
    """
    name = INPUT_NAMES[modality]
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
        encoder: A built `CrossModalEncoder`.
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

    def encoding(modality):
        def encode(inputs):
            return {"embeddings": _encode_checked(encoder, inputs, modality)}

        return encode

    # The first endpoint is also `serving_default`.
    for modality in MODALITIES:
        archive.add_endpoint(
            f"encode_{modality}",
            encoding(modality),
            input_signature=[serving_input_spec(encoder, modality)],
        )

    gallery_variables = []
    for query_modality in MODALITIES:
        gallery = (galleries or {}).get(OTHER_MODALITY[query_modality])
        if gallery is None:
            continue
        if gallery.dim != encoder_dim(encoder):
            raise InvalidInputError(
                f"The {gallery.modality} gallery's embeddings have {gallery.dim} "
                f"dimensions; the encoder's have {encoder_dim(encoder)}."
            )
        embeddings = tf.Variable(
            gallery.embeddings, trainable=False, name=f"{gallery.modality}_gallery"
        )
        ids = tf.Variable(
            gallery.ids, trainable=False, name=f"{gallery.modality}_gallery_ids"
        )
        gallery_variables += [embeddings, ids]
        archive.add_endpoint(
            f"retrieve_with_{query_modality}",
            _retrieval(encoder, query_modality, embeddings, ids, top_k),
            input_signature=[serving_input_spec(encoder, query_modality)],
        )
    if gallery_variables:
        archive.add_variable_collection("galleries", gallery_variables)
    return archive


def _retrieval(encoder, modality, embeddings, ids, top_k):
    """Returns the function ranking a gallery for queries of `modality`."""
    k = min(top_k, int(ids.shape[0]))

    def retrieve(inputs):
        queries = _encode_checked(encoder, inputs, modality)
        # The representations are unit-norm: the dot product is the cosine.
        similarity = tf.matmul(queries, embeddings, transpose_b=True)
        best = tf.math.top_k(similarity, k=k)
        return {"ids": tf.gather(ids, best.indices), "scores": best.values}

    return retrieve


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

    dim = encoder_dim(encoder)
    summary = {}
    for modality in MODALITIES:
        spec = serving_input_spec(encoder, modality)
        inputs = {spec.name: tensor(spec.dtype.name, spec.shape.as_list())}
        summary[f"encode_{modality}"] = {
            "inputs": inputs,
            "outputs": {"embeddings": tensor("float32", (None, dim))},
        }
        gallery = (galleries or {}).get(OTHER_MODALITY[modality])
        if gallery is not None:
            k = min(top_k, len(gallery.ids))
            summary[f"retrieve_with_{modality}"] = {
                "inputs": inputs,
                "outputs": {
                    "ids": tensor("int64", (None, k)),
                    "scores": tensor("float32", (None, k)),
                },
            }
    summary["serving_default"] = summary["encode_image"]
    return summary


def export_saved_model(encoder, path, *, config=None, galleries=None, top_k=10):
    """Writes the serving SavedModel of an encoder to `path`.

    Besides the SavedModel, `assets.extra/` receives `signatures.json` (see
    `signature_summary`) and, given `config`, `cmgan_config.json`.

    Args:
        encoder: A built `CrossModalEncoder`.
        path: Directory to write; it must not exist or be empty.
        config: Optional `ExperimentConfig` the encoder was trained with.
        galleries: Optional dict from modality to `Gallery`.
        top_k: Items each retrieval returns.
    """
    archive = build_serving_archive(encoder, galleries, top_k)
    archive.write_out(str(path), verbose=False)
    extra = file_io.join(path, EXTRA_ASSETS)
    tf.io.gfile.makedirs(extra)
    summary = signature_summary(encoder, galleries, top_k)
    file_io.write_text_atomically(
        file_io.join(extra, SIGNATURES_FILE), json.dumps(summary, indent=2) + "\n"
    )
    if config is not None:
        file_io.write_text_atomically(
            file_io.join(extra, CONFIG_FILE), config.to_json() + "\n"
        )
