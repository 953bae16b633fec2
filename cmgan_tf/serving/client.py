"""Requests to a TensorFlow Serving server that serves an exported encoder.

The client reads the model's `assets.extra/signatures.json` (written by
`export_saved_model`) and checks every input against it before building a
request, so a wrong dtype, a wrong image size, NaN features or an empty
caption are reported here, by name, rather than as a server-side error.

REST (port 8501): `rest_predict_url` and `rest_predict_body` give the URL and
the JSON body of a `:predict` call in the columnar `"inputs"` format;
`parse_rest_response` reads its answer. gRPC (port 8500):
`grpc_predict_request` builds a `tensorflow_serving.apis.PredictRequest` for
`PredictionService.Predict`; `parse_grpc_response` reads its answer.
"""

import base64
import json
import pathlib

import numpy as np

from cmgan_tf.data.dataset import decode_texts
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.serving.signatures import EXTRA_ASSETS, SIGNATURES_FILE

# Inputs named so hold binary strings (TF Serving's REST convention).
BYTES_SUFFIX = "_bytes"


def load_signatures(version_dir):
    """Reads the signature summary of an exported model version.

    Args:
        version_dir: `<export_dir>/<model_name>/<version>` directory.

    Returns:
        Dict from signature name to `{"inputs": ..., "outputs": ...}`.
    """
    path = pathlib.Path(version_dir) / EXTRA_ASSETS / SIGNATURES_FILE
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise InvalidInputError(
            f"Could not read {path}: {error}. Is {version_dir} a version "
            "directory written by cmgan-export?"
        ) from error


def check_inputs(signatures, signature_name, inputs):
    """Checks request inputs against a signature and converts them.

    Args:
        signatures: Dict from `load_signatures`.
        signature_name: For example `"encode_text"` or `"retrieve_with_image"`.
        inputs: Dict from input name (`"images"`, `"image_bytes"` or
            `"texts"`) to a batch: an array or nested lists; captions as str,
            encoded images as bytes.

    Returns:
        Dict from input name to a NumPy array of the signature's dtype
        (captions as an object array of UTF-8 `bytes`).

    Raises:
        InvalidInputError: On an unknown signature, missing or unexpected
            inputs, a wrong shape or dtype, values that do not fit the dtype,
            NaN/Inf features, or empty or non-UTF-8 captions.
    """
    if signature_name not in signatures:
        raise InvalidInputError(
            f"The model has no signature {signature_name!r}. It has: "
            f"{', '.join(sorted(signatures))}."
        )
    expected = signatures[signature_name]["inputs"]
    if not isinstance(inputs, dict) or set(inputs) != set(expected):
        received = sorted(inputs) if isinstance(inputs, dict) else type(inputs)
        raise InvalidInputError(
            f"Signature {signature_name!r} takes the inputs {sorted(expected)}. "
            f"Received: {received}."
        )
    return {
        name: _checked_array(f"{signature_name}.{name}", inputs[name], spec)
        for name, spec in expected.items()
    }


def _checked_array(name, value, spec):
    """Converts one input to its signature's dtype and checks its shape."""
    dtype, shape = spec["dtype"], spec["shape"]
    if dtype == "string" and name.endswith(BYTES_SUFFIX):
        return _checked_bytes(name, value, shape)
    if dtype == "string":
        return _checked_texts(name, value, shape)
    try:
        array = np.asarray(value)
    except ValueError as error:  # ragged nested lists
        raise InvalidInputError(
            f"`{name}` is not a rectangular array: {error}"
        ) from error
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise InvalidInputError(
            f"`{name}` must hold numbers ({dtype}). Received: dtype {array.dtype}."
        )
    _check_shape(name, array.shape, shape)
    if not np.isfinite(array).all():
        raise InvalidInputError(f"`{name}` holds NaN or Inf.")
    if dtype == "uint8":
        if array.size and (
            array.min() < 0 or array.max() > 255 or (array != np.round(array)).any()
        ):
            raise InvalidInputError(
                f"`{name}` must hold integer pixel values in [0, 255]. Received "
                f"values in [{array.min()}, {array.max()}]."
            )
        return array.astype(np.uint8)
    return array.astype(dtype)


def _checked_texts(name, value, shape):
    if isinstance(value, str | bytes):
        raise InvalidInputError(
            f"`{name}` must be a batch (a list) of captions. Received one caption."
        )
    texts = list(value)
    _check_shape(name, (len(texts),), shape)
    try:
        decoded = decode_texts(texts)
    except InvalidInputError as error:
        raise InvalidInputError(f"`{name}`: {error}") from None
    return np.array([text.encode("utf-8") for text in decoded], dtype=object)


def _checked_bytes(name, value, shape):
    if isinstance(value, bytes) or not all(isinstance(v, bytes) for v in value):
        raise InvalidInputError(
            f"`{name}` must be a batch (a list) of encoded images as bytes, e.g. "
            "the contents of PNG or JPEG files."
        )
    contents = list(value)
    _check_shape(name, (len(contents),), shape)
    empty = [i for i, v in enumerate(contents) if not v]
    if empty:
        raise InvalidInputError(f"`{name}[{empty[0]}]` is empty.")
    return np.array(contents, dtype=object)


def _check_shape(name, actual, expected):
    if len(actual) != len(expected) or any(
        e is not None and a != e for a, e in zip(actual, expected, strict=True)
    ):
        readable = ", ".join("batch" if e is None else str(e) for e in expected)
        raise InvalidInputError(
            f"`{name}` must have shape ({readable}). Received: shape {tuple(actual)}."
        )
    if actual[0] == 0:
        raise InvalidInputError(f"`{name}` is an empty batch.")


def rest_predict_url(host, model_name, *, port=8501, version=None):
    """Returns the URL of TF Serving's REST `:predict` method.

    Example:
    >>> rest_predict_url("localhost", "cmgan", version=2)
    'http://localhost:8501/v1/models/cmgan/versions/2:predict'
    """
    version_part = "" if version is None else f"/versions/{int(version)}"
    return f"http://{host}:{port}/v1/models/{model_name}{version_part}:predict"


def rest_predict_body(signatures, signature_name, inputs):
    """Returns the JSON body of a REST `:predict` call, columnar format.

    Args:
        signatures: Dict from `load_signatures`.
        signature_name: The signature to call.
        inputs: As for `check_inputs`.

    Returns:
        A JSON-serialisable dict.
    """
    arrays = check_inputs(signatures, signature_name, inputs)

    def json_value(name, array):
        if name.endswith(BYTES_SUFFIX):
            # TF Serving decodes `{"b64": ...}` into the bytes of a string.
            return [{"b64": base64.b64encode(v).decode("ascii")} for v in array]
        if array.dtype == object:
            return [t.decode("utf-8") for t in array]
        return array.tolist()

    return {
        "signature_name": signature_name,
        "inputs": {name: json_value(name, a) for name, a in arrays.items()},
    }


def parse_rest_response(response):
    """Reads the outputs of a REST `:predict` answer.

    Args:
        response: The decoded JSON answer (dict), or its text.

    Returns:
        Dict from output name to a NumPy array.

    Raises:
        InvalidInputError: If the server answered with an error.
    """
    if isinstance(response, str | bytes):
        response = json.loads(response)
    if "error" in response:
        raise InvalidInputError(f"TF Serving answered: {response['error']}")
    return {name: np.asarray(value) for name, value in response["outputs"].items()}


def grpc_predict_request(signatures, model_name, signature_name, inputs, version=None):
    """Builds the gRPC `PredictRequest` of a signature call.

    Needs `tensorflow-serving-api` (`pip install cmgan_tf[serving]`).

    Args:
        signatures: Dict from `load_signatures`.
        model_name: Name the model is served under.
        signature_name: The signature to call.
        inputs: As for `check_inputs`.
        version: Optional version to call; `None` is the latest.

    Returns:
        `tensorflow_serving.apis.predict_pb2.PredictRequest`.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    arrays = check_inputs(signatures, signature_name, inputs)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    for name, array in arrays.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(array))
    return request


def parse_grpc_response(response):
    """Reads the outputs of a gRPC `PredictResponse`.

    Returns:
        Dict from output name to a NumPy array.
    """
    import tensorflow as tf

    return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}
