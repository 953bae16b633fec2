"""Test set-up: two logical CPU devices, so MirroredStrategy has 2 real replicas."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tensorflow as tf  # noqa: E402

# Logical devices must be configured before TensorFlow initialises its runtime,
# which the first op does; conftest is imported before any test module.
_cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    _cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)
