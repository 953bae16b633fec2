"""Generator and discriminator networks of CM-GANs.

Importing the package registers every layer and model with Keras' serialiser,
so that `keras.saving.load_model` can rebuild a saved `encoder.keras` in a
process that has not built one.
"""

from cmgan_tf.models.autoencoder import MODALITIES, CrossModalAutoencoder
from cmgan_tf.models.backbones import ApplicationImageTrunk
from cmgan_tf.models.blocks import DenseBlock
from cmgan_tf.models.discriminators import (
    InterModalityDiscriminator,
    IntraModalityDiscriminator,
)
from cmgan_tf.models.encoder import CrossModalEncoder
from cmgan_tf.models.ensemble import EnsembleEncoder
from cmgan_tf.models.kernel_map import NystroemFeatureMap
from cmgan_tf.models.raw_trunks import (
    ConvImageTrunk,
    DenseGradientEmbedding,
    WordCNNTextTrunk,
)
from cmgan_tf.models.trunks import FeatureTrunk

__all__ = [
    "MODALITIES",
    "ApplicationImageTrunk",
    "ConvImageTrunk",
    "CrossModalAutoencoder",
    "CrossModalEncoder",
    "DenseBlock",
    "DenseGradientEmbedding",
    "EnsembleEncoder",
    "FeatureTrunk",
    "InterModalityDiscriminator",
    "IntraModalityDiscriminator",
    "NystroemFeatureMap",
    "WordCNNTextTrunk",
]
