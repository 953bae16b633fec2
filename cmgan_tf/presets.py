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

# Feature datasets in general: the `wikipedia` networks and training, trained
# by a cross-modal class contrastive term, a pair contrastive (InfoNCE) term
# and the shared classifier, no adversarial game; retrieval by the
# standardised common representation with the classifier's probabilities
# (temperature 0.5) appended, so the predicted class ranks first and the
# common space orders items within it, without ties. Chosen on validation MAP
# (benchmark_results/quality_issue16.md). Images go through a 1024-landmark
# Gaussian-kernel map after the Hellinger map (+0.015 validation MAP both ways
# on wikipedia_classic's visual-word histograms, stop 24); texts through a
# 512-landmark one (stop 26). Adam at 3e-3 for up to 400 epochs, stopping 40
# after the best (stop 25): smaller sets take many more epochs than larger
# ones, while wikipedia_classic's best epochs come before 20. Stop 26,
# validation MAP on wikipedia_classic / on a 640-pair 4096-d set: 0.306 /
# 0.238 and 0.948 / 0.938 ranking the common representation alone; 0.313 /
# 0.239 and 0.972 / 0.959 with the probabilities of a classifier that does not
# shape the space (--class_probe_weight, the semantic term off); 0.323 / 0.240
# and 0.986 / 0.983 with the semantic term and the text map. The
# inter-modality game lowered it throughout. Stop 27: three members from
# different seeds ranking by the mean of their cosines (--ensemble_size=3)
# against one, validation MAP over 3 splits: 0.325 / 0.241 against 0.323 /
# 0.240 on wikipedia_classic, 0.988 / 0.985 against 0.986 / 0.984 on the
# 640-pair set (benchmark_results/issue16_ensemble_screen.py), for three
# times the training and a three times wider representation. Stop 28: each
# member trains again on the training and validation pairs for the epochs
# chosen on validation (--refit); on a fifth of each training split held out
# (benchmark_results/issue16_refit_screen.py, seeds 0-2), MAP +0.005 / +0.012
# on the 640-pair set, +0.000 / +0.003 on wikipedia_classic and +0.001 /
# -0.002 on the 1920-pair set, for twice the training. Stop 29: the class
# weight and temperature chosen after training on the validation pairs
# (--choose_class_weighting); on a fifth of each training split held out
# (benchmark_results/issue16_class_weight_screen.py, seeds 0-2), MAP -0.000 /
# -0.000 on wikipedia_classic (weight 1 at 0.5 chosen in two seeds of three),
# +0.002 / +0.000 on the 640-pair set and +0.002 / +0.002 on the 1920-pair
# set (weight 8 at temperature 1 chosen in 5 of those 6 runs).
PRESETS["features"] = PRESETS["wikipedia"].replace(
    data={"image_kernel_landmarks": 1024, "text_kernel_landmarks": 512},
    training={
        "learning_rate": 3e-3,
        "epochs": 400,
        "patience": 40,
        "ensemble_size": 3,
        "refit": True,
    },
    model={
        "representation": "standardized_common_and_classes",
        "temperature": 0.5,
        "class_weight": 1.0,
        "choose_class_weighting": True,
    },
    loss={
        "inter_adversarial_weight": 0.0,
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
