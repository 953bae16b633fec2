"""Trunks: what turns a modality's input into its original representation `v`.

Benchmarks ship pre-extracted feature vectors, so the trunk here prepares
features: an optional signed square root, an optional kernel feature map, then
standardisation with statistics of the training pairs. All live in the graph so
exported encoders take the raw feature vectors. Learned trunks for raw images
and texts plug in at the same place of `CrossModalAutoencoder`.
"""

import keras
import numpy as np
from keras import ops

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.kernel_map import NystroemFeatureMap

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
    """Transforms, maps and standardises pre-extracted feature vectors.

    Args:
        dim: Feature size.
        transform: `"none"` or `"sqrt"` (signed square root). Defaults to
            `"none"`.
        kernel_landmarks: If > 0, the transformed features go through a
            `NystroemFeatureMap` with that many landmarks, fitted by `fitted`
            (its state is restored with the weights). Defaults to `0`, none.
        mean: `(output_dim,)` mean of the mapped training features, or `None`
            to skip standardisation.
        variance: `(output_dim,)` variance of the mapped training features.
        **kwargs: Base layer arguments.

    Input shape: `(batch, dim)`. Output shape: `(batch, output_dim)`:
    `kernel_landmarks` if set, else `dim`.
    """

    def __init__(
        self,
        dim,
        transform="none",
        kernel_landmarks=0,
        mean=None,
        variance=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.dim = dim
        self.transform = transform
        self.kernel_landmarks = kernel_landmarks
        self.kernel_map = (
            NystroemFeatureMap(kernel_landmarks, name="kernel_map")
            if kernel_landmarks
            else None
        )
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
    def fitted(cls, features, transform="none", kernel_landmarks=0, seed=0, **kwargs):
        """Returns a trunk fitted to `features`: kernel map and statistics.

        Args:
            features: `(n, dim)` training features.
            transform: Feature transform applied first.
            kernel_landmarks: Landmarks of the kernel map, 0 for none; a
                training split smaller than that uses all its items.
            seed: int; which items become the kernel map's landmarks.
            **kwargs: Base layer arguments.
        """
        features = np.asarray(features)
        transformed = np.asarray(transform_features(features, transform))
        kernel_landmarks = min(kernel_landmarks, len(features))
        kernel_map = None
        if kernel_landmarks:
            kernel_map = NystroemFeatureMap(kernel_landmarks)
            kernel_map.adapt(transformed, seed=seed)
            transformed = np.asarray(kernel_map(transformed))
        # Constant dimensions would divide by zero; scale them by one instead.
        variance = np.maximum(transformed.var(axis=0), _EPSILON)
        trunk = cls(
            features.shape[-1],
            transform=transform,
            kernel_landmarks=kernel_landmarks,
            mean=transformed.mean(axis=0),
            variance=variance,
            **kwargs,
        )
        if kernel_map is not None:
            trunk.build((None, features.shape[-1]))
            trunk.kernel_map.set_weights(kernel_map.get_weights())
        return trunk

    @property
    def output_dim(self):
        """Size of the original representation this trunk produces."""
        return self.kernel_landmarks or self.dim

    def build(self, input_shape):
        if self.kernel_map is not None:
            self.kernel_map.build(input_shape)
        if self.standardization is not None:
            self.standardization.build((*input_shape[:-1], self.output_dim))

    def call(self, features):
        # The kernel map computes in float32; so must its inputs.
        dtype = self.compute_dtype if self.kernel_map is None else "float32"
        x = transform_features(ops.cast(features, dtype), self.transform)
        if self.kernel_map is not None:
            x = ops.cast(self.kernel_map(x), self.compute_dtype)
        return x if self.standardization is None else self.standardization(x)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.output_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "dim": self.dim,
            "transform": self.transform,
            "kernel_landmarks": self.kernel_landmarks,
            "mean": None if self.mean is None else self.mean.tolist(),
            "variance": None if self.variance is None else self.variance.tolist(),
        }
