"""TF Serving warm-up requests, so that the first real request is not slow.

TF Serving replays `assets.extra/tf_serving_warmup_requests`, a TFRecord file
of `PredictionLog`s, when it loads a version and before it serves it: every
signature's graph is then traced, its kernels picked and its lookup tables
and gallery variables read once. A request that fails makes the version fail
to load, so the example inputs must pass the signatures' checks (a caption
with words, decodable image bytes).
"""

import os

import numpy as np
import tensorflow as tf

WARMUP_FILE = "tf_serving_warmup_requests"


def example_input(spec, vocabulary=None):
    """One valid request item for a signature input.

    Args:
        spec: The input's `tf.TensorSpec`, with `None` as the batch size;
            a string input named `*_bytes` takes encoded images, another
            one captions.
        vocabulary: For captions, the tokens of the model's vocabulary.

    Returns:
        A NumPy array with a batch of one.
    """
    shape = (1, *spec.shape[1:])
    if spec.dtype == tf.string and spec.name.endswith("_bytes"):
        gray = np.full((8, 8, 3), 128, np.uint8)
        return np.asarray([tf.io.encode_png(gray).numpy()], object)
    if spec.dtype == tf.string:
        # Tokens 0 and 1 are padding and out-of-vocabulary.
        return np.asarray([" ".join(vocabulary[2:5])], object)
    if spec.dtype == tf.uint8:
        return np.full(shape, 128, np.uint8)
    return np.zeros(shape, spec.dtype.as_numpy_dtype)


def write_warmup_requests(directory, requests, model_name="cmgan"):
    """Writes one `PredictRequest` per signature as TF Serving's warm-up file.

    Args:
        directory: The SavedModel's `assets.extra` directory.
        requests: Dict from signature name to `{input_name: array}`.
        model_name: The name the model is served under.

    Returns:
        Path of the written file.
    """
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    path = os.path.join(directory, WARMUP_FILE)
    with tf.io.TFRecordWriter(path) as writer:
        for signature, inputs in requests.items():
            request = predict_pb2.PredictRequest(
                model_spec=model_pb2.ModelSpec(
                    name=model_name, signature_name=signature
                ),
                inputs={
                    name: tf.make_tensor_proto(value) for name, value in inputs.items()
                },
            )
            log = prediction_log_pb2.PredictionLog(
                predict_log=prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(path):
    """Reads a warm-up file back: list of `(signature, {input: array})`."""
    from tensorflow_serving.apis import prediction_log_pb2

    requests = []
    for record in tf.data.TFRecordDataset(path):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        request = log.predict_log.request
        requests.append(
            (
                request.model_spec.signature_name,
                {k: tf.make_ndarray(v) for k, v in request.inputs.items()},
            )
        )
    return requests
