"""Trunks: what turns a modality's input into its original representation `v`.

Benchmarks ship pre-extracted feature vectors, so the trunk here prepares
features: an optional signed square root, then standardisation with statistics
of the training pairs. Both live in the graph so exported encoders take the raw
feature vectors. Learned trunks for raw images and texts plug in at the same
place of `CrossModalAutoencoder`.
"""

import keras
import numpy as np
from keras import ops

from cmgan_tf.errors import InvalidInputError

_EPSILON = 1e-6


def transform_features(features, transform):
    """Applies a feature transform: `"none"`, or `"sqrt"`, the signed square root.

    The signed square root is the Hellinger map: on bag-of-visual-words
    histograms, Euclidean geometry after it matches the Hellinger kernel, which
    suits histograms better than raw counts.

    Args:
        features: `(batch, dim)` tensor or array.
        transform: `"none"` or `"sqrt"`.

    Returns:
        `(batch, dim)` transformed features.
    """
    if transform == "none":
        return features
    if transform == "sqrt":
        return ops.sign(features) * ops.sqrt(ops.abs(features))
    raise InvalidInputError(
        f"`transform` must be 'none' or 'sqrt'. Received: transform={transform!r}"
    )


@keras.saving.register_keras_serializable(package="cmgan_tf")
class FeatureTrunk(keras.layers.Layer):
    """Transforms and standardises pre-extracted feature vectors.

    Args:
        dim: Feature size.
        transform: `"none"` or `"sqrt"` (signed square root). Defaults to
            `"none"`.
        mean: `(dim,)` mean of the transformed training features, or `None` to
            skip standardisation.
        variance: `(dim,)` variance of the transformed training features.
        **kwargs: Base layer arguments.

    Input shape: `(batch, dim)`. Output shape: `(batch, dim)`.
    """

    def __init__(self, dim, transform="none", mean=None, variance=None, **kwargs):
        super().__init__(**kwargs)
        self.dim = dim
        self.transform = transform
        self.mean = None if mean is None else np.asarray(mean, "float32")
        self.variance = None if variance is None else np.asarray(variance, "float32")
        self.standardization = (
            None
            if self.mean is None
            else keras.layers.Normalization(
                mean=self.mean, variance=self.variance, name="standardization"
            )
        )

    @classmethod
    def fitted(cls, features, transform="none", **kwargs):
        """Returns a trunk standardising with the statistics of `features`.

        Args:
            features: `(n, dim)` training features.
            transform: Feature transform applied before the statistics.
            **kwargs: Base layer arguments.
        """
        transformed = np.asarray(transform_features(np.asarray(features), transform))
        # Constant dimensions would divide by zero; scale them by one instead.
        variance = np.maximum(transformed.var(axis=0), _EPSILON)
        return cls(
            features.shape[-1],
            transform=transform,
            mean=transformed.mean(axis=0),
            variance=variance,
            **kwargs,
        )

    @property
    def output_dim(self):
        """Size of the original representation this trunk produces."""
        return self.dim

    def build(self, input_shape):
        if self.standardization is not None:
            self.standardization.build(input_shape)

    def call(self, features):
        x = transform_features(ops.cast(features, self.compute_dtype), self.transform)
        return x if self.standardization is None else self.standardization(x)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "transform": self.transform,
            "mean": None if self.mean is None else self.mean.tolist(),
            "variance": None if self.variance is None else self.variance.tolist(),
        }
