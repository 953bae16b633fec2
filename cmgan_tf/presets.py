"""Named configurations: the registry behind `--preset`.

Each preset is a complete `ExperimentConfig`; flags and configuration files
override its fields. `tests/test_presets.py` pins each to what it claims.

Example:
>>> preset("smoke").training.epochs
2
"""

from cmgan_tf import checks
from cmgan_tf.config import (
    DataConfig,
    ExperimentConfig,
    ImageTrunkConfig,
    LossConfig,
    ModelConfig,
    RuntimeConfig,
    TrainingConfig,
    flag_differences,
)

PRESETS = {
    # The authors' Lua Torch configuration (DESIGN.md, "The authors' reference
    # implementation"), sizes as published; 100 epochs instead of 1000-2000 to
    # stay affordable on a CPU.
    "reference": ExperimentConfig(),
    # Tuned for the Wikipedia benchmark on its validation split (README,
    # "Retrieval quality"): narrower networks with strong image dropout, a
    # linear common layer, one classifier for both modalities, a small pair
    # distance term, no intra-modality game, Polyak-averaged weights, and
    # retrieval by tempered class probabilities.
    "wikipedia": ExperimentConfig(
        data=DataConfig(image_transform="sqrt"),
        model=ModelConfig(
            encoder_units=(256,),
            common_units=(128,),
            linear_common_output=True,
            decoder_units=(),
            image_dropout=0.7,
            text_dropout=0.2,
            classifier="shared",
            representation="class_probabilities",
            temperature=0.25,
        ),
        loss=LossConfig(intra_adversarial_weight=0.0, pair_distance_weight=0.03),
        training=TrainingConfig(epochs=40, generator_steps=1, ema_momentum=0.99),
        # Steps of these small networks take a few ms, of which one call from
        # Python per step is a fifth (BENCHMARKS.md, training).
        runtime=RuntimeConfig(steps_per_execution=32),
    ),
    # The generated shapes dataset from pixels and captions, in a minute or two
    # on a CPU: the paper's structure (per-modality classifiers, both
    # adversarial games) at a smaller size.
    "shapes": ExperimentConfig(
        data=DataConfig(dataset="shapes"),
        model=ModelConfig(
            encoder_units=(512,),
            common_units=(256,),
            decoder_units=(512,),
            image_trunk=ImageTrunkConfig(filters=(16, 32, 64)),
        ),
        training=TrainingConfig(epochs=8, generator_steps=1),
    ),
    # Seconds on a CPU: for smoke tests of the whole pipeline, not for quality.
    # Without XLA: compiling the steps of networks this small takes longer
    # than two epochs of running them (13.3 s against 10.7 s for the whole
    # `cmgan-train --preset=smoke --dataset=wikipedia_classic` on 2 CPU cores).
    "smoke": ExperimentConfig(
        model=ModelConfig(
            encoder_units=(32,),
            common_units=(16,),
            decoder_units=(32,),
            inter_discriminator_units=(16,),
        ),
        training=TrainingConfig(epochs=2, batch_size=32, generator_steps=2),
        runtime=RuntimeConfig(verbose=0, jit_compile=False),
    ),
}

# Feature datasets in general, retrieval by the common representation itself
# (no ties between items of one predicted class): the `wikipedia` networks and
# training, trained by a cross-modal class contrastive term and a pair
# contrastive (InfoNCE) term. Chosen on validation MAP; the classifier term
# and the inter-modality game both lowered it with these terms
# (benchmark_results/quality_issue16.md). Images go through a 1024-landmark
# Gaussian-kernel map after the Hellinger map: +0.015 validation MAP both ways
# on wikipedia_classic's visual-word histograms, and no loss on 4096-d
# VGG-like features (benchmark_results/quality_issue16.md, stop 24). Texts
# gained nothing from it. Adam at 3e-3, the epoch chosen on validation: the
# same on wikipedia_classic (best epochs 8-16), better on the 4096-d set, which
# at 1e-3 was still improving at epoch 40. Up to 400 epochs, stopping 40 after
# the best (stop 25): smaller sets take many more epochs than larger ones (640
# training pairs: 0.935 validation MAP at 80 epochs, 0.951 with patience; 1920:
# 0.970 and 0.971), while wikipedia_classic stops by epoch 56 with the best
# epochs it kept in 80.
PRESETS["features"] = PRESETS["wikipedia"].replace(
    data={"image_kernel_landmarks": 1024},
    training={"learning_rate": 3e-3, "epochs": 400, "patience": 40},
    model={
        "representation": ModelConfig.representation,
        "temperature": ModelConfig.temperature,
    },
    loss={
        "inter_adversarial_weight": 0.0,
        "semantic_weight": 0.0,
        "pair_distance_weight": 0.0,
        "class_contrastive_weight": 1.0,
        "pair_contrastive_weight": 0.3,
    },
)


def preset(name):
    """Returns a named preset configuration.

    Args:
        name: One of `PRESETS`.

    Raises:
        InvalidInputError: if the name is unknown.
    """
    checks.require(
        name in PRESETS,
        f"Unknown preset {name!r}. Known presets: {', '.join(PRESETS)}.",
    )
    return PRESETS[name]


def describe(config, name="reference"):
    """Returns one line: the preset `config` was made from and what differs.

    Args:
        config: An `ExperimentConfig`.
        name: The preset it was made from. Defaults to `"reference"`.

    Example:
    >>> describe(preset("smoke").replace(training={"epochs": 1}), "smoke")
    'Preset smoke, with --epochs=1'
    >>> describe(preset("smoke"), "smoke")
    'Preset smoke, unchanged'
    """
    changes = _changed_flags(config, name)
    return f"Preset {name}, " + (
        f"with {' '.join(changes)}" if changes else "unchanged"
    )


def command_line_flags(config, name="reference"):
    """Returns the flags that make `config` from the preset `name`.

    Args:
        config: An `ExperimentConfig`.
        name: The preset it was made from. Defaults to `"reference"`.

    Example:
    >>> command_line_flags(preset("smoke").replace(training={"epochs": 1}), "smoke")
    '--preset=smoke --epochs=1'
    """
    return " ".join([f"--preset={name}", *_changed_flags(config, name)])


def _changed_flags(config, name):
    return [
        _flag_text(flag, value)
        for flag, value, _ in flag_differences(config, preset(name))
    ]


def _flag_text(flag, value):
    """Returns `--flag=value` as it is typed on a command line."""
    if isinstance(value, bool):
        return f"--{flag}" if value else f"--no{flag}"
    if isinstance(value, tuple):
        return f"--{flag}={','.join(map(str, value))}"
    return f"--{flag}={value}"
