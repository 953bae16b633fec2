"""`CrossModalEncoder`: the trained model as used for retrieval and serving."""

import keras
import numpy as np
from keras import ops

from cmgan_tf.models.autoencoder import MODALITIES


@keras.saving.register_keras_serializable(package="cmgan_tf")
class CrossModalEncoder(keras.Model):
    """Maps images and texts to L2-normalised common representations.

    The encoding half of a trained `CrossModalAutoencoder`, followed by an
    optional per-modality standardisation of the common representation (with
    statistics of the training pairs) and L2 normalisation, so that a dot
    product is the cosine similarity that retrieval ranks by. Everything is in
    the graph: the encoder takes the same inputs as the generator.

    Args:
        generator: A trained `CrossModalAutoencoder`.
        statistics: `None` for no standardisation, or a dict with
            `image_mean`, `image_variance`, `text_mean`, `text_variance`, each
            `(common_dim,)`.
        **kwargs: Base model arguments.

    Call arguments:
        inputs: Dict with `"image"` and/or `"text"` batches.

    Returns:
        Dict with the same keys, each `(batch, common_dim)` with unit L2 norm.
    """

    def __init__(self, generator, statistics=None, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.statistics = (
            None
            if statistics is None
            else {k: np.asarray(v, "float32") for k, v in statistics.items()}
        )
        self.standardizations = (
            {}
            if self.statistics is None
            else {
                m: keras.layers.Normalization(
                    mean=self.statistics[f"{m}_mean"],
                    variance=self.statistics[f"{m}_variance"],
                    name=f"{m}_standardization",
                )
                for m in MODALITIES
            }
        )

    @classmethod
    def from_generator(cls, generator, images, texts, *, standardize, batch_size=1024):
        """Builds an encoder, fitting the standardisation on training pairs.

        Args:
            generator: A trained `CrossModalAutoencoder`.
            images: `(n, ...)` training image inputs.
            texts: `(n, ...)` training text inputs.
            standardize: Whether to standardise the common representations.
            batch_size: Inference batch size.

        Returns:
            A `CrossModalEncoder`.
        """
        shapes = {"image": (None, *images.shape[1:]), "text": (None, *texts.shape[1:])}
        if not standardize:
            encoder = cls(generator)
            encoder.build(shapes)
            return encoder
        statistics = {}
        for modality, inputs in (("image", images), ("text", texts)):
            common = _in_batches(
                lambda x, m=modality: generator.encode(x, m)[1], inputs, batch_size
            )
            statistics[f"{modality}_mean"] = common.mean(axis=0)
            # A dimension that is constant on the training pairs carries no
            # ranking information; a floor keeps it from dividing by zero.
            statistics[f"{modality}_variance"] = np.maximum(common.var(axis=0), 1e-6)
        encoder = cls(generator, statistics)
        encoder.build(shapes)
        return encoder

    def encode(self, inputs, modality):
        """Returns `(batch, common_dim)` unit-norm representations of one modality.

        Args:
            inputs: A batch of `modality` inputs.
            modality: `"image"` or `"text"`.
        """
        _, common = self.generator.encode(inputs, modality, training=False)
        if self.standardizations:
            common = self.standardizations[modality](common)
        return common / ops.maximum(ops.norm(common, axis=-1, keepdims=True), 1e-12)

    def encode_image(self, images):
        """Returns `(batch, common_dim)` unit-norm image representations."""
        return self.encode(images, "image")

    def encode_text(self, texts):
        """Returns `(batch, common_dim)` unit-norm text representations."""
        return self.encode(texts, "text")

    def predict_arrays(self, inputs, modality, batch_size=1024):
        """Encodes a NumPy array in batches and returns a NumPy array.

        Args:
            inputs: `(n, ...)` inputs of `modality`.
            modality: `"image"` or `"text"`.
            batch_size: Inference batch size.

        Returns:
            `(n, common_dim)` float32 array.
        """
        return _in_batches(lambda x: self.encode(x, modality), inputs, batch_size)

    def build(self, input_shape):
        if not self.generator.built:
            self.generator.build(input_shape)
        for layer in self.standardizations.values():
            layer.build((None, self.generator.common_dim))

    def call(self, inputs):
        return {m: self.encode(inputs[m], m) for m in MODALITIES if m in inputs}

    def get_config(self):
        return {
            **super().get_config(),
            "generator": keras.saving.serialize_keras_object(self.generator),
            "statistics": None
            if self.statistics is None
            else {k: v.tolist() for k, v in self.statistics.items()},
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["generator"] = keras.saving.deserialize_keras_object(config["generator"])
        return cls(**config)


def _in_batches(function, inputs, batch_size):
    """Applies `function` to consecutive batches of `inputs`; returns NumPy."""
    return np.concatenate(
        [
            ops.convert_to_numpy(function(inputs[i : i + batch_size]))
            for i in range(0, len(inputs), batch_size)
        ]
    )
