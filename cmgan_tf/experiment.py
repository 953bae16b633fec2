"""Training and evaluation runs: the library functions behind the command lines.

A model directory written by `train` holds:

- `config.json`: the `ExperimentConfig` of the run;
- `best.weights.h5`: the `CMGAN` weights of the epoch with the best validation
  MAP (mean of Image->Text and Text->Image);
- `checkpoints/`: the latest epochs' full training state, to resume from;
- `encoder.keras`: the `CrossModalEncoder` built from those weights, the
  artefact that evaluation and export load;
- `logs/`: TensorBoard logs (every loss term and the validation scores);
- `metrics.json`: best epoch, validation scores, training time, history.

`evaluate` adds `evaluation.json`; `export_serving_model` writes the run's
encoder into a TensorFlow Serving model repository, `export_tflite_model` as
TFLite files.
"""

import atexit
import functools
import hashlib
import json
import os
import shutil
import tempfile
import time

import keras
from absl import logging

from cmgan_tf.config import ExperimentConfig, flag_differences
from cmgan_tf.data.pipeline import training_dataset
from cmgan_tf.data.registry import load_dataset
from cmgan_tf.data.splits import train_validation_split
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.encoder import CrossModalEncoder
from cmgan_tf.retrieval.callbacks import RetrievalValidation
from cmgan_tf.retrieval.evaluation import evaluate_encoder, random_ranking_scores
from cmgan_tf.serving import parity
from cmgan_tf.serving import saved_model as saved_model_export
from cmgan_tf.serving import tflite as tflite_export
from cmgan_tf.training.averaging import GeneratorWeightAveraging
from cmgan_tf.training.builder import (
    build_cmgan,
    build_optimizers,
    build_text_vectorizer,
    make_strategy,
)
from cmgan_tf.training.checkpointing import BestWeights, EpochCheckpoints
from cmgan_tf.training.divergence import DivergenceGuard

CONFIG_FILE = "config.json"
BEST_WEIGHTS_FILE = "best.weights.h5"
ENCODER_FILE = "encoder.keras"
METRICS_FILE = "metrics.json"
EVALUATION_FILE = "evaluation.json"
CHECKPOINT_DIR = "checkpoints"
SELECTION_METRIC = "val_map_mean"
GALLERY_SPLITS = ("test", "train", "none")


def write_json_atomically(path, data):
    """Writes `data` as JSON so that `path` is never seen half-written.

    Args:
        path: Destination file.
        data: JSON-serialisable object.
    """
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile(
        "w", dir=directory, suffix=".tmp", delete=False
    ) as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    os.replace(handle.name, path)


def _load_dataset(data, data_dir):
    """Loads the dataset of a `DataConfig` from `data_dir`."""
    return load_dataset(
        data.dataset,
        data_dir,
        image_size=data.image_size,
        tfds_options=data.tfds_options(),
    )


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


def prepare_data(config):
    """Loads the dataset and splits its training pairs into train and validation.

    Args:
        config: An `ExperimentConfig`.

    Returns:
        `(dataset, train_split, validation_split)`.
    """
    dataset = _load_dataset(config.data, config.data.data_dir)
    train_split, validation_split = train_validation_split(
        dataset.train, config.data.validation_fraction, config.training.seed
    )
    return dataset, train_split, validation_split


def train(config, *, overwrite=False):
    """Trains a CM-GAN and writes its model directory.

    Every epoch ends with a checkpoint of the whole training state in
    `model_dir/checkpoints`; calling `train` again with the same configuration
    after a crash resumes from the last one and reaches the same result as an
    uninterrupted run (see `EpochCheckpoints`).

    Args:
        config: An `ExperimentConfig`; `config.runtime.model_dir` is required.
        overwrite: Start again in a model directory that holds a finished or
            interrupted run. Defaults to `False`.

    Returns:
        Dict written to `metrics.json`.

    Raises:
        InvalidInputError: on a missing or already used model directory, a
            configuration that differs from the interrupted run's, or invalid
            data. `TrainingDivergedError` (a subclass) if a loss becomes NaN.
    """
    model_dir = config.runtime.model_dir
    if not model_dir:
        raise InvalidInputError("`model_dir` is required to train.")
    checkpoint_dir = os.path.join(model_dir, CHECKPOINT_DIR)
    if overwrite:
        shutil.rmtree(checkpoint_dir, ignore_errors=True)
    elif os.path.exists(os.path.join(model_dir, ENCODER_FILE)):
        raise InvalidInputError(
            f"{model_dir} already holds a finished run ({ENCODER_FILE}). Choose "
            "another --model_dir or pass --overwrite."
        )
    elif os.path.isdir(checkpoint_dir):
        _check_same_run(config, model_dir)
    strategy = make_strategy(config.runtime.strategy)
    # Every worker resumes from the chief's checkpoints (on a file system they
    # share) but writes only to its own directory.
    resume_dir = checkpoint_dir
    model_dir = worker_model_dir(model_dir, strategy)
    checkpoint_dir = os.path.join(model_dir, CHECKPOINT_DIR)
    dataset, train_split, validation_split = prepare_data(config)
    os.makedirs(model_dir, exist_ok=True)
    write_json_atomically(os.path.join(model_dir, CONFIG_FILE), config.to_dict())
    logging.info("Configuration:\n%s", config.to_json())
    logging.info(
        "Dataset %s: %d training, %d validation, %d test pairs, %d classes.",
        dataset.name,
        train_split.num_pairs,
        validation_split.num_pairs,
        dataset.test.num_pairs,
        train_split.num_classes,
    )

    keras.utils.set_random_seed(config.training.seed)
    logging.info(
        "Strategy %s with %d replica(s); XLA %s.",
        type(strategy).__name__,
        strategy.num_replicas_in_sync,
        "on" if config.runtime.jit_compile else "off",
    )
    text_vectorizer = build_text_vectorizer(config, train_split)
    steps_per_epoch = train_split.num_pairs // config.training.batch_size
    with strategy.scope():
        cmgan = build_cmgan(config, train_split, dataset.multi_label, text_vectorizer)
        d_optimizer, g_optimizer = build_optimizers(config.training, steps_per_epoch)
        cmgan.compile(
            d_optimizer=d_optimizer if cmgan.discriminators else None,
            g_optimizer=g_optimizer,
            generator_steps=config.training.generator_steps,
            jit_compile=config.runtime.jit_compile,
        )

    build_encoder = functools.partial(
        CrossModalEncoder.from_generator,
        images=train_split.images,
        texts=train_split.texts,
        representation=config.model.representation,
        temperature=config.model.temperature,
        multi_label=dataset.multi_label,
        text_vectorizer=text_vectorizer,
    )
    best_weights = os.path.join(model_dir, BEST_WEIGHTS_FILE)
    averaging = GeneratorWeightAveraging() if config.training.ema_momentum else None
    checkpoints = EpochCheckpoints(
        checkpoint_dir,
        restore_from=resume_dir,
        keep=config.runtime.keep_checkpoints,
        averaging=averaging,
        monitor=SELECTION_METRIC,
    )
    initial_epoch = checkpoints.restore(cmgan)
    if initial_epoch:
        logging.info("Resuming after epoch %d from %s.", initial_epoch, checkpoint_dir)
    # Averaging first, so that validation and checkpoints see the averages;
    # the resumable checkpoint last, so that it records everything else.
    callbacks = [averaging] if averaging else []
    callbacks += [
        RetrievalValidation(validation_split, build_encoder),
        BestWeights(best_weights, SELECTION_METRIC, best=checkpoints.best),
        keras.callbacks.TensorBoard(os.path.join(model_dir, "logs")),
        checkpoints,
        DivergenceGuard(f"The last good checkpoint is in {checkpoint_dir}. "),
    ]
    # One endless stream, so that a resumed run skips exactly the batches of
    # the epochs it has done and then sees the same batches as an
    # uninterrupted run.
    batches = (
        training_dataset(
            train_split,
            config.training.batch_size,
            config.training.seed,
            num_replicas=strategy.num_replicas_in_sync,
            text_vectorizer=text_vectorizer,
        )
        .repeat()
        .skip(initial_epoch * steps_per_epoch)
    )
    start = time.perf_counter()
    if initial_epoch < config.training.epochs:
        cmgan.fit(
            batches,
            epochs=config.training.epochs,
            initial_epoch=initial_epoch,
            steps_per_epoch=steps_per_epoch,
            callbacks=callbacks,
            verbose=config.runtime.verbose,
            shuffle=False,  # The dataset reshuffles itself every epoch.
        )
    training_time = time.perf_counter() - start

    cmgan.load_weights(best_weights)
    logging.info(
        "Generator weights fingerprint: %s", weights_fingerprint(cmgan.generator)
    )
    encoder = build_encoder(cmgan.generator)
    partial = os.path.join(model_dir, f".partial-{ENCODER_FILE}")
    encoder.save(partial)
    os.replace(partial, os.path.join(model_dir, ENCODER_FILE))
    history = checkpoints.history
    selection = history[SELECTION_METRIC]
    best_epoch = max(range(len(selection)), key=selection.__getitem__)
    metrics = {
        "best_epoch": best_epoch + 1,
        "validation": evaluate_encoder(encoder, validation_split),
        "training_time_s": training_time,
        "resumed_after_epoch": initial_epoch,
        "replicas": strategy.num_replicas_in_sync,
        "history": history,
    }
    write_json_atomically(os.path.join(model_dir, METRICS_FILE), metrics)
    logging.info(
        "Best epoch %d: validation MAP I->T %.4f, T->I %.4f. Trained in %.1f s.",
        metrics["best_epoch"],
        metrics["validation"]["map_image_to_text"],
        metrics["validation"]["map_text_to_image"],
        training_time,
    )
    return metrics


def _check_same_run(config, model_dir):
    """Refuses to resume an interrupted run under another configuration."""
    path = os.path.join(model_dir, CONFIG_FILE)
    if not os.path.exists(path):
        return
    with open(path) as handle:
        recorded = ExperimentConfig.from_json(handle.read())
    # How verbose the progress output is does not change the run.
    ignored = {"runtime": {"verbose": config.runtime.verbose}}
    if recorded.replace(**ignored) != config:
        differences = [
            f"--{name}={value!r} (was {old!r})"
            for name, value, old in flag_differences(
                config.replace(**ignored), recorded
            )
        ]
        raise InvalidInputError(
            f"{model_dir} holds an interrupted run with another configuration "
            f"({', '.join(differences)}). Re-run its command to resume it, or pass "
            "--overwrite to start again."
        )


def load_run(model_dir):
    """Returns `(config, encoder)` of a finished training run.

    Raises:
        InvalidInputError: if the directory lacks the config or the encoder.
    """
    config_path = os.path.join(model_dir, CONFIG_FILE)
    encoder_path = os.path.join(model_dir, ENCODER_FILE)
    if not os.path.isdir(model_dir):
        raise InvalidInputError(f"--model_dir={model_dir} does not exist.")
    if not os.path.exists(config_path) or not os.path.exists(encoder_path):
        raise InvalidInputError(
            f"--model_dir={model_dir} holds no finished training run: expected "
            f"{CONFIG_FILE} and {ENCODER_FILE} (written by cmgan-train when it "
            f"completes); found {sorted(os.listdir(model_dir)) or 'nothing'}."
        )
    with open(config_path) as handle:
        config = ExperimentConfig.from_json(handle.read())
    try:
        encoder = keras.saving.load_model(encoder_path)
    except Exception as error:  # Keras raises many types for a damaged file.
        raise InvalidInputError(
            f"Could not load {encoder_path}: {error}. The file is damaged; "
            "re-run cmgan-train."
        ) from error
    return config, encoder


def evaluate(model_dir, *, data_dir=None, exclude_query_from_gallery=True):
    """Scores a trained run on its dataset's test split and writes the scores.

    Args:
        model_dir: Directory written by `train`.
        data_dir: Overrides the dataset location recorded in `config.json`.
        exclude_query_from_gallery: See `evaluate_encoder`. Defaults to `True`.

    Returns:
        `(scores, random_ranking)`: dicts of test scores of the encoder and of
        random rankings (the chance level), as written to `evaluation.json`.
    """
    config, encoder = load_run(model_dir)
    dataset = _load_dataset(config.data, data_dir or config.data.data_dir)
    scores = evaluate_encoder(
        encoder, dataset.test, exclude_query_from_gallery=exclude_query_from_gallery
    )
    chance = random_ranking_scores(
        dataset.test.labels, exclude_query_from_gallery=exclude_query_from_gallery
    )
    write_json_atomically(
        os.path.join(model_dir, EVALUATION_FILE),
        {
            "dataset": dataset.name,
            "split": "test",
            "scores": scores,
            "random_ranking": chance,
        },
    )
    return scores, chance


def export_serving_model(
    model_dir,
    export_dir,
    *,
    model_name="cmgan",
    version=None,
    overwrite=False,
    gallery_split="test",
    gallery_file=None,
    top_k=10,
    serving_base_path=None,
    data_dir=None,
    check_parity=False,
):
    """Exports a trained run as a version of a TF Serving model.

    Args:
        model_dir: Directory written by `train`.
        export_dir: Root of the model repository (see
            `saved_model.write_serving_version`).
        model_name: Name the model is served under.
        version: Positive int, or `None` for the next free number.
        overwrite: Replace an existing version.
        gallery_split: `"test"` or `"train"`: the retrieval signatures rank
            that split of the run's dataset (ids are indices in the split);
            `"none"`: no retrieval signatures unless `gallery_file` is given.
        gallery_file: A `.npz` of embeddings to rank instead (see
            `saved_model.load_gallery_file`).
        top_k: Items each retrieval returns.
        serving_base_path: Where TF Serving sees `export_dir`.
        data_dir: Overrides the dataset location recorded in `config.json`.
        check_parity: Reload the written SavedModel and compare it with the
            Keras encoder on the test split.

    Returns:
        Dict with `path` (the version directory) and, with `check_parity`,
        `parity` (see `parity.saved_model_parity`).
    """
    if gallery_split not in GALLERY_SPLITS:
        raise InvalidInputError(
            f"`gallery` must be one of {', '.join(GALLERY_SPLITS)}. "
            f"Received: {gallery_split!r}"
        )
    if gallery_file and gallery_split != "none":
        raise InvalidInputError(
            "Give either a gallery split or a gallery file, not both: pass "
            "--gallery=none with --gallery_file."
        )
    config, encoder = load_run(model_dir)
    dataset = None
    if gallery_split != "none" or check_parity:
        dataset = _load_dataset(config.data, data_dir or config.data.data_dir)
    if gallery_file:
        galleries = saved_model_export.load_gallery_file(gallery_file)
    elif gallery_split == "none":
        galleries = {}
    else:
        split = getattr(dataset, gallery_split)
        galleries = {
            m: saved_model_export.gallery_from_split(encoder, split, m)
            for m in saved_model_export.MODALITIES
        }
    path = saved_model_export.write_serving_version(
        encoder,
        export_dir,
        model_name=model_name,
        version=version,
        overwrite=overwrite,
        config=config,
        galleries=galleries,
        top_k=top_k,
        serving_base_path=serving_base_path,
    )
    logging.info("Wrote %s.", path)
    result = {"path": str(path)}
    if check_parity:
        result["parity"] = parity.saved_model_parity(
            path, encoder, dataset.test, galleries
        )
    return result


def export_tflite_model(
    model_dir,
    export_dir,
    *,
    variants=tflite_export.VARIANTS,
    overwrite=False,
    data_dir=None,
    check_parity=False,
):
    """Exports a trained run's encoders as TFLite files.

    Args:
        model_dir: Directory written by `train`.
        export_dir: Directory to create (see `tflite.export_tflite`).
        variants: Subset of `tflite.VARIANTS`.
        overwrite: Replace an existing `export_dir`.
        data_dir: Overrides the dataset location recorded in `config.json`.
        check_parity: Compare every file with the Keras encoder on the test
            split (`parity.tflite_parity`).

    Returns:
        Dict with `path`, `manifest` and, with `check_parity`, `parity`.
    """
    config, encoder = load_run(model_dir)
    dataset = None
    if "int8" in variants or check_parity:
        dataset = _load_dataset(config.data, data_dir or config.data.data_dir)
    representative = None
    if "int8" in variants:
        representative = {"image": dataset.train.images, "text": dataset.train.texts}
    manifest = tflite_export.export_tflite(
        encoder,
        export_dir,
        variants=variants,
        representative_inputs=representative,
        overwrite=overwrite,
        config=config,
    )
    logging.info("Wrote %s.", export_dir)
    result = {"path": str(export_dir), "manifest": manifest}
    if check_parity:
        result["parity"] = parity.tflite_parity(export_dir, encoder, dataset.test)
    return result
