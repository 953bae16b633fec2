"""The generated shapes dataset as a TFDS builder (`cmgan_shapes`).

Importing this module registers the builder, so `tfds.load("cmgan_shapes")`
and `tfds.builder("cmgan_shapes/small")` work like any TFDS dataset. Nothing is
downloaded: `download_and_prepare` generates the pairs from fixed seeds.
"""

import dataclasses

import tensorflow_datasets as tfds

from cmgan_tf.data.demo import CLASS_NAMES, SPLIT_SEEDS, generate_shapes_split

_DESCRIPTION = """\
Images of a large and a small coloured shape on a noisy background, with
captions naming both. The label is the large shape's (kind, colour); see
`cmgan_tf.data.demo`.
"""


@dataclasses.dataclass
class ShapesConfig(tfds.core.BuilderConfig):
    """Sizes of a `cmgan_shapes` configuration.

    Attributes:
        image_size: Side of the square RGB images.
        train_pairs: Number of training pairs.
        test_pairs: Number of test pairs.
    """

    image_size: int = 32
    train_pairs: int = 4000
    test_pairs: int = 1000


class CmganShapes(tfds.core.GeneratorBasedBuilder):
    """Generated image-caption pairs of coloured shapes."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "First release."}
    BUILDER_CONFIGS = [
        ShapesConfig(name="default", description="32x32 images, 4000/1000 pairs."),
        ShapesConfig(
            name="small",
            description="32x32 images, 400/200 pairs, for tests.",
            train_pairs=400,
            test_pairs=200,
        ),
    ]

    def _info(self):
        size = self.builder_config.image_size
        return tfds.core.DatasetInfo(
            builder=self,
            description=_DESCRIPTION,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(size, size, 3)),
                    "caption": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(names=CLASS_NAMES),
                }
            ),
            supervised_keys=None,
        )

    def _split_generators(self, dl_manager):
        config = self.builder_config
        return {
            "train": self._generate_examples(config.train_pairs, SPLIT_SEEDS["train"]),
            "test": self._generate_examples(config.test_pairs, SPLIT_SEEDS["test"]),
        }

    def _generate_examples(self, num_pairs, seed):
        split = generate_shapes_split(
            num_pairs, image_size=self.builder_config.image_size, seed=seed
        )
        for index in range(num_pairs):
            yield (
                index,
                {
                    "image": split.images[index],
                    "caption": str(split.texts[index]),
                    "label": int(split.labels[index].argmax()),
                },
            )
