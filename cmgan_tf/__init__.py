"""CM-GANs: cross-modal generative adversarial networks in TensorFlow/Keras.

Reference:
    Peng, Qi, Yuan. "CM-GANs: Cross-modal Generative Adversarial Networks for
    Common Representation Learning". ACM TOMM 15(1), 2019. arXiv:1710.05106.
"""

from cmgan_tf.errors import InvalidInputError

__version__ = "0.1.0"

__all__ = ["InvalidInputError", "__version__"]
