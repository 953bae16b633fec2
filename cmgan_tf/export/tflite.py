"""TFLite encoders for on-device retrieval, run with the LiteRT runtime.

`export_tflite` writes one `.tflite` file per modality and variant:

- `float32`: the model as trained;
- `float16`: float16 weights, computed in float32 (half the size);
- `dynamic_int8`: int8 weights, activations quantised on the fly;
- `int8`: int8 weights and activations, calibrated on training inputs (a
  representative dataset); inputs and outputs stay float32 (uint8 for pixels).

Caption strings cannot enter a TFLite model that the stock LiteRT runtime
runs: lower-casing, punctuation stripping, splitting and the vocabulary lookup
of `TextVectorization` are TensorFlow ops (Flex) that the `ai-edge-litert`
interpreter does not include. The text encoder therefore takes
`(batch, sequence_length)` int32 token ids, and `vocabulary.txt` travels with
it; `CaptionTokenizer` turns strings into those ids exactly as the Keras layer
does, and is short enough to port to the device's language.
"""

import json
import pathlib
import re
import tempfile

import keras
import numpy as np
import tensorflow as tf

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.export.saved_model import (
    MODALITIES,
    encoder_dim,
    serving_input_spec,
)
from cmgan_tf.export.staging import staged_directory

VARIANTS = ("float32", "float16", "dynamic_int8", "int8")
MANIFEST_FILE = "manifest.json"
VOCABULARY_FILE = "vocabulary.txt"
# Calibration items for full-integer quantisation.
_CALIBRATION_ITEMS = 200

# The standardisation of `TextVectorization(standardize=
# "lower_and_strip_punctuation", split="whitespace")`: `tf.strings.lower`
# lower-cases ASCII letters only, the punctuation class is Keras' own, and
# `tf.strings.split` splits on ASCII whitespace only.
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')
_WHITESPACE = re.compile(r"[ \t\n\v\f\r]+")


class CaptionTokenizer:
    """Turns captions into the token ids of the model's `TextVectorization`.

    Args:
        vocabulary: Tokens in id order: `""` (padding, id 0), `"[UNK]"`
            (out of vocabulary, id 1), then the words.
        sequence_length: Ids per caption; longer captions are truncated,
            shorter ones padded with 0.

    Example:
    >>> CaptionTokenizer(["", "[UNK]", "red", "circle"], 4)(["A red, RED circle!"])
    array([[1, 2, 2, 3]], dtype=int32)
    """

    def __init__(self, vocabulary, sequence_length):
        self.vocabulary = list(vocabulary)
        self.sequence_length = int(sequence_length)
        self._ids = {token: i for i, token in enumerate(self.vocabulary)}

    @classmethod
    def from_file(cls, path, sequence_length):
        """Reads `vocabulary.txt`: one token per line, in id order."""
        lines = pathlib.Path(path).read_text(encoding="utf-8").split("\n")
        return cls(lines[:-1] if lines[-1] == "" else lines, sequence_length)

    def __call__(self, texts):
        """Returns `(len(texts), sequence_length)` int32 token ids."""
        ids = np.zeros((len(texts), self.sequence_length), np.int32)
        for row, text in enumerate(texts):
            if isinstance(text, bytes):
                text = text.decode("utf-8")
            standardized = _PUNCTUATION.sub("", text.translate(_ASCII_LOWER))
            tokens = [t for t in _WHITESPACE.split(standardized) if t]
            tokens = tokens[: self.sequence_length]
            ids[row, : len(tokens)] = [self._ids.get(t, 1) for t in tokens]
        return ids


def tflite_input_spec(encoder, modality):
    """The `tf.TensorSpec` of a TFLite encoder's input.

    As `serving_input_spec`, except that raw captions are int32 token ids
    `(batch, sequence_length)`.
    """
    if modality == "text" and encoder.text_vectorizer is not None:
        length = encoder.text_vectorizer.get_config()["output_sequence_length"]
        return tf.TensorSpec((None, length), tf.int32, name="token_ids")
    return serving_input_spec(encoder, modality)


def tokenized_texts(encoder, texts):
    """Token ids of captions for a TFLite text encoder, via the Keras layer."""
    return np.asarray(encoder.text_vectorizer(np.asarray(texts)), np.int32)


def convert_encoder(encoder, modality, variant, representative_inputs=None):
    """Converts one modality's encoder to a TFLite flatbuffer.

    Args:
        encoder: A built `CrossModalEncoder`.
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
        items = np.asarray(representative_inputs)[:_CALIBRATION_ITEMS]
        converter.representative_dataset = lambda: ([item[None]] for item in items)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]


def export_tflite(
    encoder,
    directory,
    *,
    variants=VARIANTS,
    representative_inputs=None,
    overwrite=False,
    config=None,
):
    """Writes TFLite encoders of both modalities into a new directory.

    The directory receives `{modality}_{variant}.tflite` files, `manifest.json`
    (per file: modality, variant, input name, dtype and shape, output size,
    bytes), `vocabulary.txt` for raw captions and, given `config`,
    `cmgan_config.json`. It is filled beside its final place and renamed when
    complete, so a failure leaves nothing behind.

    Args:
        encoder: A built `CrossModalEncoder`.
        directory: Directory to create.
        variants: Subset of `VARIANTS`.
        representative_inputs: Dict from modality to training inputs (raw
            captions as strings), needed for `"int8"`.
        overwrite: Replace an existing directory.
        config: Optional `ExperimentConfig`, saved with the files.

    Returns:
        The manifest, a dict from file name to its description.
    """
    directory = pathlib.Path(directory)
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or not variants:
        raise InvalidInputError(
            f"TFLite variants must be a non-empty subset of {', '.join(VARIANTS)}. "
            f"Received: {list(variants)}"
        )
    if directory.exists() and not overwrite:
        raise InvalidInputError(
            f"{directory} already exists. Choose another directory or pass --overwrite."
        )
    if not directory.parent.is_dir():
        raise InvalidInputError(f"{directory.parent} is not an existing directory.")
    calibration = {}
    if "int8" in variants:
        if not representative_inputs:
            raise InvalidInputError(
                "The int8 variant needs representative inputs to calibrate with."
            )
        calibration = dict(representative_inputs)
        if encoder.text_vectorizer is not None:
            calibration["text"] = tokenized_texts(encoder, calibration["text"])
    manifest = {}
    with staged_directory(directory, overwrite=overwrite) as staging:
        for modality in MODALITIES:
            spec = tflite_input_spec(encoder, modality)
            for variant in variants:
                name = f"{modality}_{variant}.tflite"
                flatbuffer = convert_encoder(
                    encoder, modality, variant, calibration.get(modality)
                )
                (staging / name).write_bytes(flatbuffer)
                manifest[name] = {
                    "modality": modality,
                    "variant": variant,
                    "input": {
                        "name": spec.name,
                        "dtype": spec.dtype.name,
                        "shape": spec.shape.as_list(),
                    },
                    "output_dim": encoder_dim(encoder),
                    "bytes": len(flatbuffer),
                }
                if spec.dtype == tf.int32:
                    manifest[name]["vocabulary"] = VOCABULARY_FILE
        if encoder.text_vectorizer is not None:
            vocabulary = encoder.text_vectorizer.get_vocabulary()
            (staging / VOCABULARY_FILE).write_text(
                "".join(f"{token}\n" for token in vocabulary), encoding="utf-8"
            )
        if config is not None:
            (staging / "cmgan_config.json").write_text(config.to_json() + "\n")
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


class TFLiteEncoder:
    """Runs a TFLite encoder with the LiteRT interpreter.

    Args:
        path: A `.tflite` file.
        num_threads: Interpreter threads. Defaults to 1.

    Call arguments:
        inputs: `(batch, ...)` array of the model's input dtype and shape
            (see `manifest.json`).

    Returns:
        `(batch, dim)` float32 embeddings.
    """

    def __init__(self, path, num_threads=1):
        from ai_edge_litert.interpreter import Interpreter

        try:
            self.interpreter = Interpreter(
                model_path=str(path), num_threads=int(num_threads)
            )
        except (ValueError, RuntimeError) as error:
            raise InvalidInputError(f"Could not load {path}: {error}") from error
        self._input = self.interpreter.get_input_details()[0]
        self._output = self.interpreter.get_output_details()[0]
        self._batch = None

    @property
    def input_dtype(self):
        """NumPy dtype of the input."""
        return np.dtype(self._input["dtype"])

    @property
    def input_shape(self):
        """Input shape, `None` for the batch dimension."""
        return (None, *self._input["shape_signature"][1:].tolist())

    def __call__(self, inputs):
        inputs = np.asarray(inputs)
        expected = self.input_shape
        if inputs.ndim != len(expected) or inputs.shape[1:] != expected[1:]:
            readable = ", ".join(str(d) for d in ("batch", *expected[1:]))
            raise InvalidInputError(
                f"Inputs must have shape ({readable}). Received: {inputs.shape}."
            )
        if inputs.dtype != self.input_dtype:
            raise InvalidInputError(
                f"Inputs must be {self.input_dtype}. Received: {inputs.dtype}."
            )
        if len(inputs) == 0:
            raise InvalidInputError("Inputs are an empty batch.")
        if self._batch != len(inputs):
            self.interpreter.resize_tensor_input(self._input["index"], inputs.shape)
            self.interpreter.allocate_tensors()
            self._batch = len(inputs)
        self.interpreter.set_tensor(self._input["index"], inputs)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self._output["index"]).copy()
