"""Builds the CM-GAN, its tokeniser and its optimizers from a config."""

import contextlib

import keras
from absl import logging

from cmgan_tf.data.dataset import RAW_SPLITS
from cmgan_tf.data.word_vectors import load_word_vectors
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.autoencoder import CrossModalAutoencoder
from cmgan_tf.models.backbones import ApplicationImageTrunk
from cmgan_tf.models.discriminators import (
    InterModalityDiscriminator,
    IntraModalityDiscriminator,
)
from cmgan_tf.models.raw_trunks import (
    ConvImageTrunk,
    WordCNNTextTrunk,
    make_text_vectorizer,
)
from cmgan_tf.models.trunks import FeatureTrunk
from cmgan_tf.training.cmgan import CMGAN
from cmgan_tf.training.optimizers import FusedAdam


@contextlib.contextmanager
def dtype_policy_scope(name):
    """Makes `name` Keras' dtype policy for the body of a `with`, then restores it.

    Layers take the global policy when they are created, each sublayer its
    own, so building a model inside the scope gives every layer the policy;
    restoring it afterwards keeps the next model built in the same process
    (a float32 run after a mixed one, the float32 export copy) at its own.

    Args:
        name: A Keras dtype policy name, e.g. `"mixed_bfloat16"`.
    """
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_text_vectorizer(config, train_split):
    """Returns the tokeniser of raw captions, adapted on the training texts.

    Args:
        config: An `ExperimentConfig`.
        train_split: The training split; `None` is returned for feature
            vectors (a `PairedSplit`).
    """
    if not isinstance(train_split, RAW_SPLITS):
        return None
    return make_text_vectorizer(
        train_split.texts,
        vocabulary_size=config.model.text_trunk.vocabulary_size,
        sequence_length=config.model.text_trunk.sequence_length,
    )


def _trunks(config, train_split, text_vectorizer):
    """Returns `(image_trunk, text_trunk)` for the kind of inputs of the split."""
    image, text = config.model.image_trunk, config.model.text_trunk
    kernel_maps = {
        name: value
        for name in ("image_kernel_landmarks", "text_kernel_landmarks")
        if (value := getattr(config.data, name))
    }
    if text_vectorizer is not None and kernel_maps:
        raise InvalidInputError(
            "Kernel feature maps apply to feature vectors only; dataset "
            f"{config.data.dataset!r} has raw images and captions. Received: "
            + ", ".join(f"{name}={value}" for name, value in kernel_maps.items())
        )
    if text_vectorizer is None:
        return (
            FeatureTrunk.fitted(
                train_split.images,
                config.data.image_transform,
                kernel_landmarks=config.data.image_kernel_landmarks,
                seed=config.training.seed,
                name="image_trunk",
            ),
            FeatureTrunk.fitted(
                train_split.texts,
                config.data.text_transform,
                kernel_landmarks=config.data.text_kernel_landmarks,
                seed=config.training.seed,
                name="text_trunk",
            ),
        )
    if image.backbone == "conv":
        image_trunk = ConvImageTrunk(
            train_split.image_shape[0],
            filters=image.filters,
            units=image.units,
            name="image_trunk",
        )
    else:
        image_trunk = ApplicationImageTrunk(
            image.backbone,
            train_split.image_shape[0],
            units=image.units,
            trainable_backbone=image.backbone_trainable,
            weights_path=image.backbone_weights,
            name="image_trunk",
        )
    return (
        image_trunk,
        WordCNNTextTrunk(
            text_vectorizer.vocabulary_size(),
            text.sequence_length,
            embedding_dim=text.embedding_dim,
            window_sizes=text.window_sizes,
            filters_per_window=text.filters,
            name="text_trunk",
        ),
    )


def input_shapes(config, train_split):
    """Returns the generator's input shapes, token ids for raw captions."""
    text = (
        (None, config.model.text_trunk.sequence_length)
        if isinstance(train_split, RAW_SPLITS)
        else (None, *train_split.text_shape)
    )
    return {"image": (None, *train_split.image_shape), "text": text}


def build_generator(config, train_split, text_vectorizer=None):
    """Returns the `CrossModalAutoencoder` for the split's kind of inputs.

    Feature vectors get `FeatureTrunk`s standardised with training statistics;
    raw pairs get a `ConvImageTrunk` and a `WordCNNTextTrunk`.

    Args:
        config: An `ExperimentConfig`.
        train_split: The training split the trunks are fitted on (training
            pairs only, never validation or test).
        text_vectorizer: From `build_text_vectorizer`, for raw pairs.
    """
    model = config.model
    image_trunk, text_trunk = _trunks(config, train_split, text_vectorizer)
    return CrossModalAutoencoder(
        image_trunk=image_trunk,
        text_trunk=text_trunk,
        num_classes=train_split.num_classes,
        encoder_units=model.encoder_units,
        common_units=model.common_units,
        share_common_layers=model.share_common_layers,
        decoder_units=model.decoder_units,
        shared_decoder_layers=model.shared_decoder_layers,
        classifier=model.classifier,
        image_dropout=model.image_dropout,
        text_dropout=model.text_dropout,
        common_dropout=model.common_dropout,
        linear_common_output=model.linear_common_output,
        leaky_relu_slope=model.leaky_relu_slope,
        seed=config.training.seed,
        name="generator",
    )


def build_cmgan(config, train_split, multi_label, text_vectorizer=None):
    """Returns a built `CMGAN` with the discriminators its loss weights need.

    Every layer takes the dtype policy `config.training.mixed_precision`;
    Keras' global policy is as before once it returns.

    Args:
        config: An `ExperimentConfig`.
        train_split: The training split.
        multi_label: Whether items may have several labels.
        text_vectorizer: From `build_text_vectorizer`, for raw pairs.
    """
    with dtype_policy_scope(config.training.mixed_precision):
        model, weights = config.model, config.loss
        slope = model.leaky_relu_slope
        discriminators = {}
        if weights.intra_adversarial_weight > 0:
            for modality in ("image", "text"):
                discriminators[f"{modality}_intra_discriminator"] = (
                    IntraModalityDiscriminator(
                        model.intra_discriminator_units,
                        leaky_relu_slope=slope,
                        name=f"{modality}_intra_discriminator",
                    )
                )
        if weights.inter_adversarial_weight > 0:
            conditional = model.inter_discriminator == "conditional"
            for modality in ("image", "text") if conditional else ("image",):
                discriminators[f"{modality}_inter_discriminator"] = (
                    InterModalityDiscriminator(
                        model.inter_discriminator_units,
                        conditional=conditional,
                        leaky_relu_slope=slope,
                        name=f"{modality}_inter_discriminator",
                    )
                )
        cmgan = CMGAN(
            build_generator(config, train_split, text_vectorizer),
            loss_weights=weights.weights(),
            contrastive_temperature=weights.contrastive_temperature,
            multi_label=multi_label,
            seed=config.training.seed,
            name="cmgan",
            **discriminators,
        )
        cmgan.build(input_shapes(config, train_split))
        word_vectors = config.model.text_trunk.word_vectors
        if word_vectors and text_vectorizer is not None:
            _initialise_word_embeddings(
                cmgan.generator.text_trunk.embedding,
                text_vectorizer.get_vocabulary(),
                word_vectors,
            )
    return cmgan


def float32_generator(config, train_split, generator, text_vectorizer=None):
    """Returns a float32 generator holding the weights of a trained one.

    The encoder that is saved, evaluated and exported is float32 under every
    training policy: the weights are float32 anyway, 16-bit common
    representations would tie items in a ranking, and TFLite's kernels are
    float32. Under `float32` the generator itself is returned.

    Args:
        config: The run's `ExperimentConfig`.
        train_split: The training split it was built with.
        generator: The trained `CrossModalAutoencoder`.
        text_vectorizer: From `build_text_vectorizer`, for raw pairs.
    """
    if config.training.mixed_precision == "float32":
        return generator
    with dtype_policy_scope("float32"):
        copy = build_generator(config, train_split, text_vectorizer)
        copy.build(input_shapes(config, train_split))
    copy.set_weights(generator.get_weights())
    return copy


def _initialise_word_embeddings(embedding, vocabulary, path):
    """Copies pretrained vectors into the embedding rows of the words found."""
    vectors, found = load_word_vectors(path, vocabulary, embedding.output_dim)
    # Padding and out-of-vocabulary ids have no pretrained vector.
    found[:2] = False
    weights = keras.ops.convert_to_numpy(embedding.embeddings)
    weights[found] = vectors[found]
    embedding.embeddings.assign(weights)
    logging.info(
        "Word vectors from %s for %d of the %d vocabulary words.",
        path,
        found.sum(),
        len(vocabulary) - 2,
    )


def build_optimizers(training, steps_per_epoch):
    """Returns `(d_optimizer, g_optimizer)`: Adam with step learning-rate decay.

    Adam is `FusedAdam`: Keras' Adam, with the update done by TensorFlow's
    fused kernel.

    Both clip their gradients' global norm to `clip_norm` when it is positive.
    The generator's optimizer also applies `weight_decay` and, with a positive
    `ema_momentum`, keeps a moving average of the generator's weights (see
    `GeneratorWeightAveraging`).

    Under `mixed_float16` each is wrapped in a `LossScaleOptimizer`: float16
    gradients of small losses underflow to zero unless the loss is scaled up
    first (`CMGAN` multiplies by the optimizer's current scale, the wrapper
    divides it out and skips steps whose gradients overflowed).

    The rate is multiplied by `lr_decay_rate` every `lr_decay_epochs` epochs,
    as in the authors' code. The generator's optimizer takes
    `generator_steps` updates per batch, so its decay counts those.

    Args:
        training: A `TrainingConfig`.
        steps_per_epoch: Batches per epoch.
    """

    def adam(updates_per_batch, weight_decay=0.0, ema_momentum=0.0):
        schedule = keras.optimizers.schedules.ExponentialDecay(
            training.learning_rate,
            decay_steps=steps_per_epoch * updates_per_batch * training.lr_decay_epochs,
            decay_rate=training.lr_decay_rate,
            staircase=True,
        )
        optimizer = FusedAdam(
            schedule,
            beta_1=training.beta_1,
            global_clipnorm=training.clip_norm or None,
            weight_decay=weight_decay or None,
            use_ema=ema_momentum > 0,
            ema_momentum=ema_momentum or 0.99,
        )
        if training.mixed_precision == "mixed_float16":
            return keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    return adam(1), adam(
        training.generator_steps, training.weight_decay, training.ema_momentum
    )
