"""The CM-GAN generator: two cross-modal autoencoders that share their common layers."""

import keras

from cmgan_tf.checks import check_choice
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.blocks import dense_stack

MODALITIES = ("image", "text")


@keras.saving.register_keras_serializable(package="cmgan_tf")
class CrossModalAutoencoder(keras.Model):
    """Image and text autoencoders whose common layers are one set of weights.

    Each modality runs `trunk -> encoder -> common -> decoder`: the trunk gives
    the original representation `v`, the modality-specific encoder and the
    common blocks give the common representation `s`, and the decoder
    reconstructs `v` from `s`. A classifier on `s` provides the semantic loss.

    Both pathways live in this one model, rather than in two models holding a
    shared layer, because Keras serialises each model's layers separately:
    two autoencoder models would come back from a `.keras` file with two copies
    of the "shared" layers. Here `image_common is text_common` when sharing, so
    the sharing survives saving and loading.

    Args:
        image_trunk: Layer mapping image inputs to `(batch, image_dim)` original
            representations; must have an `output_dim` attribute.
        text_trunk: Same for texts.
        num_classes: Number of classes of the semantic classifiers.
        encoder_units: Modality-specific encoder block sizes. Defaults to
            `(1024,)`.
        common_units: Common block sizes; the last is the common dimension.
            Defaults to `(1024,)`.
        share_common_layers: One set of common blocks for both modalities
            (`True`), or a copy per modality (`False`), initialised equally
            where both modalities feed it inputs of one size.
            Defaults to `True`.
        decoder_units: Decoder block sizes, common side first. Defaults to
            `(1024,)`.
        shared_decoder_layers: Number of leading decoder blocks shared by both
            modalities. Defaults to 0.
        classifier: `"per_modality"` or `"shared"`. Defaults to
            `"per_modality"`.
        image_dropout: Dropout rate of the image encoder blocks. Defaults to 0.
        text_dropout: Dropout rate of the text encoder blocks. Defaults to 0.
        common_dropout: Dropout rate of the common blocks. Defaults to 0.
        linear_common_output: Make the last common block a plain `Dense`
            layer, so that the common representation is a linear map of the
            layer before (no normalisation, activation or dropout). Defaults
            to `False`.
        leaky_relu_slope: Negative slope of the LeakyReLUs. Defaults to 0.2.
        seed: Seed of the dropout masks. Defaults to `None`.
        **kwargs: Base model arguments.

    Call arguments:
        inputs: Dict with `"image"` and `"text"` batches.

    Returns:
        Dict of `(batch, ...)` tensors: `image_original`, `text_original`
        (`v`), `image_common`, `text_common` (`s`, `(batch, common_dim)`),
        `image_reconstruction`, `text_reconstruction` (like `v`),
        `image_logits`, `text_logits` (`(batch, num_classes)`). The logits
        are float32; the others are in the layers' compute dtype (16-bit
        under a mixed dtype policy).

    Reference:
        Peng, Qi, Yuan. "CM-GANs", ACM TOMM 2019, section 3.2.
    """

    def __init__(
        self,
        image_trunk,
        text_trunk,
        num_classes,
        encoder_units=(1024,),
        common_units=(1024,),
        share_common_layers=True,
        decoder_units=(1024,),
        shared_decoder_layers=0,
        classifier="per_modality",
        image_dropout=0.0,
        text_dropout=0.0,
        common_dropout=0.0,
        linear_common_output=False,
        leaky_relu_slope=0.2,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if share_common_layers and not encoder_units:
            if image_trunk.output_dim != text_trunk.output_dim:
                raise InvalidInputError(
                    "Shared common layers need inputs of one size: with no "
                    "modality-specific encoder blocks, image and text "
                    f"representations must match (got {image_trunk.output_dim} and "
                    f"{text_trunk.output_dim}). Add `encoder_units`."
                )
        self.num_classes = num_classes
        self.encoder_units = tuple(encoder_units)
        self.common_units = tuple(common_units)
        self.share_common_layers = share_common_layers
        self.decoder_units = tuple(decoder_units)
        self.shared_decoder_layers = shared_decoder_layers
        self.classifier = classifier
        self.image_dropout = image_dropout
        self.text_dropout = text_dropout
        self.common_dropout = common_dropout
        self.linear_common_output = linear_common_output
        self.leaky_relu_slope = leaky_relu_slope
        self.seed = seed

        block = {"leaky_relu_slope": leaky_relu_slope}
        self.image_trunk = image_trunk
        self.text_trunk = text_trunk
        self.image_encoder = dense_stack(
            encoder_units,
            name="image_encoder",
            dropout=image_dropout,
            seed=seed,
            **block,
        )
        self.text_encoder = dense_stack(
            encoder_units, name="text_encoder", dropout=text_dropout, seed=seed, **block
        )
        common = {
            "linear_output": linear_common_output,
            "dropout": common_dropout,
            "seed": seed,
            **block,
        }
        self.image_common = dense_stack(common_units, name="common", **common)
        self.text_common = (
            self.image_common
            if share_common_layers
            else dense_stack(common_units, name="text_common", **common)
        )
        shared, own = (
            decoder_units[:shared_decoder_layers],
            decoder_units[shared_decoder_layers:],
        )
        self.shared_decoder = dense_stack(shared, name="shared_decoder", **block)
        self.image_decoder = keras.Sequential(
            [
                dense_stack(own, name="image_decoder_blocks", **block),
                keras.layers.Dense(image_trunk.output_dim, name="image_output"),
            ],
            name="image_decoder",
        )
        self.text_decoder = keras.Sequential(
            [
                dense_stack(own, name="text_decoder_blocks", **block),
                keras.layers.Dense(text_trunk.output_dim, name="text_output"),
            ],
            name="text_decoder",
        )
        # Class logits stay float32 under a mixed dtype policy, for the
        # semantic loss's softmax and the encoder's class probabilities.
        self.image_classifier = keras.layers.Dense(
            num_classes, name="image_classifier", dtype="float32"
        )
        self.text_classifier = (
            self.image_classifier
            if classifier == "shared"
            else keras.layers.Dense(
                num_classes, name="text_classifier", dtype="float32"
            )
        )

    @property
    def common_dim(self):
        """Size of the common representation."""
        return self.common_units[-1]

    def original_dim(self, modality):
        """Returns the size of one modality's original representation `v`.

        Args:
            modality: `"image"` or `"text"`.

        Returns:
            The width of the `{modality}_original` and
            `{modality}_reconstruction` outputs (the modality trunk's
            `output_dim`), which the discriminators read.

        Raises:
            InvalidInputError: for another `modality`.
        """
        check_choice("modality", modality, MODALITIES)
        return getattr(self, f"{modality}_trunk").output_dim

    def _pathway(self, modality):
        return (
            getattr(self, f"{modality}_trunk"),
            getattr(self, f"{modality}_encoder"),
            getattr(self, f"{modality}_common"),
            getattr(self, f"{modality}_decoder"),
            getattr(self, f"{modality}_classifier"),
        )

    def build(self, input_shape):
        copy_common = not self.share_common_layers and not self.text_common.built
        for modality in MODALITIES:
            trunk, encoder, common, decoder, classifier = self._pathway(modality)
            shape = input_shape[modality]
            for layer in (trunk, encoder, common, self.shared_decoder, decoder):
                if not layer.built:
                    layer.build(shape)
                shape = layer.compute_output_shape(shape)
                if layer is common and not classifier.built:
                    classifier.build(shape)
        if copy_common:
            # The unshared ablation starts from equal weights, so that only
            # the sharing differs from the shared model; inputs of different
            # sizes (no encoder blocks) cannot. Only on the first build: a
            # rebuild, e.g. by an encoder wrapping a trained generator, must
            # not overwrite trained weights.
            image_weights = self.image_common.get_weights()
            text_weights = self.text_common.get_weights()
            if all(
                a.shape == b.shape
                for a, b in zip(image_weights, text_weights, strict=True)
            ):
                self.text_common.set_weights(image_weights)

    def encode(self, inputs, modality, training=None):
        """Returns the original and common representations of one modality.

        Args:
            inputs: A batch of `modality` inputs.
            modality: `"image"` or `"text"`.
            training: Whether dropout and batch statistics are active.

        Returns:
            `(original, common)`: `(batch, original_dim)` and
            `(batch, common_dim)` tensors.
        """
        trunk, encoder, common, _, _ = self._pathway(modality)
        original = trunk(inputs)
        return original, common(encoder(original, training=training), training=training)

    def call(self, inputs, training=None):
        outputs = {}
        for modality in MODALITIES:
            _, _, _, decoder, classifier = self._pathway(modality)
            original, common = self.encode(inputs[modality], modality, training)
            decoded = decoder(
                self.shared_decoder(common, training=training), training=training
            )
            outputs[f"{modality}_original"] = original
            outputs[f"{modality}_common"] = common
            outputs[f"{modality}_reconstruction"] = decoded
            outputs[f"{modality}_logits"] = classifier(common)
        return outputs

    def get_config(self):
        return {
            **super().get_config(),
            "image_trunk": keras.saving.serialize_keras_object(self.image_trunk),
            "text_trunk": keras.saving.serialize_keras_object(self.text_trunk),
            "num_classes": self.num_classes,
            "encoder_units": self.encoder_units,
            "common_units": self.common_units,
            "share_common_layers": self.share_common_layers,
            "decoder_units": self.decoder_units,
            "shared_decoder_layers": self.shared_decoder_layers,
            "classifier": self.classifier,
            "image_dropout": self.image_dropout,
            "text_dropout": self.text_dropout,
            "common_dropout": self.common_dropout,
            "linear_common_output": self.linear_common_output,
            "leaky_relu_slope": self.leaky_relu_slope,
            "seed": self.seed,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("image_trunk", "text_trunk"):
            config[key] = keras.saving.deserialize_keras_object(config[key])
        return cls(**config)
