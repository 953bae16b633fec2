"""Running TFLite encoders with the LiteRT runtime (`ai-edge-litert`).

`tf.lite.Interpreter` is deprecated; LiteRT's interpreter is its successor.
"""

import numpy as np

from cmgan_tf.errors import InvalidInputError


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


class TFLiteRetriever:
    """Runs a `retrieve_with_*.tflite` model (see `tflite_retrieval`).

    Args:
        path: A `.tflite` retrieve model.
        num_threads: Interpreter threads. Defaults to 1.

    Call arguments:
        inputs: `(batch, ...)` queries of the model's input dtype and shape.

    Returns:
        `(ids, scores)`: `(batch, k)` string ids, read from the model's
        `ids.txt`, best first, and their float32 scores.
    """

    def __init__(self, path, num_threads=1):
        import zipfile

        from ai_edge_litert.interpreter import Interpreter

        try:
            interpreter = Interpreter(
                model_path=str(path), num_threads=int(num_threads)
            )
            with zipfile.ZipFile(path) as archive:
                ids = archive.read("ids.txt").decode("utf-8")
        except (ValueError, RuntimeError, OSError, KeyError) as error:
            raise InvalidInputError(f"Could not load {path}: {error}") from error
        except zipfile.BadZipFile as error:
            raise InvalidInputError(
                f"{path} is not a retrieve model: it holds no associated files."
            ) from error
        self.ids = np.asarray(ids.split("\n")[:-1])
        self._runner = interpreter.get_signature_runner("retrieve")
        ((self._input_name, self._input),) = self._runner.get_input_details().items()

    def __call__(self, inputs):
        inputs = np.asarray(inputs)
        expected = np.dtype(self._input["dtype"])
        if inputs.dtype != expected or len(inputs) == 0:
            raise InvalidInputError(
                f"Inputs must be a non-empty batch of {expected}. "
                f"Received: {inputs.dtype}, shape {inputs.shape}."
            )
        outputs = self._runner(**{self._input_name: inputs})
        return self.ids[outputs["rows"]], outputs["scores"]
