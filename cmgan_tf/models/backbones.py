"""Image trunks on Keras Applications backbones, with weights from local files."""

import importlib

import keras

from cmgan_tf.errors import InvalidInputError

# Backbone name -> (keras.applications module, constructor, smallest input side).
BACKBONES = {
    "vgg16": ("vgg16", "VGG16", 32),
    "vgg19": ("vgg19", "VGG19", 32),
    "resnet50": ("resnet", "ResNet50", 32),
    "mobilenet_v2": ("mobilenet_v2", "MobileNetV2", 32),
}
# Not EfficientNet: given a weights path instead of "imagenet", Keras skips the
# input rescaling its ImageNet weights expect, so they would see wrong inputs.


def _module(backbone):
    return importlib.import_module(f"keras.applications.{BACKBONES[backbone][0]}")


@keras.saving.register_keras_serializable(package="cmgan_tf")
class ApplicationImageTrunk(keras.layers.Layer):
    """A Keras Applications network (VGG19, as in the paper, or others) as trunk.

    Pixels in [0, 255] go through the application's own `preprocess_input`
    inside the layer, so exported models take plain `uint8` images. The
    convolutional part (`include_top=False`) is followed by global average
    pooling and a linear Dense layer to `units`, the original representation.

    Weights are never downloaded: pass a local Keras weights file of the
    application without its top (for VGG19 the file Keras itself would fetch,
    `vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5`). A reloaded model
    restores all weights from its own file and needs none.

    Args:
        backbone: One of `BACKBONES`.
        image_size: Side of the square input images.
        units: Size of the output representation.
        trainable_backbone: Fine-tune the backbone. Defaults to `False`: it
            runs in inference mode (BatchNorm statistics frozen), as the paper
            uses fixed VGG19 features.
        weights_path: Local weights file to load into the backbone, or `None`
            (random initialisation, or weights restored by a model file).
        **kwargs: Base layer arguments.

    Input shape: `(batch, image_size, image_size, 3)`, `uint8` or float in
    [0, 255]. Output shape: `(batch, units)`.
    """

    def __init__(
        self,
        backbone,
        image_size,
        units=256,
        trainable_backbone=False,
        weights_path=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if backbone not in BACKBONES:
            raise InvalidInputError(
                f"Unknown image backbone {backbone!r}. Known: {', '.join(BACKBONES)}."
            )
        module_name, constructor, min_size = BACKBONES[backbone]
        if not isinstance(image_size, int) or image_size < min_size:
            raise InvalidInputError(
                f"Backbone {backbone} needs images of at least {min_size}x"
                f"{min_size} pixels. Received: image_size={image_size!r}"
            )
        self.backbone_name = backbone
        self.image_size = image_size
        self.units = int(units)
        self.trainable_backbone = bool(trainable_backbone)
        self.network = getattr(keras.applications, constructor)(
            include_top=False,
            weights=None,
            input_shape=(image_size, image_size, 3),
            pooling="avg",
        )
        if weights_path is not None:
            _load_weights(self.network, weights_path, backbone)
        self.network.trainable = self.trainable_backbone
        self.dense = keras.layers.Dense(units, name="dense")

    @property
    def output_dim(self):
        """Size of the original representation this trunk produces."""
        return self.units

    def _check_input_shape(self, shape):
        expected = (self.image_size, self.image_size, 3)
        if len(shape) != 4 or tuple(shape[1:]) != expected:
            raise InvalidInputError(
                f"`{type(self).__name__}` ({self.backbone_name}) expects images "
                f"of shape (batch, {', '.join(map(str, expected))}). "
                f"Received: shape={tuple(shape)}"
            )

    def build(self, input_shape):
        self._check_input_shape(input_shape)
        self.dense.build(self.network.output_shape)

    def call(self, images, training=None):
        self._check_input_shape(images.shape)
        pixels = keras.ops.cast(images, "float32")
        features = self.network(
            _module(self.backbone_name).preprocess_input(pixels),
            training=training if self.trainable_backbone else False,
        )
        return self.dense(features)

    def compute_output_shape(self, input_shape):
        self._check_input_shape(input_shape)
        return (input_shape[0], self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "backbone": self.backbone_name,
            "image_size": self.image_size,
            "units": self.units,
            "trainable_backbone": self.trainable_backbone,
        }


def _load_weights(network, path, backbone):
    """Loads a local weights file, turning Keras' and h5py's errors into ours."""
    try:
        network.load_weights(str(path))
    except FileNotFoundError as error:
        raise InvalidInputError(
            f"--backbone_weights={path} does not exist. Download the {backbone} "
            "weights without top (e.g. with keras.applications on a machine "
            "with internet access) and pass their path."
        ) from error
    except Exception as error:  # h5py and Keras raise many types.
        raise InvalidInputError(
            f"--backbone_weights={path} could not be loaded into {backbone} "
            f"without top: {str(error).splitlines()[0][:300]}. Is it the "
            f"'notop' weights file of {backbone}?"
        ) from error
