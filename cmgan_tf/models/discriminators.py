"""The intra- and inter-modality discriminators of CM-GANs."""

import keras
from keras import ops

from cmgan_tf.models.blocks import dense_stack


@keras.saving.register_keras_serializable(package="cmgan_tf")
class IntraModalityDiscriminator(keras.layers.Layer):
    """Tells a modality's original representation from its reconstruction.

    The authors' version is linear (`hidden_units=()`); a linear discriminator
    can only separate means, so hidden blocks are an option.

    Args:
        hidden_units: Sizes of hidden `DenseBlock`s. Defaults to `()`.
        leaky_relu_slope: Negative slope of the hidden LeakyReLUs.
            Defaults to 0.2.
        **kwargs: Base layer arguments.

    Input shape: `(batch, original_dim)`. Output shape: `(batch, 1)`, float32
    logits of "this is an original", whatever the dtype policy.
    """

    def __init__(self, hidden_units=(), leaky_relu_slope=0.2, **kwargs):
        super().__init__(**kwargs)
        self.hidden_units = tuple(hidden_units)
        self.leaky_relu_slope = leaky_relu_slope
        self.hidden = dense_stack(
            self.hidden_units, name="hidden", leaky_relu_slope=leaky_relu_slope
        )
        # Logits stay float32 under a mixed dtype policy: the losses read them.
        self.logit = keras.layers.Dense(1, name="logit", dtype="float32")

    def build(self, input_shape):
        self.hidden.build(input_shape)
        self.logit.build(self.hidden.compute_output_shape(input_shape))

    def call(self, representations, training=None):
        return self.logit(self.hidden(representations, training=training))

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 1)

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_units": self.hidden_units,
            "leaky_relu_slope": self.leaky_relu_slope,
        }


@keras.saving.register_keras_serializable(package="cmgan_tf")
class InterModalityDiscriminator(keras.layers.Layer):
    """Judges common representations across modalities.

    Conditional (the paper's): `D(s, v)` sees a common representation together
    with one modality's original representation `v` and says whether `s` is
    that item's own common representation. Unconditional: `D(s)` says whether
    `s` came from an image (rather than a text).

    Args:
        hidden_units: Sizes of hidden `DenseBlock`s. Defaults to `(512,)`, the
            authors' configuration.
        conditional: Whether `call` takes the original representation too.
            Defaults to `True`.
        leaky_relu_slope: Negative slope of the LeakyReLUs. Defaults to 0.2.
        **kwargs: Base layer arguments.

    Call arguments:
        common: `(batch, common_dim)` common representations.
        condition: `(batch, original_dim)` original representations; required
            if and only if `conditional`.

    Returns:
        `(batch, 1)` float32 logits, whatever the dtype policy.
    """

    def __init__(
        self, hidden_units=(512,), conditional=True, leaky_relu_slope=0.2, **kwargs
    ):
        super().__init__(**kwargs)
        self.hidden_units = tuple(hidden_units)
        self.conditional = conditional
        self.leaky_relu_slope = leaky_relu_slope
        self.hidden = dense_stack(
            self.hidden_units, name="hidden", leaky_relu_slope=leaky_relu_slope
        )
        self.logit = keras.layers.Dense(1, name="logit", dtype="float32")

    def build(self, common_shape, condition_shape=None):
        features = common_shape[-1] + (condition_shape[-1] if self.conditional else 0)
        input_shape = (*common_shape[:-1], features)
        self.hidden.build(input_shape)
        self.logit.build(self.hidden.compute_output_shape(input_shape))

    def call(self, common, condition=None, training=None):
        if self.conditional != (condition is not None):
            raise ValueError(
                "A conditional InterModalityDiscriminator needs `condition` and an "
                f"unconditional one takes none. conditional={self.conditional}, "
                f"condition given: {condition is not None}"
            )
        inputs = (
            ops.concatenate([common, condition], axis=-1)
            if condition is not None
            else common
        )
        return self.logit(self.hidden(inputs, training=training))

    def compute_output_shape(self, common_shape, condition_shape=None):
        return (*common_shape[:-1], 1)

    def get_config(self):
        return {
            **super().get_config(),
            "hidden_units": self.hidden_units,
            "conditional": self.conditional,
            "leaky_relu_slope": self.leaky_relu_slope,
        }
