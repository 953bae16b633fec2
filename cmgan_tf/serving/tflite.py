"""TFLite encoders for on-device retrieval, run with the LiteRT runtime.

`export_tflite` writes one `.tflite` file per modality and variant:

- `float32`: the model as trained;
- `float16`: float16 weights, computed in float32 (half the size);
- `dynamic_int8`: int8 weights, activations quantised on the fly;
- `int8`: int8 weights and activations, calibrated on training inputs (a
  representative dataset); inputs and outputs stay float32 (uint8 for pixels).

The two 8-bit variants are refused for an encoder whose feature trunks hold a
Nyström kernel map (`supported_variants`).

Caption strings cannot enter a TFLite model that the stock LiteRT runtime
runs: lower-casing, punctuation stripping, splitting and the vocabulary lookup
of `TextVectorization` are TensorFlow ops (Flex) that the `ai-edge-litert`
interpreter does not include. The text encoder therefore takes
`(batch, sequence_length)` int32 token ids, and `vocabulary.txt` travels with
it; `tokenizer.CaptionTokenizer` turns strings into those ids exactly as the
Keras layer does. `litert.TFLiteEncoder` runs the files.
"""

import json
import os
import tempfile

import keras
import numpy as np
import tensorflow as tf

from cmgan_tf import file_io
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.autoencoder import MODALITIES
from cmgan_tf.serving import tflite_retrieval
from cmgan_tf.serving.gallery import OTHER_MODALITY
from cmgan_tf.serving.signatures import CONFIG_FILE, serving_input_spec

VARIANTS = ("float32", "float16", "dynamic_int8", "int8")
_EIGHT_BIT_VARIANTS = ("dynamic_int8", "int8")
MANIFEST_FILE = "manifest.json"
VOCABULARY_FILE = "vocabulary.txt"
# Calibration items for full-integer quantisation.
_CALIBRATION_ITEMS = 200


def tflite_input_spec(encoder, modality):
    """The `tf.TensorSpec` of a TFLite encoder's input.

    As `serving_input_spec`, except that raw captions are int32 token ids
    `(batch, sequence_length)`.
    """
    if modality == "text" and encoder.text_vectorizer is not None:
        length = encoder.text_vectorizer.get_config()["output_sequence_length"]
        return tf.TensorSpec((None, length), tf.int32, name="token_ids")
    return serving_input_spec(encoder, modality)


def supported_variants(encoder):
    """Returns the `VARIANTS` that keep an encoder's rankings.

    8-bit weights cannot hold a Nyström kernel map (`NystroemFeatureMap`):
    its projection `K_LL^(-1/2)` needs the precise cancellation of terms
    that differ by orders of magnitude, and int8 weights (quantised per
    output channel) lose it. A one-member `features` run on wikipedia_classic
    (seed 0, `cmgan-export --check_parity`): test MAP 0.321 / 0.247 in
    float32, 0.242 / 0.189 at `dynamic_int8` and 0.212 / 0.144 at `int8`;
    the same preset without its two maps lost at most 0.006 at 8 bits.
    """
    has_kernel_map = any(
        getattr(getattr(generator, f"{m}_trunk"), "kernel_map", None) is not None
        for generator in encoder.generators
        for m in MODALITIES
    )
    if has_kernel_map:
        return tuple(v for v in VARIANTS if v not in _EIGHT_BIT_VARIANTS)
    return VARIANTS


def convert_encoder(encoder, modality, variant, representative_inputs=None):
    """Converts one modality's encoder to a TFLite flatbuffer.

    Args:
        encoder: A built `RetrievalEncoder` (a `CrossModalEncoder` or an
            `EnsembleEncoder`).
        modality: `"image"` or `"text"`.
        variant: One of `VARIANTS`.
        representative_inputs: For `"int8"`, TFLite inputs of training items
            (token ids for raw captions) to calibrate activation ranges.

    Returns:
        The `.tflite` file's bytes.
    """
    if variant not in VARIANTS:
        raise InvalidInputError(
            f"Unknown TFLite variant {variant!r}. Known: {', '.join(VARIANTS)}."
        )
    if variant == "int8" and representative_inputs is None:
        raise InvalidInputError(
            "The int8 variant needs representative inputs to calibrate with."
        )
    spec = tflite_input_spec(encoder, modality)
    tokenized = spec.dtype == tf.int32
    archive = keras.export.ExportArchive()
    archive.add_endpoint(
        "encode",
        lambda inputs: {
            "embeddings": encoder.encode(inputs, modality, tokenized=tokenized)
        },
        input_signature=[spec],
    )
    with tempfile.TemporaryDirectory() as saved_model:
        # Converting a concrete function directly left some of the encoder's
        # variables unfrozen (READ_VARIABLE ops reading uninitialised
        # resources); the SavedModel path freezes all of them.
        archive.write_out(saved_model, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            saved_model, signature_keys=["encode"]
        )
        _configure(converter, variant, representative_inputs)
        return converter.convert()


def _configure(converter, variant, representative_inputs):
    """Sets a converter's optimisations for a variant."""
    if variant != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if variant == "int8":
        # Sliced first: training images may be files, decoded when indexed.
        items = np.asarray(representative_inputs[:_CALIBRATION_ITEMS])
        converter.representative_dataset = lambda: ([item[None]] for item in items)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]


def export_tflite(
    encoder,
    directory,
    *,
    variants=None,
    representative_inputs=None,
    overwrite=False,
    config=None,
    galleries=None,
    top_k=10,
):
    """Writes TFLite encoders of both modalities into a new directory.

    The directory receives `{modality}_{variant}.tflite` files, `manifest.json`
    (per file: modality, variant, input name, dtype and shape, output size,
    bytes), `vocabulary.txt` for raw captions and, given `config`,
    `cmgan_config.json`. It is filled beside its final place and renamed when
    complete, so a failure leaves nothing behind.

    Args:
        encoder: A built `RetrievalEncoder` (a `CrossModalEncoder` or an
            `EnsembleEncoder`).
        directory: Directory to create.
        variants: Subset of `VARIANTS`; default: `supported_variants`.
        representative_inputs: Dict from modality to training inputs (raw
            captions as strings), needed for `"int8"`.
        overwrite: Replace an existing directory.
        config: Optional `ExperimentConfig`, saved with the files.
        galleries: Optional dict from modality to `gallery.Gallery`: a
            text gallery adds `retrieve_with_image.tflite`, an image gallery
            `retrieve_with_text.tflite` (see `tflite_retrieval`), float32.
        top_k: Items each retrieve model returns.

    Returns:
        The manifest, a dict from file name to its description.
    """
    directory = str(directory)
    supported = supported_variants(encoder)
    if variants is None:
        variants = supported
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise InvalidInputError(
            f"TFLite variants must be a non-empty subset of {', '.join(VARIANTS)}. "
            f"Received: {list(variants)}"
        )
    lossy = [v for v in variants if v not in supported]
    if lossy:
        raise InvalidInputError(
            f"TFLite variants {lossy} would not keep this model's rankings: 8-bit "
            "weights cannot hold the Nyström kernel map of its feature trunk "
            "(--image_kernel_landmarks / --text_kernel_landmarks). Export "
            f"{', '.join(supported)}, or train without the kernel maps."
        )
    if file_io.exists(directory) and not overwrite:
        raise InvalidInputError(
            f"{directory} already exists. Choose another directory or pass --overwrite."
        )
    parent = os.path.dirname(directory.rstrip("/"))
    if not file_io.isdir(parent):
        raise InvalidInputError(f"{parent} is not an existing directory.")
    calibration = {}
    if "int8" in variants:
        if not representative_inputs:
            raise InvalidInputError(
                "The int8 variant needs representative inputs to calibrate with."
            )
        calibration = dict(representative_inputs)
        if encoder.text_vectorizer is not None:
            calibration["text"] = keras.ops.convert_to_numpy(
                encoder.tokenize(np.asarray(calibration["text"]))
            )
    manifest = {}
    with file_io.staged_directory(directory, overwrite=overwrite) as staging:
        for modality in MODALITIES:
            spec = tflite_input_spec(encoder, modality)
            for variant in variants:
                name = f"{modality}_{variant}.tflite"
                flatbuffer = convert_encoder(
                    encoder, modality, variant, calibration.get(modality)
                )
                file_io.write_bytes_atomically(file_io.join(staging, name), flatbuffer)
                manifest[name] = {
                    "modality": modality,
                    "variant": variant,
                    "input": {
                        "name": spec.name,
                        "dtype": spec.dtype.name,
                        "shape": spec.shape.as_list(),
                    },
                    "output_dim": encoder.output_dim,
                    "bytes": len(flatbuffer),
                }
                if spec.dtype == tf.int32:
                    manifest[name]["vocabulary"] = VOCABULARY_FILE
        for modality in MODALITIES:
            gallery = (galleries or {}).get(OTHER_MODALITY[modality])
            if gallery is None:
                continue
            spec = tflite_input_spec(encoder, modality)
            name = tflite_retrieval.RETRIEVE_FILE.format(modality=modality)
            model = tflite_retrieval.retrieval_model(
                encoder, modality, spec, gallery.embeddings, gallery.ids, top_k
            )
            path = file_io.write_bytes_atomically(file_io.join(staging, name), model)
            manifest[name] = {
                "modality": modality,
                "variant": "float32",
                "retrieves": gallery.modality,
                "gallery_size": len(gallery.ids),
                "top_k": min(top_k, len(gallery.ids)),
                "input": {
                    "name": spec.name,
                    "dtype": spec.dtype.name,
                    "shape": spec.shape.as_list(),
                },
                "associated_files": sorted(tflite_retrieval.associated_files(path)),
                "bytes": len(model),
            }
        if encoder.text_vectorizer is not None:
            vocabulary = encoder.text_vectorizer.get_vocabulary()
            file_io.write_text_atomically(
                file_io.join(staging, VOCABULARY_FILE),
                "".join(f"{token}\n" for token in vocabulary),
            )
        if config is not None:
            file_io.write_text_atomically(
                file_io.join(staging, CONFIG_FILE), config.to_json() + "\n"
            )
        file_io.write_text_atomically(
            file_io.join(staging, MANIFEST_FILE), json.dumps(manifest, indent=2) + "\n"
        )
    return manifest
