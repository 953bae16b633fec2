"""On-device retrieval: one TFLite model per query modality, gallery inside.

`retrieve_with_{modality}.tflite` runs the query encoder, the dot product
with the gallery's embeddings (a constant of the model) and top-k, and
returns `rows` (int32 gallery rows, best first) and `scores`. Everything an
app needs to turn rows into answers travels inside the same file, as TFLite
*associated files*: a zip archive appended to the flatbuffer, which the
interpreter ignores and any zip reader (Python's `zipfile`, Java's
`ZipFile`, the TFLite Support `MetadataExtractor`) lists:

- `ids.txt`: the gallery's string ids, one per line, in row order;
- for raw captions, `vocabulary.txt` (tokens in id order) and
  `tokenizer.json`, the tokenisation rule the model was trained with (see
  `tokenizer.CaptionTokenizer`): the text model takes token ids, because the
  string ops of `TextVectorization` are not LiteRT builtins.

Why associated files and no TFLite metadata: the metadata writer
(`tflite-support` 0.4.4, its last release) requires protobuf < 4, which
TensorFlow 2.21 cannot run with, and MediaPipe's metadata writers describe a
tokeniser only as a regular-expression split (`RegexTokenizer`), which cannot
state Keras' lower-casing and punctuation stripping, so the metadata would
describe another rule than the model's. The associated files are what the
metadata populator itself packs (an appended zip), written with `zipfile`.
"""

import io
import json
import tempfile
import zipfile

import keras
import numpy as np
import tensorflow as tf

from cmgan_tf.serving.tokenizer import TOKENIZER_RULE

RETRIEVE_FILE = "retrieve_with_{modality}.tflite"
IDS_FILE = "ids.txt"
VOCABULARY_FILE = "vocabulary.txt"
TOKENIZER_FILE = "tokenizer.json"
SIGNATURE = "retrieve"


def convert_retrieval(encoder, modality, spec, embeddings, top_k):
    """Converts encoder + gallery + top-k to a float32 TFLite flatbuffer.

    Args:
        encoder: A built `RetrievalEncoder` (a `CrossModalEncoder` or an
            `EnsembleEncoder`).
        modality: The query modality, `"image"` or `"text"`.
        spec: The query input's `tflite.tflite_input_spec`.
        embeddings: `(n, dim)` float32 gallery embeddings.
        top_k: Hits per query; at most `n`.

    Returns:
        The `.tflite` bytes, with signature `retrieve`: input `spec`, outputs
        `rows` `(batch, k)` int32 and `scores` `(batch, k)` float32.
    """
    tokenized = spec.dtype == tf.int32
    gallery = tf.constant(np.asarray(embeddings, np.float32))
    k = min(int(top_k), int(gallery.shape[0]))

    def retrieve(inputs):
        queries = encoder.encode(inputs, modality, tokenized=tokenized)
        similarity = tf.matmul(queries, gallery, transpose_b=True)
        best = tf.math.top_k(similarity, k=k)
        return {"rows": best.indices, "scores": best.values}

    archive = keras.export.ExportArchive()
    archive.add_endpoint(SIGNATURE, retrieve, input_signature=[spec])
    with tempfile.TemporaryDirectory() as directory:
        # The SavedModel path freezes every variable (see `convert_encoder`).
        archive.write_out(directory, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(
            directory, signature_keys=[SIGNATURE]
        )
        return converter.convert()


def with_associated_files(flatbuffer, files):
    """Appends files to a TFLite flatbuffer as a zip archive.

    Args:
        flatbuffer: `.tflite` bytes.
        files: Dict from file name to `bytes` or `str` (UTF-8).

    Returns:
        The model's bytes with the archive appended; offsets are from the
        start of the model, as the TFLite metadata populator writes them.
    """
    buffer = io.BytesIO(flatbuffer)
    buffer.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_STORED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def associated_files(path):
    """Reads the associated files of a `.tflite` file: dict name -> bytes."""
    with tf.io.gfile.GFile(str(path), "rb") as handle:
        contents = io.BytesIO(handle.read())
    with zipfile.ZipFile(contents) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def retrieval_model(encoder, modality, spec, embeddings, ids, top_k):
    """A complete `retrieve_with_{modality}.tflite`: model and its files.

    Args:
        encoder: A built `RetrievalEncoder` (a `CrossModalEncoder` or an
            `EnsembleEncoder`).
        modality: The query modality.
        spec: The query input's `tflite.tflite_input_spec`.
        embeddings: `(n, dim)` gallery embeddings of the other modality (or
            of the same one, for a gallery with one modality).
        ids: `n` string ids, in row order.
        top_k: Hits per query.

    Returns:
        The file's bytes.
    """
    files = {IDS_FILE: "".join(f"{i}\n" for i in ids)}
    if spec.dtype == tf.int32:
        files[VOCABULARY_FILE] = "".join(
            f"{token}\n" for token in encoder.text_vectorizer.get_vocabulary()
        )
        files[TOKENIZER_FILE] = json.dumps(
            {**TOKENIZER_RULE, "sequence_length": int(spec.shape[1])}, indent=2
        )
    return with_associated_files(
        convert_retrieval(encoder, modality, spec, embeddings, top_k), files
    )
