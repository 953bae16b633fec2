"""One check of shape, config round trip and `.keras` saving for any layer.

Like Keras's own `run_layer_test`: a layer that cannot be rebuilt from its
config, or that loses state when saved, cannot be exported or resumed.
"""

import json
import pathlib
import tempfile

import keras
import numpy as np
import tensorflow as tf


def _call(layer, inputs, training):
    # A tuple holds positional inputs (`D(s, v)`); anything else is one input.
    args = inputs if isinstance(inputs, tuple) else (inputs,)
    return layer(*args, training=training)


def _to_numpy(outputs):
    return tf.nest.map_structure(
        lambda x: np.asarray(keras.ops.convert_to_numpy(x)), outputs
    )


def _assert_same_outputs(expected, actual, what):
    tf.nest.assert_same_structure(expected, actual)
    for e, a in zip(tf.nest.flatten(expected), tf.nest.flatten(actual), strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-6, atol=1e-6, err_msg=what)


def _assert_shapes(outputs, expected_output_shape):
    if isinstance(expected_output_shape, dict):
        assert isinstance(outputs, dict), type(outputs)
        assert set(outputs) == set(expected_output_shape), sorted(outputs)
        for key, shape in expected_output_shape.items():
            assert tuple(outputs[key].shape) == tuple(shape), (key, outputs[key].shape)
    else:
        assert tuple(outputs.shape) == tuple(expected_output_shape), outputs.shape


def _json_like(config):
    return json.loads(json.dumps(config))


def _save_and_load(layer, directory):
    path = directory / f"{layer.name}.keras"
    keras.saving.save_model(layer, path)
    return keras.saving.load_model(path)


def run_layer_test(layer_factory, inputs, expected_output_shape, tmp_path=None):
    """Checks a layer's output shapes, config round trip and `.keras` save/load.

    The layer is first called once in training mode, so that state that only
    training changes (BatchNorm moving statistics) differs from its initial
    value and has to survive the copy and the save to pass.

    Args:
        layer_factory: Zero-argument callable returning a fresh, unbuilt layer.
        inputs: One array, a dict of arrays (one input), or a tuple of arrays
            (positional inputs).
        expected_output_shape: Shape tuple, or dict of shape tuples for a
            layer returning a dict.
        tmp_path: Directory for the `.keras` file (pytest's `tmp_path`); a
            temporary one if `None`.

    Returns:
        The built layer, for further checks.
    """
    layer = layer_factory()
    _call(layer, inputs, training=True)
    outputs = _to_numpy(_call(layer, inputs, training=False))
    _assert_shapes(outputs, expected_output_shape)
    # Inference must be deterministic, or none of the comparisons below mean
    # anything.
    _assert_same_outputs(
        outputs, _to_numpy(_call(layer, inputs, training=False)), "inference"
    )

    config = layer.get_config()
    restored = type(layer).from_config(config)
    assert restored.get_config() == config
    _call(restored, inputs, training=False)
    restored.set_weights(layer.get_weights())
    _assert_same_outputs(
        outputs, _to_numpy(_call(restored, inputs, training=False)), "from_config"
    )

    if tmp_path is None:
        with tempfile.TemporaryDirectory() as directory:
            loaded = _save_and_load(layer, pathlib.Path(directory))
    else:
        loaded = _save_and_load(layer, pathlib.Path(tmp_path))
    assert type(loaded) is type(layer)
    # The file stores JSON, which has no tuples: compare up to tuple vs list.
    assert _json_like(loaded.get_config()) == _json_like(config)
    _assert_same_outputs(
        outputs, _to_numpy(_call(loaded, inputs, training=False)), "load_model"
    )
    return layer
