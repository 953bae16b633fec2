"""A training run: from a configuration to a finished model directory.

`TrainingRun.run` is a sequence of small named steps, in the manner of the
Model Garden's runner, each of which a test can call and check alone. What the
run writes is described in `cmgan_tf.runs.model_dir`.
"""

import dataclasses
import functools
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from cmgan_tf import file_io
from cmgan_tf.data.dataset import ImageFileSplit
from cmgan_tf.data.pipeline import (
    SkippedImages,
    training_stream,
    undecoded_image_error,
)
from cmgan_tf.data.splits import concatenate_splits, train_validation_split
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.encoder import CrossModalEncoder
from cmgan_tf.models.ensemble import EnsembleEncoder
from cmgan_tf.presets import describe
from cmgan_tf.retrieval.callbacks import RetrievalValidation
from cmgan_tf.retrieval.class_weighting import choose_class_weighting
from cmgan_tf.retrieval.evaluation import evaluate_encoder
from cmgan_tf.runs import model_dir as run_files
from cmgan_tf.runs.data import load_configured_dataset
from cmgan_tf.training.averaging import GeneratorWeightAveraging
from cmgan_tf.training.builder import (
    build_cmgan,
    build_optimizers,
    build_text_vectorizer,
    float32_generator,
)
from cmgan_tf.training.checkpointing import (
    BestWeights,
    EpochCheckpoints,
    ValidationPatience,
)
from cmgan_tf.training.distribution import (
    make_strategy,
    replica_devices,
    weights_fingerprint,
    worker_model_dir,
)
from cmgan_tf.training.divergence import DivergenceGuard

SELECTION_METRIC = "val_map_mean"


def prepare_data(config, dataset=None):
    """Returns the dataset with the pairs to train on and to validate on.

    A dataset whose files come with a validation split (`dataset.validation`)
    is validated on that split and trained on all of `dataset.train`;
    otherwise `config.data.validation_fraction` of the training pairs are
    carved out, stratified and seeded by `config.training.seed`. Validation
    is scored on arrays, so a validation split of image files is decoded
    into memory here; the training split stays as it is (streamed from its
    files by `training_stream`).

    Args:
        config: An `ExperimentConfig`.
        dataset: A `CrossModalDataset`; `None` loads the one `config.data` names.

    Returns:
        `(dataset, train_split, validation_split)`.
    """
    if dataset is None:
        dataset = load_configured_dataset(config.data)
    if dataset.validation is not None:
        logging.info(
            "Validating on the %d validation pairs given with dataset %s and "
            "training on all %d training pairs; validation_fraction is not used.",
            dataset.validation.num_pairs,
            dataset.name,
            dataset.train.num_pairs,
        )
        train_split, validation_split = dataset.train, dataset.validation
    else:
        train_split, validation_split = train_validation_split(
            dataset.train, config.data.validation_fraction, config.training.seed
        )
    if isinstance(validation_split, ImageFileSplit):
        validation_split = validation_split.load(config.data.on_bad_item)
    return dataset, train_split, validation_split


class _Run:
    """What a training run is given: see `TrainingRun`'s arguments."""

    def __init__(
        self, config, *, overwrite=False, dataset=None, preset_name="reference"
    ):
        if not config.runtime.model_dir:
            raise InvalidInputError("`model_dir` is required to train.")
        self.config = config
        self.overwrite = overwrite
        self.dataset = dataset
        self.preset_name = preset_name
        self.model_dir = config.runtime.model_dir

    def _refuse_a_finished_run(self):
        if run_files.is_finished(self.model_dir):
            raise InvalidInputError(
                f"{self.model_dir} already holds a finished run "
                f"({run_files.ENCODER_FILE}). Choose another --model_dir or pass "
                "--overwrite."
            )

    def _write_config(self):
        """Creates the output directory and records the configuration first."""
        file_io.make_directory(self.output_dir, "model directory (--model_dir)")
        file_io.write_json_atomically(
            run_files.path(self.output_dir, run_files.CONFIG_FILE),
            self.config.to_dict(),
        )


class TrainingRun(_Run):
    """Trains a CM-GAN and writes its model directory.

    Every epoch ends with a checkpoint of the whole training state in
    `model_dir/checkpoints`; running the same configuration again after a
    crash resumes from the last one and reaches the same result as an
    uninterrupted run (see `EpochCheckpoints`).

    Args:
        config: An `ExperimentConfig`; `config.runtime.model_dir` is required.
        overwrite: Start again in a model directory that holds a finished or
            interrupted run. Defaults to `False`.
        dataset: A `CrossModalDataset` to train on instead of the one
            `config.data` names (tests and notebooks hand in their own).
        preset_name: The preset `config` was made from; the log names it and
            the flags that differ from it. Defaults to `"reference"`.
        keep_last_epoch: Keep the last epoch's weights rather than the best
            on validation (the second run of `--refit`, whose validation pairs
            are among its training pairs). Defaults to `False`.

    Example:
    ```python
    metrics = TrainingRun(preset("smoke").replace(
        runtime={"model_dir": "/tmp/run"}), preset_name="smoke").run()
    ```
    """

    def __init__(self, config, *, keep_last_epoch=False, **kwargs):
        super().__init__(config, **kwargs)
        self.keep_last_epoch = keep_last_epoch
        # Every worker resumes from the chief's checkpoints (on a file system
        # they share) but writes only to its own directory.
        self.resume_dir = run_files.path(self.model_dir, run_files.CHECKPOINT_DIR)

    def run(self):
        """Runs every step; returns the dict written to `metrics.json`.

        Raises:
            InvalidInputError: on a missing, unwritable or already used model
                directory, a configuration that differs from the interrupted
                run's, or invalid data. `TrainingDivergedError` (a subclass) if
                a loss becomes NaN or Inf.
        """
        self._prepare_model_dir()
        self._build_strategy()
        self._load_data()
        self._write_config()
        self._log_summary()
        self._build_model()
        initial_epoch = self._restore()
        start = time.perf_counter()
        self._fit(initial_epoch)
        return self._finish(initial_epoch, time.perf_counter() - start)

    def _prepare_model_dir(self):
        """Refuses a finished run; checks an interrupted one before resuming it."""
        if self.overwrite:
            file_io.remove_tree(self.resume_dir)
            return
        self._refuse_a_finished_run()
        if run_files.has_checkpoints(self.model_dir):
            run_files.check_same_run(self.config, self.model_dir)

    def _build_strategy(self):
        self.strategy = make_strategy(self.config.runtime.strategy)
        self.output_dir = worker_model_dir(self.model_dir, self.strategy)

    def _load_data(self):
        self.dataset, self.train_split, self.validation_split = prepare_data(
            self.config, self.dataset
        )

    def _log_summary(self):
        """Logs the run's essential facts, one line each, before it starts."""
        logging.info(
            "Dataset %s: %d training, %d validation, %d test pairs, %d classes.",
            self.dataset.name,
            self.train_split.num_pairs,
            self.validation_split.num_pairs,
            self.dataset.test.num_pairs,
            self.train_split.num_classes,
        )
        devices = replica_devices(self.strategy)
        logging.info("Devices: %s.", ", ".join(devices))
        logging.info(
            "Strategy %s with %d replica(s); XLA %s; dtype policy %s.",
            type(self.strategy).__name__,
            self.strategy.num_replicas_in_sync,
            "on" if self.config.runtime.jit_compile else "off",
            self.config.training.mixed_precision,
        )
        logging.info("%s.", describe(self.config, self.preset_name))
        advice = slow_setting_advice(self.config, devices)
        if advice:
            logging.warning("%s", advice)
        logging.info(
            "Outputs in %s (configuration, checkpoints, TensorBoard logs, "
            "metrics, encoder).",
            self.output_dir,
        )

    def _build_model(self):
        """Builds and compiles the CM-GAN under the strategy's scope."""
        config = self.config
        keras.utils.set_random_seed(config.training.seed)
        self.text_vectorizer = build_text_vectorizer(config, self.train_split)
        self.steps_per_epoch = self.train_split.num_pairs // config.training.batch_size
        with self.strategy.scope():
            self.cmgan = build_cmgan(
                config,
                self.train_split,
                self.dataset.multi_label,
                self.text_vectorizer,
            )
            d_optimizer, g_optimizer = build_optimizers(
                config.training, self.steps_per_epoch
            )
            self.cmgan.compile(
                d_optimizer=d_optimizer if self.cmgan.discriminators else None,
                g_optimizer=g_optimizer,
                generator_steps=config.training.generator_steps,
                jit_compile=config.runtime.jit_compile,
                steps_per_execution=steps_per_execution(
                    config.runtime.steps_per_execution, self.steps_per_epoch
                ),
            )
        self.build_encoder = functools.partial(
            CrossModalEncoder.from_generator,
            images=(
                self.train_split.image_files(config.data.on_bad_item)
                if isinstance(self.train_split, ImageFileSplit)
                else self.train_split.images
            ),
            texts=self.train_split.texts,
            representation=config.model.representation,
            temperature=config.model.temperature,
            class_weight=config.model.class_weight,
            multi_label=self.dataset.multi_label,
            text_vectorizer=self.text_vectorizer,
        )

    def _restore(self):
        """Restores the last checkpoint, if any; returns the epochs already done."""
        self.averaging = (
            GeneratorWeightAveraging() if self.config.training.ema_momentum else None
        )
        self.checkpoint_dir = run_files.path(self.output_dir, run_files.CHECKPOINT_DIR)
        self.checkpoints = EpochCheckpoints(
            self.checkpoint_dir,
            restore_from=self.resume_dir,
            keep=self.config.runtime.keep_checkpoints,
            averaging=self.averaging,
            monitor=SELECTION_METRIC,
        )
        initial_epoch = self.checkpoints.restore(self.cmgan)
        if initial_epoch:
            logging.info(
                "Resuming after epoch %d from %s.", initial_epoch, self.checkpoint_dir
            )
        return initial_epoch

    def _callbacks(self):
        # Averaging first, so that validation and checkpoints see the
        # averages; the resumable checkpoint last, so that it records
        # everything else.
        callbacks = [self.averaging] if self.averaging else []
        return callbacks + [
            RetrievalValidation(self.validation_split, self.build_encoder),
            BestWeights(
                run_files.path(self.output_dir, run_files.BEST_WEIGHTS_FILE),
                None if self.keep_last_epoch else SELECTION_METRIC,
                best=self.checkpoints.best,
            ),
            keras.callbacks.TensorBoard(
                run_files.path(self.output_dir, run_files.LOGS_DIR)
            ),
            self.checkpoints,
            *self._patience(),
            DivergenceGuard(f"The last good checkpoint is in {self.checkpoint_dir}. "),
            keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: self._log_skipped_images()
            ),
        ]

    def _patience(self):
        patience = self.config.training.patience
        if not patience:
            return []
        return [
            ValidationPatience(self.checkpoints.history, SELECTION_METRIC, patience)
        ]

    def _log_skipped_images(self):
        summary = self.skipped_images.summary()
        if summary:
            logging.warning("%s", summary)

    def _batches(self, initial_epoch):
        # One endless stream, so that a resumed run skips exactly the batches
        # of the epochs it has done and then sees the same batches as an
        # uninterrupted run.
        training = self.config.training
        return training_stream(
            self.train_split,
            training.batch_size,
            training.seed,
            initial_epoch=initial_epoch,
            num_replicas=self.strategy.num_replicas_in_sync,
            text_vectorizer=self.text_vectorizer,
            on_bad_item=self.config.data.on_bad_item,
            skipped=self.skipped_images,
        )

    def _fit(self, initial_epoch):
        if initial_epoch >= self.config.training.epochs:
            return
        # A run that stopped early and is started again is done, not resumed.
        if any(callback.exhausted() for callback in self._patience()):
            logging.info(
                "Validation MAP has not improved for %d epochs: nothing to train.",
                self.config.training.patience,
            )
            return
        # Outside the strategy's scope: the input stream, on the host,
        # updates it.
        self.skipped_images = SkippedImages()
        try:
            self.cmgan.fit(
                self._batches(initial_epoch),
                epochs=self.config.training.epochs,
                initial_epoch=initial_epoch,
                steps_per_epoch=self.steps_per_epoch,
                callbacks=self._callbacks(),
                verbose=self.config.runtime.verbose,
                shuffle=False,  # The dataset reshuffles itself every epoch.
            )
        except tf.errors.InvalidArgumentError as error:
            bad_image = undecoded_image_error(error)
            if bad_image is None:
                raise
            raise bad_image from None

    def _finish(self, initial_epoch, training_time):
        """Writes the best epoch's encoder and `metrics.json`; returns the metrics."""
        self.cmgan.load_weights(
            run_files.path(self.output_dir, run_files.BEST_WEIGHTS_FILE)
        )
        logging.info(
            "Generator weights fingerprint: %s",
            weights_fingerprint(self.cmgan.generator),
        )
        encoder = self.build_encoder(
            float32_generator(
                self.config,
                self.train_split,
                self.cmgan.generator,
                self.text_vectorizer,
            )
        )
        class_weighting = None
        if self.config.model.choose_class_weighting:
            class_weighting = _choose_class_weighting(encoder, self.validation_split)
            encoder = encoder.with_class_weighting(
                class_weighting["class_weight"], class_weighting["temperature"]
            )
        file_io.save_atomically(
            run_files.path(self.output_dir, run_files.ENCODER_FILE), encoder.save
        )
        history = self.checkpoints.history
        selection = history[SELECTION_METRIC]
        if self.keep_last_epoch:
            kept_epoch = len(selection)
        else:
            kept_epoch = 1 + max(range(len(selection)), key=selection.__getitem__)
        metrics = {
            "best_epoch": kept_epoch,
            "validation": evaluate_encoder(encoder, self.validation_split),
            "training_time_s": training_time,
            "resumed_after_epoch": initial_epoch,
            "replicas": self.strategy.num_replicas_in_sync,
            "history": history,
        }
        if class_weighting is not None:
            metrics["class_weighting"] = class_weighting
        file_io.write_json_atomically(
            run_files.path(self.output_dir, run_files.METRICS_FILE), metrics
        )
        logging.info(
            "%s epoch %d: validation MAP I->T %.4f, T->I %.4f%s. Trained in %.1f s.",
            "Last" if self.keep_last_epoch else "Best",
            metrics["best_epoch"],
            metrics["validation"]["map_image_to_text"],
            metrics["validation"]["map_text_to_image"],
            " (pairs it trained on)" if self.keep_last_epoch else "",
            training_time,
        )
        return metrics


def steps_per_execution(requested, steps_per_epoch):
    """Returns the largest divisor of `steps_per_epoch` not above `requested`.

    Keras' compiled loop runs its full `steps_per_execution` steps per call
    even past `steps_per_epoch` when the batches do not run out (ours are one
    endless stream), so a value that does not divide the epoch would move
    every later epoch's batches and the resume point.

    Args:
        requested: int >= 1, `--steps_per_execution`.
        steps_per_epoch: int >= 1.

    Returns:
        int in `[1, requested]` dividing `steps_per_epoch`.

    Example:
    >>> steps_per_execution(32, 27), steps_per_execution(10, 27)
    (27, 9)
    """
    return max(
        d
        for d in range(1, min(requested, steps_per_epoch) + 1)
        if steps_per_epoch % d == 0
    )


def slow_setting_advice(config, devices):
    """Returns advice against a setting known to slow training here, or `None`.

    XLA does not use oneDNN's bfloat16 matrix products on a CPU: the
    paper-size step under `mixed_bfloat16` took 252 ms with XLA and 175 ms
    without on a 2-core AVX512-BF16 CPU (BENCHMARKS.md).

    Args:
        config: An `ExperimentConfig`.
        devices: Names of the devices the replicas run on.
    """
    on_cpu = all(
        tf.DeviceSpec.from_string(device).device_type == "CPU" for device in devices
    )
    if (
        on_cpu
        and config.runtime.jit_compile
        and config.training.mixed_precision == "mixed_bfloat16"
    ):
        return (
            "mixed_bfloat16 with XLA on a CPU: XLA does not use the CPU's bfloat16 "
            "matrix products, so training is faster with --nojit_compile (the "
            "paper-size step: 175 ms against 252 ms on a 2-core CPU, BENCHMARKS.md)."
        )
    return None


def member_seed(seed, member):
    """Returns the training seed of an ensemble's member number `member`.

    Member 0 keeps the run's seed, so that it is the single run of that seed;
    the others draw theirs from it, so that no two ensembles of nearby seeds
    share members.

    Example:
    >>> member_seed(7, 0)
    7
    """
    if member == 0:
        return seed
    return int(np.random.SeedSequence([seed, member]).generate_state(1)[0] >> 1)


class _RunOfRuns(_Run):
    """A run made of `TrainingRun`s in its subdirectories, kept when finished."""

    def _prepare_model_dir(self):
        """Refuses a finished run; checks an interrupted one."""
        if self.overwrite:
            return
        self._refuse_a_finished_run()
        run_files.check_same_run(self.config, self.model_dir)


def _refuse_to_refit_image_files(train_split):
    """Refuses `--refit` where the validation pairs cannot join the training files.

    Training streams image files from disk, while validation pairs are
    decoded into memory; when they come apart from the training files (a
    dataset's own validation split, or an ensemble's, shared by its members),
    the two cannot be streamed as one split.
    """
    if isinstance(train_split, ImageFileSplit):
        raise InvalidInputError(
            "--refit trains on the validation pairs too, but here they come apart "
            "from the training image files (the dataset's own validation split, or "
            "the one an ensemble's members share) and cannot be streamed with them. "
            "Train with --norefit, or with --ensemble_size=1 on a dataset without a "
            "validation split of its own."
        )


class RefitRun(_RunOfRuns):
    """Chooses the epoch on validation, then trains on every labelled pair (`--refit`).

    A `TrainingRun` in `model_dir/selection` trains on the training pairs and
    keeps its best epoch on the validation pairs, as a run without `--refit`
    does. A second `TrainingRun` in `model_dir/refit` then trains from the
    start on the training and validation pairs together for that many epochs
    and keeps the last; its encoder is the run's. The validation pairs are
    among its training pairs, so `metrics.json` reports the validation scores
    of the selection run, the last that held them out. Running the same
    command again after a crash keeps a finished selection run and resumes
    the second one.

    Args:
        As `TrainingRun`'s.
    """

    def run(self):
        """Trains both runs; returns the dict written to `metrics.json`.

        Raises:
            As `TrainingRun.run`, and `InvalidInputError` for a dataset of image
            files that comes with its own validation split (its validation
            pairs, decoded for scoring, cannot join the files to train on).
        """
        self._prepare_model_dir()
        dataset, train_split, validation_split = prepare_data(self.config, self.dataset)
        if dataset.validation is None:
            every_pair = dataset.train
        else:
            _refuse_to_refit_image_files(train_split)
            every_pair = concatenate_splits(train_split, validation_split)
        # Refused under multi_worker, like ensembles: this process writes it all.
        self.output_dir = self.model_dir
        self._write_config()
        single = self.config.replace(training={"refit": False})
        selection = self._phase(
            run_files.SELECTION_DIR,
            single,
            dataclasses.replace(
                dataset, train=train_split, validation=validation_split
            ),
        )
        epochs = selection["best_epoch"]
        logging.info(
            "Refit: training again on all %d training and validation pairs for "
            "the %d epochs chosen on validation.",
            every_pair.num_pairs,
            epochs,
        )
        refit_config = single.replace(training={"epochs": epochs, "patience": 0})
        if "class_weighting" in selection:
            # Chosen on pairs the second run trains on: taken, not chosen again.
            chosen = selection["class_weighting"]
            refit_config = refit_config.replace(
                model={
                    "class_weight": chosen["class_weight"],
                    "temperature": chosen["temperature"],
                    "choose_class_weighting": False,
                }
            )
        refit = self._phase(
            run_files.REFIT_DIR,
            refit_config,
            dataclasses.replace(dataset, train=every_pair, validation=validation_split),
            keep_last_epoch=True,
        )
        refit_dir = run_files.path(self.model_dir, run_files.REFIT_DIR)
        _, encoder = run_files.load_run(refit_dir)
        file_io.save_atomically(
            run_files.path(self.model_dir, run_files.ENCODER_FILE), encoder.save
        )
        metrics = {
            "best_epoch": epochs,
            "validation": selection["validation"],
            "training_time_s": selection["training_time_s"] + refit["training_time_s"],
            "refit": {
                "model_dir": refit_dir,
                "training_pairs": every_pair.num_pairs,
                "epochs": refit["best_epoch"],
            },
        }
        if "class_weighting" in selection:
            metrics["class_weighting"] = selection["class_weighting"]
        file_io.write_json_atomically(
            run_files.path(self.model_dir, run_files.METRICS_FILE), metrics
        )
        return metrics

    def _phase(self, name, config, dataset, keep_last_epoch=False):
        """Runs `TrainingRun` in `model_dir/name` unless it has finished."""
        model_dir = run_files.path(self.model_dir, name)
        if self.overwrite or not run_files.is_finished(model_dir):
            TrainingRun(
                config.replace(runtime={"model_dir": model_dir}),
                overwrite=self.overwrite,
                dataset=dataset,
                preset_name=self.preset_name,
                keep_last_epoch=keep_last_epoch,
            ).run()
        return file_io.read_json(run_files.path(model_dir, run_files.METRICS_FILE))


class EnsembleRun(_RunOfRuns):
    """Trains `--ensemble_size` members and writes their `EnsembleEncoder`.

    Member `k` is a whole `TrainingRun` in `model_dir/members/member_k` with
    seed `member_seed(seed, k)`; all of them train and validate on the same
    pairs, the split of the run's own seed, so that the ensemble's validation
    scores are held out from every member. Running the same command again
    after a crash keeps the finished members and resumes the interrupted one.
    `model_dir` holds the ensemble's `config.json`, then its `encoder.keras`
    and `metrics.json` (each member's best epoch and validation scores, and
    the ensemble's).

    Args:
        As `TrainingRun`'s.
    """

    def run(self):
        """Trains every member; returns the dict written to `metrics.json`.

        Raises:
            As `TrainingRun.run`.
        """
        self._prepare_model_dir()
        dataset, train_split, validation_split = prepare_data(self.config, self.dataset)
        if self.config.training.refit:
            _refuse_to_refit_image_files(train_split)
        # Ensembles are refused under multi_worker: this process writes it all.
        self.output_dir = self.model_dir
        self._write_config()
        size = self.config.training.ensemble_size
        logging.info(
            "Ensemble of %d members, trained one after another on the same %d "
            "training and %d validation pairs, in %s.",
            size,
            train_split.num_pairs,
            validation_split.num_pairs,
            run_files.path(self.model_dir, run_files.MEMBERS_DIR),
        )
        # Every member validates on the ensemble's validation pairs.
        members_data = dataclasses.replace(
            dataset, train=train_split, validation=validation_split
        )
        members = [self._member(k, members_data) for k in range(size)]
        encoder = EnsembleEncoder([encoder for encoder, _ in members])
        held_out = self._held_out_encoder(encoder)
        class_weighting = None
        if self.config.model.choose_class_weighting:
            # Chosen for the ensemble, whose ranking is what retrieval uses.
            class_weighting = _choose_class_weighting(held_out, validation_split)
            encoder, held_out = (
                e.with_class_weighting(
                    class_weighting["class_weight"], class_weighting["temperature"]
                )
                for e in (encoder, held_out)
            )
        file_io.save_atomically(
            run_files.path(self.model_dir, run_files.ENCODER_FILE), encoder.save
        )
        metrics = {
            "best_epoch": [m["best_epoch"] for _, m in members],
            "validation": evaluate_encoder(held_out, validation_split),
            "training_time_s": sum(m["training_time_s"] for _, m in members),
            "members": [
                {
                    "model_dir": run_files.member_dir(self.model_dir, k),
                    "seed": member_seed(self.config.training.seed, k),
                    "best_epoch": m["best_epoch"],
                    "validation": m["validation"],
                }
                for k, (_, m) in enumerate(members)
            ],
        }
        if class_weighting is not None:
            metrics["class_weighting"] = class_weighting
        file_io.write_json_atomically(
            run_files.path(self.model_dir, run_files.METRICS_FILE), metrics
        )
        logging.info(
            "Ensemble of %d: validation MAP I->T %.4f, T->I %.4f (members' "
            "means %.4f, %.4f).",
            size,
            metrics["validation"]["map_image_to_text"],
            metrics["validation"]["map_text_to_image"],
            *(
                np.mean([m["validation"][f"map_{d}"] for _, m in members])
                for d in ("image_to_text", "text_to_image")
            ),
        )
        return metrics

    def _held_out_encoder(self, encoder):
        """The ensemble whose members did not train on the validation pairs.

        Under `--refit` each member's encoder has trained on them; the
        members' selection runs, which chose their epochs, have not.
        """
        if not self.config.training.refit:
            return encoder
        return EnsembleEncoder(
            [
                run_files.load_run(
                    run_files.path(
                        run_files.member_dir(self.model_dir, k), run_files.SELECTION_DIR
                    )
                )[1]
                for k in range(self.config.training.ensemble_size)
            ]
        )

    def _member(self, k, dataset):
        """Trains member `k` unless it has finished; returns `(encoder, metrics)`."""
        model_dir = run_files.member_dir(self.model_dir, k)
        if self.overwrite or not run_files.is_finished(model_dir):
            logging.info(
                "Ensemble member %d of %d.", k + 1, self.config.training.ensemble_size
            )
            config = self.config.replace(
                training={
                    "seed": member_seed(self.config.training.seed, k),
                    "ensemble_size": 1,
                },
                model={"choose_class_weighting": False},
                runtime={"model_dir": model_dir},
            )
            _run_class(config)(
                config,
                overwrite=self.overwrite,
                dataset=dataset,
                preset_name=self.preset_name,
            ).run()
        _, encoder = run_files.load_run(model_dir)
        metrics = file_io.read_json(run_files.path(model_dir, run_files.METRICS_FILE))
        return encoder, metrics


def _choose_class_weighting(encoder, validation_split):
    """`choose_class_weighting` on the validation pairs, logged."""
    logging.info(
        "Choosing the class weight and temperature on the %d validation pairs.",
        validation_split.num_pairs,
    )
    chosen = choose_class_weighting(encoder, validation_split)
    configured = chosen["scores"][0]
    logging.info(
        "Class weight %g at temperature %g: validation MAP I->T %.4f, T->I %.4f "
        "(the configured %g at %g: %.4f, %.4f).",
        *(chosen[k] for k in _CLASS_WEIGHTING_KEYS),
        *(configured[k] for k in _CLASS_WEIGHTING_KEYS),
    )
    return chosen


_CLASS_WEIGHTING_KEYS = (
    "class_weight",
    "temperature",
    "map_image_to_text",
    "map_text_to_image",
)


def train(config, *, overwrite=False, dataset=None, preset_name="reference"):
    """Trains a CM-GAN, or an ensemble of them, and writes its model directory.

    See `TrainingRun`, for `--refit` `RefitRun`, and for `--ensemble_size`
    above 1 `EnsembleRun`.

    Returns:
        Dict written to `metrics.json`.
    """
    return _run_class(config)(
        config, overwrite=overwrite, dataset=dataset, preset_name=preset_name
    ).run()


def _run_class(config):
    if config.training.ensemble_size > 1:
        return EnsembleRun
    return RefitRun if config.training.refit else TrainingRun
