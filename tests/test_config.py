"""`ExperimentConfig` validation and JSON round trip, and the flags built from it."""

import dataclasses
import json

import pytest
from absl import flags

from cmgan_tf.config import (
    PRESETS,
    DataConfig,
    ExperimentConfig,
    LossConfig,
    ModelConfig,
    RuntimeConfig,
    TrainingConfig,
    preset,
)
from cmgan_tf.errors import InvalidInputError
from pipelines.flags import config_from_flags, define_config_flags


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_is_valid_and_round_trips_through_json(name):
    config = PRESETS[name]
    assert preset(name) is config
    restored = ExperimentConfig.from_json(config.to_json())
    assert restored == config
    # Tuples, floats and None come back with their declared types.
    assert isinstance(restored.model.common_units, tuple)
    assert isinstance(restored.training.learning_rate, float)
    # dataclasses.replace re-runs __post_init__: every section validates.
    for section in dataclasses.fields(config):
        value = getattr(config, section.name)
        assert dataclasses.replace(value) == value


def test_non_default_config_round_trips_through_json():
    config = ExperimentConfig().replace(
        data={
            "data_dir": "/data/x",
            "validation_fraction": 0.3,
            "image_transform": "sqrt",
        },
        model={"encoder_units": (), "common_units": (64, 32), "text_dropout": 0.25},
        loss={"semantic_weight": 0.0, "pair_distance_weight": 2.5},
        training={"epochs": 3, "learning_rate": 0.01, "seed": 11},
        runtime={"strategy": "mirrored", "jit_compile": False, "verbose": 2},
    )
    assert ExperimentConfig.from_json(config.to_json()) == config


def test_to_json_is_plain_json():
    data = json.loads(PRESETS["smoke"].to_json())
    assert set(data) == {"data", "model", "loss", "training", "runtime"}
    assert data["model"]["common_units"] == [16]
    assert data["training"]["epochs"] == 2


def test_unknown_preset_is_rejected():
    with pytest.raises(InvalidInputError, match="nope"):
        preset("nope")


def test_replace_changes_only_the_named_fields():
    base = PRESETS["smoke"]
    config = base.replace(training={"epochs": 7}, model={"common_units": [8, 4]})
    assert config.training.epochs == 7
    assert config.model.common_units == (8, 4)
    assert config.model.common_dim == 4
    assert config.training.batch_size == base.training.batch_size
    assert config.model.encoder_units == base.model.encoder_units
    assert config.data == base.data
    assert base.training.epochs == 2, "replace must not change the original"


def test_replace_coerces_integers_for_float_fields():
    config = ExperimentConfig().replace(
        model={"image_dropout": 0}, training={"beta_1": 1}
    )
    assert config.model.image_dropout == 0.0 and isinstance(
        config.model.image_dropout, float
    )
    assert isinstance(config.training.beta_1, float)


def test_replace_validates():
    with pytest.raises(InvalidInputError, match="epochs"):
        ExperimentConfig().replace(training={"epochs": 0})


def test_configs_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        ExperimentConfig().training.epochs = 3


INVALID = [
    ("training", "epochs", -1),
    ("training", "epochs", 0),
    ("training", "epochs", 2.5),
    ("training", "epochs", True),
    ("training", "batch_size", 0),
    ("training", "generator_steps", 0),
    ("training", "lr_decay_epochs", 0),
    ("training", "learning_rate", 0.0),
    ("training", "learning_rate", -1e-3),
    ("training", "beta_1", 0.0),
    ("training", "beta_1", 1.5),
    ("training", "lr_decay_rate", 0.0),
    ("training", "weight_decay", -0.1),
    ("training", "seed", -1),
    ("training", "ema_momentum", 1.0),
    ("training", "ema_momentum", -0.5),
    ("model", "temperature", 0.0),
    ("model", "image_filters", ()),
    ("model", "text_window_sizes", (0,)),
    ("model", "vocabulary_size", 0),
    ("model", "sequence_length", 2.5),
    ("model", "linear_common_output", "yes"),
    ("model", "image_dropout", 1.0),
    ("model", "common_dropout", -0.1),
    ("model", "classifier", "joint"),
    ("model", "inter_discriminator", "wasserstein"),
    ("model", "representation", "raw"),
    ("model", "encoder_units", (0,)),
    ("model", "encoder_units", (64, -1)),
    ("model", "encoder_units", (64.0,)),
    ("model", "common_units", ()),
    ("model", "common_units", (0,)),
    ("model", "decoder_units", (0,)),
    ("model", "intra_discriminator_units", (0,)),
    ("model", "inter_discriminator_units", (0,)),
    ("model", "shared_decoder_layers", 2),
    ("model", "shared_decoder_layers", -1),
    ("model", "leaky_relu_slope", -0.2),
    ("runtime", "strategy", "tpu"),
    ("runtime", "verbose", 3),
    ("data", "validation_fraction", 0.0),
    ("data", "validation_fraction", 1.0),
    ("data", "validation_fraction", 0),
    ("data", "validation_fraction", 1),
    ("data", "image_transform", "log"),
    ("data", "text_transform", "log"),
    ("data", "dataset", ""),
    ("loss", "semantic_weight", -1.0),
]


@pytest.mark.parametrize(
    "section, field, value",
    INVALID,
    ids=[f"{field}={value!r}" for _, field, value in INVALID],
)
def test_invalid_value_names_its_field(section, field, value):
    with pytest.raises(InvalidInputError, match=f"`{field}`") as error:
        ExperimentConfig().replace(**{section: {field: value}})
    # "Received: field=value" says what to fix.
    assert f"{field}=" in str(error.value)


@pytest.mark.parametrize(
    "section_type, field, value",
    [
        (TrainingConfig, "batch_size", 0),
        (ModelConfig, "common_units", ()),
        (ModelConfig, "text_dropout", 1.0),
        (RuntimeConfig, "strategy", "tpu"),
        (DataConfig, "validation_fraction", 1.0),
    ],
)
def test_sections_validate_on_construction(section_type, field, value):
    with pytest.raises(InvalidInputError, match=f"`{field}`"):
        section_type(**{field: value})


def test_shared_decoder_layers_may_equal_the_number_of_decoder_blocks():
    config = ExperimentConfig().replace(
        model={"decoder_units": (8, 8), "shared_decoder_layers": 2}
    )
    assert config.model.shared_decoder_layers == 2


def test_all_loss_weights_zero_is_rejected():
    zeros = {f.name: 0.0 for f in dataclasses.fields(LossConfig)}
    with pytest.raises(InvalidInputError, match="loss weight"):
        LossConfig(**zeros)
    with pytest.raises(InvalidInputError, match="loss weight"):
        ExperimentConfig().replace(loss=zeros)
    # One positive weight is enough.
    assert LossConfig(**{**zeros, "reconstruction_weight": 1.0})


def test_non_integer_seed_is_rejected():
    with pytest.raises(InvalidInputError, match="`seed`"):
        ExperimentConfig().replace(training={"seed": 1.5})


@pytest.mark.parametrize(
    "section, field", [("runtime", "jit_compile"), ("model", "share_common_layers")]
)
def test_non_boolean_value_of_a_boolean_field_is_rejected(section, field):
    with pytest.raises(InvalidInputError, match=f"`{field}`"):
        ExperimentConfig().replace(**{section: {field: "false"}})


def test_unknown_section_in_replace_is_named():
    with pytest.raises(InvalidInputError, match="optimizer"):
        ExperimentConfig().replace(optimizer={"epochs": 1})


def test_unknown_section_in_from_dict_is_named():
    with pytest.raises(InvalidInputError, match="optimizer"):
        ExperimentConfig.from_dict({"optimizer": {}})


def test_unknown_field_in_from_dict_is_named():
    with pytest.raises(InvalidInputError, match="epoch_count"):
        ExperimentConfig.from_dict({"training": {"epoch_count": 3}})


def test_from_dict_fills_missing_sections_and_fields_with_defaults():
    config = ExperimentConfig.from_dict({"training": {"epochs": 3}})
    assert config == ExperimentConfig().replace(training={"epochs": 3})


def test_from_dict_validates_values():
    with pytest.raises(InvalidInputError, match="`batch_size`"):
        ExperimentConfig.from_dict({"training": {"batch_size": 0}})


@pytest.mark.parametrize("text", ["{not json", "", '{"training": {"epochs": }}'])
def test_invalid_json_is_rejected(text):
    with pytest.raises(InvalidInputError, match="JSON"):
        ExperimentConfig.from_json(text)


def test_json_that_is_not_an_object_is_rejected():
    with pytest.raises(InvalidInputError, match="JSON object"):
        ExperimentConfig.from_json("[1, 2]")


# Flags


@pytest.fixture
def flag_values():
    flag_values = flags.FlagValues()
    define_config_flags(flag_values)
    return flag_values


def test_every_config_field_has_a_flag(flag_values):
    for section in dataclasses.fields(ExperimentConfig):
        for field in dataclasses.fields(section.type):
            assert field.name in flag_values, field.name
    assert "preset" in flag_values


def test_flags_override_the_preset(flag_values):
    flag_values(
        [
            "prog",
            "--epochs=3",
            "--common_units=64,32",
            "--nojit_compile",
            "--preset=smoke",
            "--text_dropout=0.25",
            "--encoder_units=",
            "--classifier=shared",
            "--validation_fraction=0.3",
        ]
    )
    config = config_from_flags(flag_values)
    smoke = PRESETS["smoke"]
    assert config.training.epochs == 3
    assert config.model.common_units == (64, 32)
    assert config.runtime.jit_compile is False
    assert config.model.text_dropout == 0.25
    assert config.model.encoder_units == ()
    assert config.model.classifier == "shared"
    assert config.data.validation_fraction == 0.3
    # Unset flags keep the preset's values, not the dataclass defaults.
    assert config.training.batch_size == smoke.training.batch_size == 32
    assert config.training.generator_steps == smoke.training.generator_steps == 2
    assert config.model.decoder_units == smoke.model.decoder_units == (32,)
    assert config.runtime.verbose == smoke.runtime.verbose == 0
    assert config == smoke.replace(
        training={"epochs": 3},
        model={
            "common_units": (64, 32),
            "text_dropout": 0.25,
            "encoder_units": (),
            "classifier": "shared",
        },
        runtime={"jit_compile": False},
        data={"validation_fraction": 0.3},
    )


def test_no_flags_give_the_reference_preset(flag_values):
    flag_values(["prog"])
    assert config_from_flags(flag_values) == PRESETS["reference"]


def test_preset_flag_alone_gives_that_preset(flag_values):
    flag_values(["prog", "--preset=smoke"])
    assert config_from_flags(flag_values) == PRESETS["smoke"]


def test_non_integer_unit_list_names_the_flag(flag_values):
    flag_values(["prog", "--common_units=64,wide"])
    with pytest.raises(InvalidInputError, match="--common_units"):
        config_from_flags(flag_values)


def test_invalid_flag_value_names_the_field(flag_values):
    flag_values(["prog", "--batch_size=0"])
    with pytest.raises(InvalidInputError, match="`batch_size`"):
        config_from_flags(flag_values)


def test_unknown_preset_flag_is_rejected_by_the_parser(flag_values):
    with pytest.raises(flags.IllegalFlagValueError):
        flag_values(["prog", "--preset=huge"])
