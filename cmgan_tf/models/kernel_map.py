"""An approximate Gaussian-kernel feature map, fitted to training features.

Keras has no kernel feature map (Keras 2's `RandomFourierFeatures` did not
move to Keras 3), and scikit-learn's `Nystroem` runs outside the graph, where
exported SavedModels and TFLite encoders could not apply it. So the map is
fitted with NumPy in `adapt` and applied in `call` with two matmuls.
"""

import keras
import numpy as np
from keras import ops

from cmgan_tf import checks
from cmgan_tf.errors import InvalidInputError

# Items sampled to estimate the median squared distance that sets the bandwidth.
_BANDWIDTH_SAMPLE = 1000
# Eigenvalues of the landmarks' kernel matrix below this share of the largest
# are floored there: their inverse square roots would amplify float32
# round-off in `call` by up to 1e6 and more.
_RELATIVE_EIGENVALUE_FLOOR = 1e-5


@keras.saving.register_keras_serializable(package="cmgan_tf")
class NystroemFeatureMap(keras.layers.Layer):
    """Maps features into an approximate Gaussian (RBF) kernel space.

    Features `x` become `k(x, L) @ K_LL^(-1/2)`, where `L` are `num_landmarks`
    training items and `k(x, y) = exp(-gamma * ||x - y||^2)`: inner products
    of the outputs approximate the kernel, so the dense layers after it learn
    what a kernel machine would. `gamma` is `bandwidth_scale` over the median
    squared distance between training items, which makes the map independent
    of the features' scale. On bag-of-visual-words histograms after the
    Hellinger map (`transform="sqrt"`) this is close to the exponential
    chi-square kernel that suits histograms.

    The layer is fitted once with `adapt`, like Keras' preprocessing layers;
    its state is non-trainable weights, saved and restored with the model.

    Args:
        num_landmarks: Number of landmark items, the output size.
        bandwidth_scale: Positive float; larger is a narrower kernel.
            Defaults to `1.0`.
        **kwargs: Base layer arguments. The map computes in float32 whatever
            the dtype policy: squared distances as differences of norms lose
            everything in 16-bit floats.

    Input shape: `(batch, dim)`. Output shape: `(batch, num_landmarks)`.

    Example:
    >>> import numpy as np
    >>> features = np.random.default_rng(0).random((100, 8), "float32")
    >>> feature_map = NystroemFeatureMap(16)
    >>> feature_map.adapt(features, seed=0)
    >>> feature_map(features[:4]).shape
    TensorShape([4, 16])

    Reference:
        Williams and Seeger, "Using the Nyström method to speed up kernel
        machines", NIPS 2001.
    """

    def __init__(self, num_landmarks, bandwidth_scale=1.0, **kwargs):
        kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        self.num_landmarks = checks.check_positive_int("num_landmarks", num_landmarks)
        self.bandwidth_scale = checks.check_positive_float(
            "bandwidth_scale", bandwidth_scale
        )

    def build(self, input_shape):
        dim = input_shape[-1]
        self.landmarks = self.add_weight(
            (self.num_landmarks, dim),
            initializer="zeros",
            trainable=False,
            name="landmarks",
        )
        self.projection = self.add_weight(
            (self.num_landmarks, self.num_landmarks),
            initializer="zeros",
            trainable=False,
            name="projection",
        )
        self.gamma = self.add_weight(
            (), initializer="zeros", trainable=False, name="gamma"
        )

    def adapt(self, features, seed=0):
        """Fits the map: picks landmarks, the bandwidth and the projection.

        Args:
            features: `(n, dim)` training features, `n >= num_landmarks`.
            seed: int; which training items become landmarks.

        Raises:
            InvalidInputError: If the features are not a finite 2-D array of
                at least `num_landmarks` items, or not of the size the layer
                was built for.
        """
        features = np.asarray(features, np.float64)
        if features.ndim != 2:
            raise InvalidInputError(
                "Kernel map features must be a 2-D array (items, dim). Received "
                f"shape {features.shape}."
            )
        if len(features) < self.num_landmarks:
            raise InvalidInputError(
                f"A kernel map with {self.num_landmarks} landmarks needs at least "
                f"{self.num_landmarks} training items. Received {len(features)}."
            )
        if not np.isfinite(features).all():
            raise InvalidInputError("Kernel map features must be finite (no NaN/Inf).")
        if not self.built:
            self.build(features.shape)
        elif self.landmarks.shape[-1] != features.shape[-1]:
            raise InvalidInputError(
                f"This kernel map was built for {self.landmarks.shape[-1]}-d "
                f"features. Received features of shape {features.shape}."
            )
        rng = np.random.default_rng(seed)
        landmarks = features[
            np.sort(rng.choice(len(features), self.num_landmarks, replace=False))
        ]
        sample = features[
            rng.choice(
                len(features), min(len(features), _BANDWIDTH_SAMPLE), replace=False
            )
        ]
        distances = _squared_distances(sample, sample)[np.triu_indices(len(sample), 1)]
        # Identical items only (median 0) would make the kernel constant; any
        # positive scale then gives the same, so use 1.
        median = np.median(distances) if len(distances) else 0.0
        gamma = self.bandwidth_scale / (median if median > 0 else 1.0)
        kernel = np.exp(-gamma * _squared_distances(landmarks, landmarks))
        eigenvalues, eigenvectors = np.linalg.eigh(kernel)
        eigenvalues = np.maximum(
            eigenvalues, _RELATIVE_EIGENVALUE_FLOOR * eigenvalues.max()
        )
        projection = (eigenvectors / np.sqrt(eigenvalues)) @ eigenvectors.T
        self.landmarks.assign(landmarks.astype("float32"))
        self.projection.assign(projection.astype("float32"))
        self.gamma.assign(np.float32(gamma))

    def call(self, features):
        features = ops.cast(features, "float32")
        squared_distances = (
            ops.sum(ops.square(features), axis=-1, keepdims=True)
            - 2.0 * ops.matmul(features, ops.transpose(self.landmarks))
            + ops.sum(ops.square(self.landmarks), axis=-1)
        )
        kernel = ops.exp(-self.gamma * ops.maximum(squared_distances, 0.0))
        return ops.matmul(kernel, self.projection)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.num_landmarks)

    def get_config(self):
        config = super().get_config()
        config.pop("dtype", None)
        return {
            **config,
            "num_landmarks": self.num_landmarks,
            "bandwidth_scale": self.bandwidth_scale,
        }


def _squared_distances(a, b):
    """`(len(a), len(b))` squared Euclidean distances, in float64."""
    return np.maximum(
        (a * a).sum(1)[:, None] - 2.0 * a @ b.T + (b * b).sum(1)[None, :], 0.0
    )
