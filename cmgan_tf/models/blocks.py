"""The fully connected block every CM-GAN network is built from."""

import keras


@keras.saving.register_keras_serializable(package="cmgan_tf")
class DenseBlock(keras.layers.Layer):
    """Dense -> BatchNormalization -> LeakyReLU -> Dropout.

    The block of the authors' reference implementation (Dense + BatchNorm +
    LeakyReLU(0.2)), with optional dropout.

    Args:
        units: Output size.
        leaky_relu_slope: Negative slope of the LeakyReLU. Defaults to 0.2.
        dropout: Dropout rate. Defaults to 0.
        batch_norm: Whether to normalise the Dense output. Defaults to `True`.
        seed: Seed of the dropout masks. Defaults to `None`.
        **kwargs: Base layer arguments (`name`, `dtype`, ...).

    Input shape: `(batch, features)`. Output shape: `(batch, units)`.

    Example:
    >>> block = DenseBlock(8)
    >>> tuple(block(keras.ops.ones((2, 4))).shape)
    (2, 8)
    """

    def __init__(
        self,
        units,
        leaky_relu_slope=0.2,
        dropout=0.0,
        batch_norm=True,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = units
        self.leaky_relu_slope = leaky_relu_slope
        self.dropout = dropout
        self.batch_norm = batch_norm
        self.seed = seed
        # A Dense followed by BatchNorm needs no bias: BatchNorm's beta is one.
        self.dense = keras.layers.Dense(units, use_bias=not batch_norm, name="dense")
        # Momentum 0.9 is Torch's default (update weight 0.1), which the
        # authors' code uses; Keras' 0.99 leaves the inference statistics far
        # behind the weights for the first few hundred steps.
        self.normalization = (
            keras.layers.BatchNormalization(momentum=0.9, name="batch_norm")
            if batch_norm
            else None
        )
        self.activation = keras.layers.LeakyReLU(negative_slope=leaky_relu_slope)
        self.dropout_layer = (
            keras.layers.Dropout(dropout, seed=seed) if dropout > 0 else None
        )

    def build(self, input_shape):
        self.dense.build(input_shape)
        if self.normalization is not None:
            self.normalization.build((*input_shape[:-1], self.units))

    def call(self, inputs, training=None):
        x = self.dense(inputs)
        if self.normalization is not None:
            x = self.normalization(x, training=training)
        x = self.activation(x)
        if self.dropout_layer is not None:
            x = self.dropout_layer(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "units": self.units,
            "leaky_relu_slope": self.leaky_relu_slope,
            "dropout": self.dropout,
            "batch_norm": self.batch_norm,
            "seed": self.seed,
        }


def dense_stack(units, *, name, linear_output=False, **block_kwargs):
    """Returns a `keras.Sequential` of `DenseBlock`s, or an identity if empty.

    Args:
        units: Sequence of block sizes, input side first.
        name: Name of the stack; blocks are named `{name}_{i}`.
        linear_output: Make the last block a plain `Dense` layer (no
            normalisation, activation or dropout). Defaults to `False`.
        **block_kwargs: Passed to every `DenseBlock`.
    """
    if not units:
        return keras.layers.Identity(name=name)
    blocks = [
        DenseBlock(u, name=f"{name}_{i}", **block_kwargs) for i, u in enumerate(units)
    ]
    if linear_output:
        blocks[-1] = keras.layers.Dense(units[-1], name=f"{name}_{len(units) - 1}")
    return keras.Sequential(blocks, name=name)
