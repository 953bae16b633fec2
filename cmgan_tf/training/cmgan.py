"""`CMGAN`: the adversarial game of CM-GANs as a Keras model."""

import functools

import keras
import tensorflow as tf
from keras import ops

from cmgan_tf.config import LossConfig
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.autoencoder import MODALITIES
from cmgan_tf.training import keras_compat, losses
from cmgan_tf.training.sampling import sample_mismatched_indices

LOSS_TERMS = (
    "intra_adversarial",
    "inter_adversarial",
    "semantic",
    "class_probe",
    "reconstruction",
    "pair_distance",
    "pair_contrastive",
    "class_contrastive",
    "label_similarity",
)


@keras.saving.register_keras_serializable(package="cmgan_tf")
class CMGAN(keras_compat.SkipSymbolicBuildWhenBuilt, keras.Model):
    """Trains a `CrossModalAutoencoder` against its discriminators.

    Each `train_step` is one round of the game: one update of every
    discriminator, then `generator_steps` updates of the generator (trunks,
    encoders, common layers, decoders and classifiers). Each player has its own
    optimizer.

    Each update runs the player's forward pass, losses and gradients as one
    function and applies the gradients after it; the function returns the
    player's new batch-norm statistics and dropout seeds, which the step
    assigns after averaging them over replicas. Unless
    `compile(jit_compile=False)`, XLA compiles the whole step (Keras' own
    `jit_compile`) on one device with feature trunks, and each replica's
    function under a distribution strategy (where Keras' whole-step
    compilation fails) or with raw-input trunks. Where
    this departs from Keras' own `fit` path, the reason is a work-around in
    `keras_compat`.

    Under a mixed dtype policy the losses are computed in float32 from the
    generator's outputs cast to float32; a player whose optimizer is a
    `keras.optimizers.LossScaleOptimizer` has its loss multiplied by the
    optimizer's current scale inside the compiled function, and the optimizer
    unscales the gradients and skips non-finite steps.

    Args:
        generator: A `CrossModalAutoencoder`.
        image_intra_discriminator: `IntraModalityDiscriminator` for images, or
            `None` when `intra_adversarial` has weight 0.
        text_intra_discriminator: Same for texts.
        image_inter_discriminator: Conditional `InterModalityDiscriminator`
            `D(s, v_img)`, or the unconditional `D(s)`, or `None` when
            `inter_adversarial` has weight 0.
        text_inter_discriminator: Conditional `D(s, v_txt)`; `None` with an
            unconditional discriminator.
        loss_weights: Dict from the names in `LOSS_TERMS` to weights.
        multi_label: Whether items may have several labels.
        seed: Seed of the mismatched-item draws.
        contrastive_temperature: Softmax temperature of the contrastive terms
            on cosine similarities. Defaults to `LossConfig`'s (0.2).
        **kwargs: Base model arguments.

    Example:
    ```python
    model = CMGAN(generator, *discriminators, loss_weights={"semantic": 1.0, ...})
    model.compile(
        d_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
        g_optimizer=keras.optimizers.Adam(1e-3, beta_1=0.5),
        generator_steps=5,
    )
    model.fit(dataset_of_dicts_with_image_text_labels, epochs=100)
    ```

    Reference:
        Peng, Qi, Yuan. "CM-GANs", ACM TOMM 2019, Algorithm 1.
    """

    def __init__(
        self,
        generator,
        image_intra_discriminator=None,
        text_intra_discriminator=None,
        image_inter_discriminator=None,
        text_inter_discriminator=None,
        loss_weights=None,
        multi_label=False,
        seed=0,
        contrastive_temperature=LossConfig.contrastive_temperature,
        **kwargs,
    ):
        super().__init__(**kwargs)
        weights = {term: 0.0 for term in LOSS_TERMS}
        unknown = set(loss_weights or {}) - set(LOSS_TERMS)
        if unknown:
            raise InvalidInputError(
                f"Unknown loss terms {sorted(unknown)}; expected some of {LOSS_TERMS}."
            )
        weights.update(loss_weights or {"semantic": 1.0})
        self.loss_weights = weights
        self.generator = generator
        self.image_intra_discriminator = image_intra_discriminator
        self.text_intra_discriminator = text_intra_discriminator
        self.image_inter_discriminator = image_inter_discriminator
        self.text_inter_discriminator = text_inter_discriminator
        self.multi_label = multi_label
        self.seed = seed
        self.contrastive_temperature = contrastive_temperature
        self._check_discriminators()
        self.generator_steps = 1
        self._step_function = None
        self.trackers = {
            name: keras.metrics.Mean(name=name) for name in self._metric_names()
        }

    @property
    def uses_intra(self):
        """Whether the intra-modality game is played."""
        return self.loss_weights["intra_adversarial"] > 0

    @property
    def uses_inter(self):
        """Whether the inter-modality game is played."""
        return self.loss_weights["inter_adversarial"] > 0

    @property
    def conditional_inter(self):
        """Whether the inter-modality discriminators are conditional `D(s, v)`."""
        return self.uses_inter and self.text_inter_discriminator is not None

    @property
    def discriminators(self):
        """The discriminators in play."""
        return [
            d
            for d in (
                self.image_intra_discriminator,
                self.text_intra_discriminator,
                self.image_inter_discriminator,
                self.text_inter_discriminator,
            )
            if d is not None
        ]

    def _check_discriminators(self):
        intra = (self.image_intra_discriminator, self.text_intra_discriminator)
        if self.uses_intra != all(d is not None for d in intra) or (
            not self.uses_intra and any(d is not None for d in intra)
        ):
            raise InvalidInputError(
                "Intra-modality discriminators must be given for both modalities "
                "exactly when loss_weights['intra_adversarial'] > 0. Received "
                f"weight {self.loss_weights['intra_adversarial']} with "
                f"{sum(d is not None for d in intra)} discriminators."
            )
        if self.uses_inter != (self.image_inter_discriminator is not None) or (
            not self.uses_inter and self.text_inter_discriminator is not None
        ):
            raise InvalidInputError(
                "Inter-modality discriminators must be given exactly when "
                "loss_weights['inter_adversarial'] > 0 (both conditional ones, or "
                "one unconditional as `image_inter_discriminator`). Received weight "
                f"{self.loss_weights['inter_adversarial']}."
            )

    def _metric_names(self):
        names = []
        if self.uses_intra:
            names += ["d_intra_image_loss", "d_intra_text_loss", "d_intra_accuracy"]
        if self.uses_inter:
            if self.conditional_inter:
                names += ["d_inter_image_loss", "d_inter_text_loss"]
            else:
                names += ["d_inter_loss"]
            names += ["d_inter_accuracy"]
        if self.discriminators:
            names.append("d_loss")
        names += [f"g_{t}_loss" for t in LOSS_TERMS if self.loss_weights[t] > 0]
        names.append("g_loss")
        return names

    @property
    def metrics(self):
        return list(self.trackers.values())

    def compile(
        self,
        d_optimizer=None,
        g_optimizer=None,
        *,
        generator_steps=5,
        jit_compile=True,
        **kwargs,
    ):
        """Configures the two players' optimizers and the game.

        Args:
            d_optimizer: Optimizer of all discriminators; may be `None` only
                when no adversarial term is played.
            g_optimizer: Optimizer of the generator.
            generator_steps: Generator updates per discriminator update.
                Defaults to 5, as in the authors' code.
            jit_compile: Compile with XLA: the whole step on one device
                with feature trunks, else each player's forward pass, losses
                and gradients per replica. Defaults to `True`.
            **kwargs: Passed to `keras.Model.compile` (e.g. `steps_per_execution`).

        Raises:
            InvalidInputError: for a missing optimizer or bad `generator_steps`.
        """
        if g_optimizer is None:
            raise InvalidInputError("`g_optimizer` is required.")
        if self.discriminators and d_optimizer is None:
            raise InvalidInputError(
                "`d_optimizer` is required when an adversarial loss term is played."
            )
        if not isinstance(generator_steps, int) or generator_steps < 1:
            raise InvalidInputError(
                "`generator_steps` must be a positive integer. "
                f"Received: generator_steps={generator_steps!r}"
            )
        whole_step, per_replica = keras_compat.xla_compilation(jit_compile)
        super().compile(jit_compile=whole_step, **kwargs)
        self.d_optimizer = d_optimizer
        self.g_optimizer = g_optimizer
        self.generator_steps = generator_steps
        # One function, traced once per player (`player` is a Python string).
        self._step_function = keras_compat.compile_replica_function(
            self._losses_and_gradients, per_replica
        )
        self._build_optimizers()

    def call(self, inputs, training=None):
        return self.generator(inputs, training=training)

    def build(self, input_shape):
        self.generator.build(input_shape)
        dims = {m: self.generator.original_dim(m) for m in MODALITIES}
        common = (None, self.generator.common_dim)
        if self.uses_intra:
            self.image_intra_discriminator.build((None, dims["image"]))
            self.text_intra_discriminator.build((None, dims["text"]))
        if self.conditional_inter:
            self.image_inter_discriminator.build(common, (None, dims["image"]))
            self.text_inter_discriminator.build(common, (None, dims["text"]))
        elif self.uses_inter:
            self.image_inter_discriminator.build(common)
        self.built = True
        self._build_optimizers()

    def _build_optimizers(self):
        # Once both the model and its optimizers exist, whichever of `build`
        # and `compile` comes second: both run under the strategy's scope.
        if not self.built or self._step_function is None:
            return
        keras_compat.build_optimizer(
            self.g_optimizer, self._player_variables("generator")[0]
        )
        keras_compat.build_optimizer(
            self.d_optimizer, self._player_variables("discriminator")[0]
        )

    def _player_variables(self, player):
        """Returns `(trainable, non_trainable, others)` variable lists of a player."""
        if player == "generator":
            own, other = [self.generator], self.discriminators
        else:
            own, other = self.discriminators, [self.generator]
        trainable = [v for layer in own for v in layer.trainable_variables]
        non_trainable = [v for layer in own for v in layer.non_trainable_variables]
        others = [v for layer in other for v in layer.variables]
        return trainable, non_trainable, others

    def _losses_and_gradients(self, player, values, batch, seed, loss_scale=None):
        """Pure forward, losses and gradients of one player (compiled with XLA).

        Args:
            player: `"discriminator"` or `"generator"`.
            values: Current values of `_player_variables(player)`, as three
                lists of tensors.
            batch: Dict with `image`, `text` and `labels`.
            seed: `(2,)` seed of the mismatched-item draw.
            loss_scale: Scalar float32 tensor, the `LossScaleOptimizer`'s
                current scale, or `None` for no loss scaling.

        Returns:
            `(terms, gradients, non_trainable)`: the dict of loss terms, the
            gradients for the player's trainable variables (multiplied by
            `loss_scale`), and the new values of its non-trainable variables.
        """
        trainable, non_trainable, others = self._player_variables(player)
        trainable_values, non_trainable_values, other_values = values
        if player == "generator":
            losses_of_player = functools.partial(self._generator_losses, batch)
        else:
            losses_of_player = functools.partial(
                self._discriminator_losses, batch, seed
            )
        with tf.GradientTape() as tape:
            tape.watch(trainable_values)
            (terms, total), new_values = keras_compat.stateless_call(
                losses_of_player,
                trainable + non_trainable + others,
                trainable_values + non_trainable_values + other_values,
                returning=non_trainable,
            )
            scaled = keras_compat.scale_loss_for_replicas(total)
            if loss_scale is not None:
                # Float16 gradients of an unscaled loss underflow to zero;
                # `LossScaleOptimizer.apply` divides the scale out again.
                scaled = scaled * loss_scale
        gradients = tape.gradient(scaled, trainable_values)
        return terms, gradients, new_values

    def _discriminator_losses(self, batch, seed):
        outputs = _float32(self.generator(batch, training=True))
        out = {k: ops.stop_gradient(v) for k, v in outputs.items()}
        terms, accuracies = {}, {}
        if self.uses_intra:
            correct = []
            for modality in MODALITIES:
                discriminator = getattr(self, f"{modality}_intra_discriminator")
                original = out[f"{modality}_original"]
                # Real and fake go through one call so that batch statistics
                # of the discriminator see both, as they do at its output.
                logits = discriminator(
                    ops.concatenate([original, out[f"{modality}_reconstruction"]]),
                    training=True,
                )
                real, fake = ops.split(logits, 2)
                terms[f"d_intra_{modality}_loss"] = (
                    losses.intra_modality_discriminator_loss(real, fake)
                )
                correct += [real > 0, fake < 0]
            accuracies["d_intra_accuracy"] = _accuracy(correct)
        if self.conditional_inter:
            mismatched = sample_mismatched_indices(batch["labels"], seed)
            correct = []
            for modality, other in (("image", "text"), ("text", "image")):
                discriminator = getattr(self, f"{modality}_inter_discriminator")
                own = out[f"{modality}_common"]
                candidates = ops.concatenate(
                    [own, out[f"{other}_common"], ops.take(own, mismatched, axis=0)]
                )
                condition = ops.tile(out[f"{modality}_original"], (3, 1))
                logits = discriminator(candidates, condition, training=True)
                own_logits, other_logits, mismatched_logits = ops.split(logits, 3)
                terms[f"d_inter_{modality}_loss"] = (
                    losses.inter_modality_discriminator_loss(
                        own_logits, other_logits, mismatched_logits
                    )
                )
                correct += [own_logits > 0, other_logits < 0, mismatched_logits < 0]
            accuracies["d_inter_accuracy"] = _accuracy(correct)
        elif self.uses_inter:
            logits = self.image_inter_discriminator(
                ops.concatenate([out["image_common"], out["text_common"]]),
                training=True,
            )
            image_logits, text_logits = ops.split(logits, 2)
            terms["d_inter_loss"] = losses.modality_discriminator_loss(
                image_logits, text_logits
            )
            accuracies["d_inter_accuracy"] = _accuracy(
                [image_logits > 0, text_logits < 0]
            )
        total = sum(terms.values())
        return {**terms, **accuracies, "d_loss": total}, total

    def _generator_losses(self, batch):
        out = _float32(self.generator(batch, training=True))
        originals = {m: ops.stop_gradient(out[f"{m}_original"]) for m in MODALITIES}
        terms = {}
        if self.loss_weights["semantic"] > 0:
            terms["semantic"] = sum(
                losses.semantic_loss(
                    out[f"{m}_logits"], batch["labels"], self.multi_label
                )
                for m in MODALITIES
            )
        if self.loss_weights["class_probe"] > 0:
            # The classifier learns from the common representation without
            # shaping it: retrieval adds its probabilities to that
            # representation (`CrossModalEncoder`'s
            # "standardized_common_and_classes").
            terms["class_probe"] = sum(
                losses.semantic_loss(
                    getattr(self.generator, f"{m}_classifier")(
                        ops.stop_gradient(out[f"{m}_common"])
                    ),
                    batch["labels"],
                    self.multi_label,
                )
                for m in MODALITIES
            )
        if self.uses_intra:
            terms["intra_adversarial"] = sum(
                losses.intra_modality_generator_loss(
                    getattr(self, f"{m}_intra_discriminator")(
                        out[f"{m}_reconstruction"], training=True
                    )
                )
                for m in MODALITIES
            )
        if self.conditional_inter:
            terms["inter_adversarial"] = sum(
                losses.inter_modality_generator_loss(
                    getattr(self, f"{m}_inter_discriminator")(
                        out[f"{other}_common"], originals[m], training=True
                    )
                )
                for m, other in (("image", "text"), ("text", "image"))
            )
        elif self.uses_inter:
            logits = self.image_inter_discriminator(
                ops.concatenate([out["image_common"], out["text_common"]]),
                training=True,
            )
            terms["inter_adversarial"] = losses.modality_generator_loss(
                *ops.split(logits, 2)
            )
        if self.loss_weights["reconstruction"] > 0:
            terms["reconstruction"] = sum(
                losses.reconstruction_loss(originals[m], out[f"{m}_reconstruction"])
                for m in MODALITIES
            )
        if self.loss_weights["pair_distance"] > 0:
            terms["pair_distance"] = losses.pair_distance_loss(
                out["image_common"], out["text_common"]
            )
        if self.loss_weights["pair_contrastive"] > 0:
            terms["pair_contrastive"] = losses.pair_contrastive_loss(
                out["image_common"],
                out["text_common"],
                self.contrastive_temperature,
            )
        if self.loss_weights["class_contrastive"] > 0:
            terms["class_contrastive"] = losses.class_contrastive_loss(
                out["image_common"],
                out["text_common"],
                batch["labels"],
                self.contrastive_temperature,
            )
        if self.loss_weights["label_similarity"] > 0:
            terms["label_similarity"] = losses.label_similarity_loss(
                out["image_common"], out["text_common"], batch["labels"]
            )
        total = sum(self.loss_weights[t] * value for t, value in terms.items())
        return {**{f"g_{t}_loss": v for t, v in terms.items()}, "g_loss": total}, total

    def _update(self, player, batch):
        """Runs one update of `player` and returns its loss terms."""
        if self._step_function is None:
            raise RuntimeError("Call `compile()` before training a CMGAN.")
        trainable, non_trainable, others = self._player_variables(player)
        values = tuple(
            [tf.convert_to_tensor(v.value) for v in variables]
            for variables in (trainable, non_trainable, others)
        )
        optimizer = self.g_optimizer if player == "generator" else self.d_optimizer
        loss_scale, clip_norm = None, optimizer.global_clipnorm
        if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
            # Passed in as a value: the compiled function must not capture
            # the optimizer's variable.
            loss_scale = tf.convert_to_tensor(optimizer.dynamic_scale.value)
            clip_norm = optimizer.inner_optimizer.global_clipnorm
        # Stateless draws: seeded by the run's seed, the update count and the
        # replica, so replicas draw differently and reruns draw the same.
        replica = tf.distribute.get_replica_context().replica_id_in_sync_group
        seed = tf.stack(
            [
                tf.cast(self.seed, tf.int64) * 1024 + tf.cast(replica, tf.int64),
                tf.cast(optimizer.iterations, tf.int64),
            ]
        )
        terms, gradients, new_values = self._step_function(
            player, values, batch, seed, loss_scale
        )
        # Parts no active loss reads (decoders without an intra-modality or
        # reconstruction term) have no gradient; they are simply not updated.
        updates = [
            (g, v) for g, v in zip(gradients, trainable, strict=True) if g is not None
        ]
        gradients, variables = zip(*updates, strict=True)
        optimizer.apply(
            keras_compat.clip_across_replicas(gradients, clip_norm, loss_scale),
            list(variables),
        )
        keras_compat.assign_replica_mean(non_trainable, new_values)
        for name, value in terms.items():
            self.trackers[name].update_state(value)
        return terms

    def discriminator_step(self, batch):
        """One update of every discriminator; the generator is left unchanged.

        Args:
            batch: Dict with `image`, `text` and `labels` `(batch, num_classes)`.

        Returns:
            Dict of the discriminators' loss terms.
        """
        return self._update("discriminator", batch)

    def generator_step(self, batch):
        """One update of the generator; the discriminators are left unchanged.

        Args:
            batch: Dict with `image`, `text` and `labels` `(batch, num_classes)`.

        Returns:
            Dict of the generator's loss terms.
        """
        return self._update("generator", batch)

    def train_step(self, batch):
        if self.discriminators:
            self.discriminator_step(batch)
        for _ in range(self.generator_steps):
            self.generator_step(batch)
        return keras_compat.reducible_step_outputs(
            {name: tracker.result() for name, tracker in self.trackers.items()}
        )

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        return {
            **super().get_config(),
            "generator": serialize(self.generator),
            "image_intra_discriminator": serialize(self.image_intra_discriminator),
            "text_intra_discriminator": serialize(self.text_intra_discriminator),
            "image_inter_discriminator": serialize(self.image_inter_discriminator),
            "text_inter_discriminator": serialize(self.text_inter_discriminator),
            "loss_weights": self.loss_weights,
            "multi_label": self.multi_label,
            "seed": self.seed,
            "contrastive_temperature": self.contrastive_temperature,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in (
            "generator",
            "image_intra_discriminator",
            "text_intra_discriminator",
            "image_inter_discriminator",
            "text_inter_discriminator",
        ):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)


def _float32(outputs):
    """Casts the generator's outputs to float32, in which every loss is computed.

    Under a mixed dtype policy the representations are 16-bit; the losses'
    sums, softmaxes and L2 normalisations need float32's range and precision.
    """
    return {name: ops.cast(value, "float32") for name, value in outputs.items()}


def _accuracy(correct):
    """Share of `True` over a list of boolean `(batch, 1)` tensors."""
    return ops.mean(ops.cast(ops.concatenate(correct), "float32"))
