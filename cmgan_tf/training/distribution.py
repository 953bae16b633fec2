"""Distribution strategies, the cluster's `TF_CONFIG`, and what each worker writes.

`make_strategy` turns `RuntimeConfig.strategy` into a `tf.distribute.Strategy`;
under `MultiWorkerMirroredStrategy` only the chief writes the model directory
(`worker_model_dir`), and every worker can prove it holds the same weights
(`weights_fingerprint`).
"""

import atexit
import functools
import hashlib
import json
import os
import shutil
import tempfile

import keras
import tensorflow as tf
from absl import logging

from cmgan_tf.errors import InvalidInputError


def make_strategy(name):
    """Returns the `tf.distribute.Strategy` named by `RuntimeConfig.strategy`.

    Args:
        name: `"auto"`: `MirroredStrategy` over the visible GPUs if there are
            any, else the default strategy. `"mirrored"`: `MirroredStrategy`
            over the GPUs, or over the logical CPU devices where there is no
            GPU (tests make two). `"multi_worker"`:
            `MultiWorkerMirroredStrategy` over the cluster described by the
            `TF_CONFIG` environment variable. `"default"`: the default
            (one-device) strategy.

    Raises:
        InvalidInputError: for `"multi_worker"` without a valid `TF_CONFIG`.
    """
    if name == "multi_worker":
        _check_tf_config(os.environ.get("TF_CONFIG"))
        return _multi_worker_strategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "default" or (name == "auto" and not gpus):
        return tf.distribute.get_strategy()
    devices = gpus or tf.config.list_logical_devices("CPU")
    return _mirrored_strategy(tuple(d.name for d in devices))


def replica_devices(strategy):
    """Returns the names of the devices `strategy` runs its replicas on.

    Example:
    >>> len(replica_devices(tf.distribute.get_strategy()))
    1
    """
    try:
        return tuple(strategy.extended.worker_devices)
    except RuntimeError:
        # The default strategy has no device list: TensorFlow places its ops
        # on the first GPU if there is one, else on the CPU.
        gpus = tf.config.list_logical_devices("GPU")
        return ((gpus or tf.config.list_logical_devices("CPU"))[0].name,)


@functools.cache
def _mirrored_strategy(devices):
    # One strategy per device set and process: TensorFlow's collective
    # executor caches each collective instance's parameters process-wide, and
    # every new MirroredStrategy numbers its instances from the start again,
    # so a second strategy on the same devices (a second run in one process)
    # would meet the first one's cached shapes and abort with a mismatch.
    return tf.distribute.MirroredStrategy(list(devices))


_TF_CONFIG_EXAMPLE = (
    'TF_CONFIG=\'{"cluster": {"worker": ["host1:port", "host2:port"]}, '
    '"task": {"type": "worker", "index": 0}}\''
)


def _check_tf_config(text):
    """Checks that `text` is a `TF_CONFIG` naming this task in its cluster.

    `TFConfigClusterResolver` reads a missing or partial `TF_CONFIG` as a
    cluster of one and would quietly train alone, so the multi-worker strategy
    checks it first.

    Raises:
        InvalidInputError: naming what is missing and what was expected.
    """
    expected = f"Expected, on every worker, e.g. {_TF_CONFIG_EXAMPLE}."
    if not text:
        raise InvalidInputError(
            "--strategy=multi_worker needs the TF_CONFIG environment variable "
            f"to describe the cluster and this worker's task; it is not set. "
            f"{expected}"
        )
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInputError(
            f"TF_CONFIG is not valid JSON ({error}). {expected}"
        ) from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not all(
        isinstance(addresses, list) and addresses for addresses in cluster.values()
    ):
        raise InvalidInputError(
            "TF_CONFIG must hold a `cluster` mapping each task type to a list "
            f"of host:port addresses. Received: {text} {expected}"
        )
    if not isinstance(task, dict) or not (
        task.get("type") in cluster
        and isinstance(task.get("index"), int)
        and 0 <= task["index"] < len(cluster[task["type"]])
    ):
        raise InvalidInputError(
            "TF_CONFIG must hold a `task` with a `type` of its cluster and an "
            f"`index` into that type's addresses. Received: {text} {expected}"
        )


@functools.cache
def _multi_worker_strategy():
    # The first multi-worker strategy starts this worker's server and fixes
    # the process's collective configuration, which TensorFlow cannot change
    # afterwards; a second run in the same process reuses that strategy.
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)


def worker_model_dir(model_dir, strategy):
    """Returns the directory this worker writes its run to.

    Under `MultiWorkerMirroredStrategy` every worker runs the same callbacks
    and saves, as TensorFlow's multi-worker guide asks (a save may read
    distributed variables collectively, and a worker that skipped it would
    leave the others waiting); each also reloads its own copy of the best
    epoch's weights, so all end with the same model. Only the chief writes
    `model_dir`; the others write to a scratch directory of their own that is
    deleted when the process exits, so workers sharing a file system never
    write the same files.

    Args:
        model_dir: The run's model directory.
        strategy: The run's `tf.distribute.Strategy`.

    Returns:
        `model_dir` on the chief (and under every single-worker strategy),
        else a new temporary directory.
    """
    if strategy.extended.should_checkpoint:
        return model_dir
    resolver = strategy.cluster_resolver
    scratch = tempfile.mkdtemp(prefix=f"cmgan_{resolver.task_type}_{resolver.task_id}_")
    # Deleted at exit rather than when `train` returns, so that a run that
    # fails part-way cleans up too.
    atexit.register(shutil.rmtree, scratch, ignore_errors=True)
    logging.info(
        "Worker %s %d is not the chief: it writes to %s, not %s.",
        resolver.task_type,
        resolver.task_id,
        scratch,
        model_dir,
    )
    return scratch


def weights_fingerprint(layer):
    """Returns a SHA-256 hex digest of a layer's weights, exact to the bit.

    Workers of a multi-worker run log it at the end: replicas apply the same
    all-reduced gradients, so they must hold bit-identical weights.

    Args:
        layer: A built Keras layer or model.
    """
    digest = hashlib.sha256()
    for weight in layer.weights:
        value = keras.ops.convert_to_numpy(weight)
        digest.update(f"{weight.path}:{value.dtype}:{value.shape}".encode())
        digest.update(value.tobytes())
    return digest.hexdigest()
