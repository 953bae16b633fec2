"""`ExperimentConfig` validation and JSON round trip, and the flags built from it."""

import dataclasses
import json

import pytest
from absl import flags

from cmgan_tf.config import (
    DataConfig,
    ExperimentConfig,
    ImageTrunkConfig,
    LossConfig,
    ModelConfig,
    RuntimeConfig,
    TextTrunkConfig,
    TrainingConfig,
    config_flags,
    flag_differences,
)
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.presets import PRESETS, preset
from cmgan_tf.runs.model_dir import check_same_run
from pipelines.flags import config_from_flags, define_config_flags, resolve_config


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
    ("data", "image_kernel_landmarks", -1),
    ("data", "image_kernel_landmarks", 1.5),
    ("data", "text_kernel_landmarks", True),
    ("training", "patience", -1),
    ("training", "patience", 2.0),
    ("training", "patience", True),
    ("training", "patience", False),
    ("training", "ensemble_size", 0),
    ("training", "ensemble_size", 2.0),
    ("data", "image_kernel_landmarks", 0.0),
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
    zeros = {f"{term}_weight": 0.0 for term in LossConfig().weights()}
    with pytest.raises(InvalidInputError, match="loss weight"):
        LossConfig(**zeros)
    with pytest.raises(InvalidInputError, match="loss weight"):
        ExperimentConfig().replace(loss=zeros)
    # One positive weight is enough.
    assert LossConfig(**{**zeros, "reconstruction_weight": 1.0})


@pytest.mark.parametrize(
    "representation", ["class_probabilities", "standardized_common_and_classes"]
)
def test_ranking_by_classes_needs_a_trained_classifier(representation):
    untrained = {"semantic_weight": 0.0, "class_contrastive_weight": 1.0}
    with pytest.raises(InvalidInputError, match="--class_probe_weight"):
        ExperimentConfig().replace(
            model={"representation": representation}, loss=untrained
        )
    for trained in ({"semantic_weight": 1.0}, {"class_probe_weight": 0.5}):
        config = ExperimentConfig().replace(
            model={"representation": representation}, loss={**untrained, **trained}
        )
        assert config.model.representation == representation


def test_an_ensemble_is_refused_on_a_cluster():
    with pytest.raises(InvalidInputError, match="--strategy=multi_worker"):
        ExperimentConfig().replace(
            training={"ensemble_size": 2}, runtime={"strategy": "multi_worker"}
        )
    for size, strategy in ((1, "multi_worker"), (3, "mirrored")):
        config = ExperimentConfig().replace(
            training={"ensemble_size": size}, runtime={"strategy": strategy}
        )
        assert config.training.ensemble_size == size


def test_refit_is_refused_on_a_cluster_and_must_be_a_bool():
    with pytest.raises(InvalidInputError, match="--refit trains twice"):
        ExperimentConfig().replace(
            training={"refit": True}, runtime={"strategy": "multi_worker"}
        )
    with pytest.raises(InvalidInputError, match="`refit`"):
        ExperimentConfig().replace(training={"refit": "yes"})
    config = ExperimentConfig().replace(
        training={"refit": True}, runtime={"strategy": "mirrored"}
    )
    assert config.training.refit


def test_class_weighting_is_chosen_only_where_class_probabilities_are_weighed():
    with pytest.raises(InvalidInputError, match="--choose_class_weighting chooses"):
        ExperimentConfig().replace(
            model={
                "representation": "class_probabilities",
                "choose_class_weighting": True,
            }
        )
    with pytest.raises(InvalidInputError, match="`choose_class_weighting`"):
        ExperimentConfig().replace(model={"choose_class_weighting": 1})
    config = ExperimentConfig().replace(
        model={
            "representation": "standardized_common_and_classes",
            "choose_class_weighting": True,
        }
    )
    assert config.model.choose_class_weighting


@pytest.mark.parametrize("value", [0.0, -0.1])
def test_a_contrastive_temperature_must_be_a_positive_float(value):
    with pytest.raises(InvalidInputError, match="`contrastive_temperature` must be"):
        ExperimentConfig().replace(loss={"contrastive_temperature": value})


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


def _leaf_fields(section_type):
    for field in dataclasses.fields(section_type):
        if dataclasses.is_dataclass(field.type):
            yield from _leaf_fields(field.type)
        else:
            yield field


def test_every_config_field_has_a_flag(flag_values):
    leaves = [
        f for s in dataclasses.fields(ExperimentConfig) for f in _leaf_fields(s.type)
    ]
    for field in leaves:
        name = field.metadata.get("flag", field.name)
        assert name in flag_values, name
        # Help text comes from the field's metadata.
        assert flag_values[name].help.startswith(field.metadata["help"])
    # No two fields share a flag.
    assert len(config_flags()) == len(leaves)
    assert "preset" in flag_values
    assert "config_file" in flag_values


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


# Nested sections and the flat layout of older runs

# `config.json` of a run written before the trunk and TFDS sections were
# nested (`ExperimentConfig.to_json()` of the smoke preset with raw-input
# fields changed, as the code of commit af18a58 wrote it).
OLD_FLAT_CONFIG = {
    "data": {
        "data_dir": None,
        "dataset": "shapes",
        "image_size": 32,
        "image_transform": "none",
        "text_transform": "none",
        "tfds_caption_key": "caption",
        "tfds_image_key": "image",
        "tfds_label_key": "label",
        "tfds_name": None,
        "tfds_test_split": "test",
        "tfds_train_split": "train",
        "validation_fraction": 0.2,
    },
    "loss": {
        "inter_adversarial_weight": 1.0,
        "intra_adversarial_weight": 1.0,
        "pair_distance_weight": 0.0,
        "reconstruction_weight": 0.0,
        "semantic_weight": 1.0,
    },
    "model": {
        "backbone_trainable": False,
        "backbone_weights": None,
        "classifier": "per_modality",
        "common_dropout": 0.0,
        "common_units": [16],
        "decoder_units": [32],
        "embedding_dim": 64,
        "encoder_units": [32],
        "image_backbone": "conv",
        "image_dropout": 0.0,
        "image_filters": [8, 16],
        "image_trunk_units": 256,
        "inter_discriminator": "conditional",
        "inter_discriminator_units": [16],
        "intra_discriminator_units": [],
        "leaky_relu_slope": 0.2,
        "linear_common_output": False,
        "representation": "standardized_common",
        "sequence_length": 24,
        "share_common_layers": True,
        "shared_decoder_layers": 0,
        "temperature": 1.0,
        "text_dropout": 0.0,
        "text_filters": 64,
        "text_window_sizes": [2, 3],
        "vocabulary_size": 500,
        "word_vectors": None,
    },
    "runtime": {
        "jit_compile": True,
        "keep_checkpoints": 2,
        "model_dir": "/tmp/old_run",
        "strategy": "auto",
        "verbose": 0,
    },
    "training": {
        "batch_size": 32,
        "beta_1": 0.5,
        "clip_norm": 0.0,
        "ema_momentum": 0.0,
        "epochs": 1,
        "generator_steps": 2,
        "learning_rate": 0.001,
        "lr_decay_epochs": 100,
        "lr_decay_rate": 0.5,
        "seed": 0,
        "weight_decay": 0.0,
    },
}

OLD_RUN_NOW = PRESETS["smoke"].replace(
    data={"dataset": "shapes", "image_size": 32},
    model={
        "image_trunk": {"filters": (8, 16)},
        "text_trunk": {"vocabulary_size": 500, "window_sizes": (2, 3)},
    },
    training={"epochs": 1},
    # Written when the smoke preset still compiled with XLA.
    runtime={"model_dir": "/tmp/old_run", "verbose": 0, "jit_compile": True},
)


def test_a_config_json_in_the_old_flat_layout_loads_and_compares_equal():
    config = ExperimentConfig.from_json(json.dumps(OLD_FLAT_CONFIG))
    assert config == OLD_RUN_NOW
    assert config.model.image_trunk == ImageTrunkConfig(filters=(8, 16))
    assert config.model.text_trunk == TextTrunkConfig(
        vocabulary_size=500, window_sizes=(2, 3)
    )
    # Written again, it takes the nested layout.
    data = json.loads(config.to_json())
    assert data["model"]["image_trunk"]["filters"] == [8, 16]
    assert "image_filters" not in data["model"]
    assert data["data"]["tfds"]["tfds_name"] is None


def test_nested_sections_round_trip_through_json():
    config = ExperimentConfig().replace(
        data={"dataset": "tfds", "tfds": {"tfds_name": "coco", "image_key": "img"}},
        model={"image_trunk": {"backbone": "vgg19", "backbone_weights": "w.h5"}},
    )
    assert ExperimentConfig.from_json(config.to_json()) == config
    assert config.data.tfds_options() == {
        "tfds_name": "coco",
        "image_key": "img",
        "caption_key": "caption",
        "label_key": "label",
        "train_split": "train",
        "test_split": "test",
        "cache_dir": None,
    }
    assert ExperimentConfig().data.tfds_options() is None


def test_flat_and_nested_names_of_a_field_are_the_same_field():
    flat = ExperimentConfig().replace(model={"text_filters": 8, "image_filters": [4]})
    nested = ExperimentConfig().replace(
        model={"text_trunk": {"filters": 8}, "image_trunk": {"filters": (4,)}}
    )
    assert flat == nested
    assert flat.model.text_trunk.filters == 8
    assert flat.model.image_trunk.filters == (4,)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"training": {"epochs": "3"}},
            "`epochs` must be an integer. Received: epochs='3'",
        ),
        (
            {"model": {"image_filters": [1.5]}},
            "`image_filters` must be a list of integers",
        ),
        ({"data": {"data_dir": 3}}, "`data_dir` must be a string or null"),
        ({"runtime": {"jit_compile": "yes"}}, "`jit_compile` must be true or false"),
        ({"training": 4}, "`training` must be a mapping of TrainingConfig fields"),
        ({"model": {"image_trunk": []}}, "`image_trunk` must be a mapping"),
        (
            {"model": {"image_trunk": {"size": 3}}},
            r"Unknown ImageTrunkConfig fields \['size'\]",
        ),
    ],
)
def test_wrong_types_and_unknown_keys_name_the_key_and_what_was_expected(data, message):
    with pytest.raises(InvalidInputError, match=message):
        ExperimentConfig.from_dict(data)


def test_flag_differences_lists_changed_fields_by_flag_name():
    base = PRESETS["smoke"]
    config = base.replace(training={"epochs": 9}, model={"image_filters": (4,)})
    assert flag_differences(config, base) == [
        ("image_filters", (4,), base.model.image_trunk.filters),
        ("epochs", 9, 2),
    ]
    assert flag_differences(base, base) == []


# Configuration files


def _parse(flag_values, *args):
    flag_values(["prog", *args])
    return resolve_config(flag_values)


def test_a_runs_config_json_replays_it(flag_values, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(OLD_RUN_NOW.to_json())
    name, config = _parse(flag_values, f"--config_file={path}")
    assert config == OLD_RUN_NOW
    assert name == "reference"


def test_an_old_flat_config_json_replays_it(flag_values, tmp_path):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(OLD_FLAT_CONFIG))
    _, config = _parse(flag_values, f"--config_file={path}")
    assert config == OLD_RUN_NOW


def test_files_are_layered_in_order_and_flags_win(flag_values, tmp_path):
    (tmp_path / "a.yaml").write_text(
        "preset: smoke\n"
        "training: {epochs: 5, seed: 3}\n"
        "model:\n  image_filters: [4, 8]\n"
    )
    (tmp_path / "b.json").write_text('{"training": {"epochs": 6, "batch_size": 16}}')
    name, config = _parse(
        flag_values,
        f"--config_file={tmp_path / 'a.yaml'}",
        f"--config_file={tmp_path / 'b.json'}",
        "--batch_size=8",
    )
    assert name == "smoke"
    assert config == PRESETS["smoke"].replace(
        training={"epochs": 6, "seed": 3, "batch_size": 8},
        model={"image_trunk": {"filters": (4, 8)}},
    )


def test_a_file_naming_the_same_preset_as_the_flag_is_fine(flag_values, tmp_path):
    (tmp_path / "a.yaml").write_text("preset: smoke\n")
    name, config = _parse(
        flag_values, "--preset=smoke", f"--config_file={tmp_path / 'a.yaml'}"
    )
    assert (name, config) == ("smoke", PRESETS["smoke"])


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("absent.json", None, "absent.json cannot be read .*expected an existing JSON"),
        (
            "bad.json",
            "{not json",
            "bad.json is not valid JSON: Expecting property name",
        ),
        ("bad.yaml", "training: [1, 2", "bad.yaml is not valid YAML: .*line 1"),
        (
            "list.yaml",
            "- 1\n- 2\n",
            "list.yaml must hold a mapping of configuration sections",
        ),
        (
            "key.json",
            '{"training": {"epoch": 3}}',
            r"key.json: Unknown TrainingConfig fields \['epoch'\]",
        ),
        (
            "section.json",
            '{"optimizer": {}}',
            "section.json: Unknown configuration section 'optimizer'",
        ),
        (
            "type.yaml",
            "training:\n  epochs: many\n",
            "type.yaml: `epochs` must be an integer. Received: epochs='many'",
        ),
        (
            "range.yaml",
            "training:\n  epochs: 0\n",
            "range.yaml: `epochs` must be a positive integer",
        ),
        (
            "preset.yaml",
            "preset: huge\n",
            "preset.yaml `preset` must be one of reference",
        ),
        (
            "conflict.yaml",
            "preset: shapes\n",
            "conflict.yaml names preset 'shapes', which conflicts with --preset=smoke",
        ),
    ],
)
def test_bad_config_file_is_one_error_naming_the_file_and_the_key(
    flag_values, tmp_path, name, text, message
):
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    flag_values(["prog", "--preset=smoke", f"--config_file={path}"])
    with pytest.raises(InvalidInputError, match=message) as error:
        resolve_config(flag_values)
    assert f"--config_file={path}" in str(error.value)
    assert "\n" not in str(error.value)


def test_two_files_naming_different_presets_conflict(flag_values, tmp_path):
    (tmp_path / "a.yaml").write_text("preset: smoke\n")
    (tmp_path / "b.yaml").write_text("preset: shapes\n")
    flag_values(
        [
            "prog",
            f"--config_file={tmp_path / 'a.yaml'}",
            f"--config_file={tmp_path / 'b.yaml'}",
        ]
    )
    with pytest.raises(
        InvalidInputError,
        match="b.yaml names preset 'shapes', which conflicts with preset 'smoke' of",
    ):
        resolve_config(flag_values)


def test_an_interrupted_run_with_an_old_flat_config_json_may_resume(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(OLD_FLAT_CONFIG))
    config = OLD_RUN_NOW.replace(runtime={"model_dir": "/tmp/old_run"})
    # The same configuration, now nested: resuming is allowed.
    check_same_run(config, str(tmp_path))
    changed = config.replace(model={"image_trunk": {"filters": (4,)}})
    with pytest.raises(
        InvalidInputError, match=r"--image_filters=\(4,\) \(was \(8, 16\)\)"
    ):
        check_same_run(changed, str(tmp_path))
