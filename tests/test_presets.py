"""The preset registry: each preset is valid and is what it claims to be."""

import dataclasses

import pytest

from cmgan_tf.config import ExperimentConfig, flag_differences
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.presets import PRESETS, describe, preset


def test_reference_is_the_authors_configuration():
    # /work/shared/docs/DESIGN.md, "The authors' reference implementation".
    config = preset("reference")
    model, training, loss = config.model, config.training, config.loss
    # Encoder Dense(1024) per modality, then a second Dense(1024) block whose
    # weights the two modalities share; the common representation is 1024-d.
    assert model.encoder_units == (1024,)
    assert model.common_units == (1024,) and model.common_dim == 1024
    assert model.share_common_layers is True
    # Decoder Dense(1024) -> Dense(input_dim), not shared in their code.
    assert model.decoder_units == (1024,)
    assert model.shared_decoder_layers == 0
    assert model.leaky_relu_slope == 0.2
    assert model.classifier == "per_modality"
    # Intra discriminator Dense(1) (linear), inter concat(s, v) -> Dense(512).
    assert model.intra_discriminator_units == ()
    assert model.inter_discriminator == "conditional"
    assert model.inter_discriminator_units == (512,)
    assert (model.image_dropout, model.text_dropout, model.common_dropout) == (
        0.0,
        0.0,
        0.0,
    )
    assert model.linear_common_output is False
    # Adam, lr 1e-3, beta_1 0.5, lr x0.5 every 100 epochs, batch 64, 5
    # generator steps per discriminator step.
    assert training.learning_rate == 1e-3
    assert training.beta_1 == 0.5
    assert training.lr_decay_rate == 0.5
    assert training.lr_decay_epochs == 100
    assert training.batch_size == 64
    assert training.generator_steps == 5
    assert training.weight_decay == 0.0
    assert training.ema_momentum == 0.0
    assert training.clip_norm == 0.0
    # The one deliberate deviation: 100 epochs instead of 1000-2000.
    assert training.epochs == 100
    # No explicit reconstruction loss; adversarial and semantic terms only.
    assert loss.reconstruction_weight == 0.0
    assert loss.pair_distance_weight == 0.0
    assert loss.intra_adversarial_weight == loss.inter_adversarial_weight == 1.0
    assert loss.semantic_weight == 1.0
    # Evaluation on standardised common representations.
    assert model.representation == "standardized_common"


def test_reference_is_the_default_configuration():
    assert preset("reference") == ExperimentConfig()


@pytest.mark.parametrize(
    ("name", "differences"),
    [
        (
            "smoke",
            {"encoder_units", "common_units", "decoder_units", "epochs", "jit_compile"},
        ),
        ("shapes", {"dataset", "image_filters", "epochs", "generator_steps"}),
        ("wikipedia", {"image_transform", "representation", "ema_momentum"}),
        (
            "features",
            {
                "image_transform",
                "image_kernel_landmarks",
                "patience",
                "text_kernel_landmarks",
                "representation",
                "temperature",
                "inter_adversarial_weight",
                "class_contrastive_weight",
                "pair_contrastive_weight",
                "ensemble_size",
                "refit",
                "choose_class_weighting",
            },
        ),
    ],
)
def test_other_presets_differ_from_the_reference_where_they_say(name, differences):
    changed = {
        flag for flag, _, _ in flag_differences(preset(name), PRESETS["reference"])
    }
    assert differences <= changed


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_is_valid(name):
    config = preset(name)
    for section in dataclasses.fields(config):
        value = getattr(config, section.name)
        assert dataclasses.replace(value) == value


def test_unknown_preset_names_the_known_ones():
    with pytest.raises(InvalidInputError, match="Known presets: reference"):
        preset("huge")


def test_describe_names_the_preset_and_each_flag_that_differs():
    config = preset("smoke").replace(
        model={"common_units": (8, 4), "image_filters": (2,)},
        runtime={"jit_compile": True, "model_dir": "/tmp/r"},
    )
    assert describe(config, "smoke") == (
        "Preset smoke, with --common_units=8,4 --image_filters=2 "
        "--model_dir=/tmp/r --jit_compile"
    )
    assert describe(preset("shapes"), "shapes") == "Preset shapes, unchanged"
    assert describe(ExperimentConfig()) == "Preset reference, unchanged"
