"""Behaviour of the adversarial game: sharing, player isolation, strategies, XLA."""

import os
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from cmgan_tf.errors import InvalidInputError
from cmgan_tf.models.autoencoder import CrossModalAutoencoder
from cmgan_tf.models.raw_trunks import ConvImageTrunk, WordCNNTextTrunk
from cmgan_tf.presets import preset
from cmgan_tf.runs.evaluation import evaluate
from cmgan_tf.runs.model_dir import load_run
from cmgan_tf.runs.trainer import train
from cmgan_tf.training import keras_compat
from cmgan_tf.training.builder import build_cmgan, build_optimizers
from cmgan_tf.training.cmgan import CMGAN
from cmgan_tf.training.distribution import make_strategy

SMOKE = preset("smoke")


def _compiled_cmgan(config, split, jit_compile=False):
    cmgan = build_cmgan(config, split, multi_label=False)
    d_optimizer, g_optimizer = build_optimizers(config.training, steps_per_epoch=4)
    cmgan.compile(d_optimizer, g_optimizer, generator_steps=2, jit_compile=jit_compile)
    return cmgan


def _batch(split, size=32):
    return {
        "image": tf.constant(split.images[:size]),
        "text": tf.constant(split.texts[:size]),
        "labels": tf.constant(split.labels[:size]),
    }


def _snapshot(variables):
    return [v.numpy().copy() for v in variables]


def _changed(before, variables):
    return [
        v.path
        for old, v in zip(before, variables, strict=True)
        if not np.array_equal(old, v.numpy())
    ]


def _discriminator_variables(cmgan):
    return [v for d in cmgan.discriminators for v in d.variables]


def test_common_layers_are_one_set_of_variables(paired_split):
    generator = build_cmgan(SMOKE, paired_split, multi_label=False).generator
    assert generator.image_common is generator.text_common
    image_ids = {id(v) for v in generator.image_common.variables}
    text_ids = {id(v) for v in generator.text_common.variables}
    assert image_ids == text_ids and image_ids
    # One copy in the model's variables, not two.
    all_ids = [id(v) for v in generator.variables]
    assert len(all_ids) == len(set(all_ids))

    # Writing the weights through the image pathway changes the text pathway.
    _, text_before = generator.encode(paired_split.texts[:4], "text")
    kernel = generator.image_common.layers[0].dense.kernel
    kernel.assign(kernel * 2.0 + 1.0)
    _, text_after = generator.encode(paired_split.texts[:4], "text")
    assert not np.allclose(text_before, text_after)


def test_original_dims_are_the_trunks_output_widths(paired_split):
    generator = build_cmgan(SMOKE, paired_split, multi_label=False).generator
    outputs = generator(
        {"image": paired_split.images[:2], "text": paired_split.texts[:2]}
    )
    for modality in ("image", "text"):
        width = generator.original_dim(modality)
        assert outputs[f"{modality}_original"].shape == (2, width)
        assert outputs[f"{modality}_reconstruction"].shape == (2, width)
    with pytest.raises(InvalidInputError, match="Received: modality='audio'"):
        generator.original_dim("audio")


def test_unshared_common_layers_are_equal_copies(paired_split):
    config = SMOKE.replace(model={"share_common_layers": False})
    generator = build_cmgan(config, paired_split, multi_label=False).generator
    image_vars = generator.image_common.variables
    text_vars = generator.text_common.variables
    assert not {id(v) for v in image_vars} & {id(v) for v in text_vars}
    for image_var, text_var in zip(image_vars, text_vars, strict=True):
        np.testing.assert_array_equal(image_var.numpy(), text_var.numpy())


def test_sharing_survives_saving(paired_split, tmp_path):
    generator = build_cmgan(SMOKE, paired_split, multi_label=False).generator
    path = tmp_path / "generator.keras"
    generator.save(path)
    restored = keras.saving.load_model(path)
    assert restored.image_common is restored.text_common
    inputs = {"image": paired_split.images[:5], "text": paired_split.texts[:5]}
    for key, value in generator(inputs).items():
        np.testing.assert_allclose(restored(inputs)[key], value, atol=1e-6)


@pytest.mark.parametrize("jit_compile", [False, True])
def test_discriminator_step_changes_only_discriminators(paired_split, jit_compile):
    cmgan = _compiled_cmgan(SMOKE, paired_split, jit_compile)
    generator_before = _snapshot(cmgan.generator.variables)
    discriminators_before = _snapshot(_discriminator_variables(cmgan))

    terms = cmgan.discriminator_step(_batch(paired_split))

    assert _changed(generator_before, cmgan.generator.variables) == []
    changed = _changed(discriminators_before, _discriminator_variables(cmgan))
    trainable = [v.path for d in cmgan.discriminators for v in d.trainable_variables]
    assert set(trainable) <= set(changed)
    assert all(np.isfinite(float(v)) for v in terms.values())


@pytest.mark.parametrize("jit_compile", [False, True])
def test_generator_step_changes_only_generator(paired_split, jit_compile):
    cmgan = _compiled_cmgan(SMOKE, paired_split, jit_compile)
    generator_before = _snapshot(cmgan.generator.trainable_variables)
    discriminators_before = _snapshot(_discriminator_variables(cmgan))

    terms = cmgan.generator_step(_batch(paired_split))

    assert _changed(discriminators_before, _discriminator_variables(cmgan)) == []
    changed = _changed(generator_before, cmgan.generator.trainable_variables)
    # Every generator weight reached by a loss moves; the trunks hold none.
    assert set(changed) == {v.path for v in cmgan.generator.trainable_variables}
    assert set(terms) == {
        "g_semantic_loss",
        "g_intra_adversarial_loss",
        "g_inter_adversarial_loss",
        "g_loss",
    }


@pytest.mark.parametrize("jit_compile", [False, True])
def test_the_class_probe_trains_the_classifiers_and_nothing_else(
    paired_split, jit_compile
):
    config = SMOKE.replace(
        loss={
            "semantic_weight": 0.0,
            "intra_adversarial_weight": 0.0,
            "inter_adversarial_weight": 0.0,
            "class_probe_weight": 1.0,
        }
    )
    cmgan = _compiled_cmgan(config, paired_split, jit_compile)
    before = _snapshot(cmgan.generator.trainable_variables)

    terms = cmgan.generator_step(_batch(paired_split))

    classifiers = {
        v.path
        for layer in (cmgan.generator.image_classifier, cmgan.generator.text_classifier)
        for v in layer.trainable_variables
    }
    assert classifiers
    # Its gradient stops at the common representation: the space it reads
    # is left as the other terms make it.
    assert set(_changed(before, cmgan.generator.trainable_variables)) == classifiers
    assert set(terms) == {"g_class_probe_loss", "g_loss"}
    assert float(terms["g_class_probe_loss"]) > 0


def test_switched_off_terms_remove_their_discriminators(paired_split):
    config = SMOKE.replace(
        loss={"intra_adversarial_weight": 0.0, "inter_adversarial_weight": 0.0}
    )
    cmgan = _compiled_cmgan(config, paired_split)
    assert cmgan.discriminators == []
    assert [m.name for m in cmgan.metrics] == ["g_semantic_loss", "g_loss"]


def test_unconditional_inter_discriminator_trains(paired_split):
    config = SMOKE.replace(model={"inter_discriminator": "unconditional"})
    cmgan = _compiled_cmgan(config, paired_split)
    assert cmgan.text_inter_discriminator is None
    assert not cmgan.image_inter_discriminator.conditional
    logs = cmgan.train_step(_batch(paired_split))
    assert "d_inter_loss" in logs and np.isfinite(float(logs["d_inter_loss"]))


def test_compile_rejects_bad_generator_steps(paired_split):
    cmgan = build_cmgan(SMOKE, paired_split, multi_label=False)
    with pytest.raises(InvalidInputError, match="generator_steps"):
        cmgan.compile(
            keras.optimizers.Adam(), keras.optimizers.Adam(), generator_steps=0
        )
    with pytest.raises(InvalidInputError, match="d_optimizer"):
        cmgan.compile(None, keras.optimizers.Adam())


def _train_config(npz_dataset, tmp_path, **runtime):
    # A shared classifier aligns the modalities within a few epochs; with one
    # per modality only the slower adversarial game does.
    return SMOKE.replace(
        data={"dataset": "npz", "data_dir": str(npz_dataset)},
        model={"classifier": "shared"},
        training={"epochs": 10, "batch_size": 32, "learning_rate": 3e-3},
        runtime={"model_dir": str(tmp_path / "run"), **runtime},
    )


@pytest.mark.slow
def test_mirrored_strategy_trains_two_replicas(npz_dataset, tmp_path):
    assert make_strategy("mirrored").num_replicas_in_sync == 2
    config = _train_config(npz_dataset, tmp_path, strategy="mirrored")
    metrics = train(config)

    assert metrics["replicas"] == 2
    history = metrics["history"]
    assert all(np.isfinite(history["g_loss"]))
    assert history["g_semantic_loss"][-1] < history["g_semantic_loss"][0]
    # Four balanced classes: chance MAP is about 0.25.
    assert metrics["validation"]["map_mean"] > 0.7, history["val_map_mean"]
    test_scores, chance = evaluate(config.runtime.model_dir)
    assert test_scores["map_mean"] > 0.7
    assert 0.2 < chance["map_mean"] < 0.35


@pytest.mark.slow
def test_mirrored_replicas_keep_equal_batch_statistics(paired_split):
    strategy = make_strategy("mirrored")
    with strategy.scope():
        cmgan = _compiled_cmgan(SMOKE, paired_split, jit_compile=True)
    moving = [v for v in cmgan.generator.non_trainable_variables if "moving" in v.path]
    assert moving
    before = _snapshot(moving)
    batches = tf.data.Dataset.from_tensors(_batch(paired_split)).repeat(3)
    cmgan.fit(batches, epochs=1, verbose=0)
    # Each replica saw a different half of the batch, yet the copies agree.
    assert len(_changed(before, moving)) == len(moving)
    for variable in moving:
        replicas = variable.value.values
        assert len(replicas) == 2
        np.testing.assert_allclose(replicas[0].numpy(), replicas[1].numpy())


_XLA_SCRIPT = textwrap.dedent(
    """
    import sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    from cmgan_tf.runs.trainer import train
    from cmgan_tf.presets import preset
    for xla in ("off", "on"):
        config = preset("smoke").replace(
            data={"dataset": "npz", "data_dir": sys.argv[1]},
            training={"epochs": 1, "batch_size": 32},
            runtime={"model_dir": sys.argv[2] + xla, "strategy": "mirrored",
                     "jit_compile": xla == "on"})
        print("replicas", train(config)["replicas"])
        print("trained with XLA", xla, file=sys.stderr, flush=True)
    """
)


@pytest.mark.parametrize("strategy", ["default", "mirrored"])
@pytest.mark.parametrize("jit_compile", [True, False])
def test_xla_compiles_the_whole_step_on_one_device_and_per_replica_otherwise(
    paired_split, strategy, jit_compile
):
    with make_strategy(strategy).scope():
        cmgan = _compiled_cmgan(SMOKE, paired_split, jit_compile=jit_compile)
    # Keras' own whole-step compilation fails under a strategy
    # (keras_compat.xla_compilation).
    assert cmgan.jit_compile == (jit_compile and strategy == "default")
    with make_strategy(strategy).scope():
        whole_step, per_replica = keras_compat.xla_compilation(jit_compile)
    assert whole_step == cmgan.jit_compile
    assert per_replica == (jit_compile and strategy == "mirrored")


def _raw_trunk_cmgan():
    generator = CrossModalAutoencoder(
        ConvImageTrunk(8, filters=(4,), units=6),
        WordCNNTextTrunk(
            20, 5, embedding_dim=4, window_sizes=(2,), filters_per_window=3
        ),
        num_classes=3,
        encoder_units=(8,),
        common_units=(4,),
        decoder_units=(),
    )
    cmgan = CMGAN(
        generator,
        loss_weights={
            "semantic": 1.0,
            "class_contrastive": 1.0,
            "pair_contrastive": 1.0,
        },
    )
    cmgan.build({"image": (None, 8, 8, 3), "text": (None, 5)})
    return cmgan


def _raw_trunk_batch():
    rng = np.random.default_rng(0)
    return {
        "image": rng.integers(0, 255, (8, 8, 8, 3)).astype("uint8"),
        "text": rng.integers(0, 20, (8, 5)).astype("int32"),
        "labels": np.eye(3, dtype="float32")[rng.integers(0, 3, 8)],
    }


@pytest.mark.slow
def test_raw_input_trunks_train_the_same_compiled_whole_or_per_replica(monkeypatch):
    # On one device the whole step is compiled since DenseGradientEmbedding;
    # before, these trunks were compiled per replica. The two must agree.
    batch = _raw_trunk_batch()
    weights = {}
    for mode in ("whole", "per_replica"):
        if mode == "per_replica":
            monkeypatch.setattr(
                keras_compat, "xla_compilation", lambda jit: (False, bool(jit))
            )
        keras.utils.set_random_seed(0)
        cmgan = _raw_trunk_cmgan()
        # Plain SGD: Adam would turn the round-off in the gradients of biases
        # that a BatchNorm cancels (zero in exact arithmetic) into full steps.
        cmgan.compile(g_optimizer=keras.optimizers.SGD(0.1), jit_compile=True)
        assert cmgan.jit_compile == (mode == "whole")
        initial = _snapshot(cmgan.generator.trainable_variables)
        batches = tf.data.Dataset.from_tensors(batch).repeat(3)
        cmgan.fit(batches, epochs=1, verbose=0)
        changed = _changed(initial, cmgan.generator.trainable_variables)
        assert any("embedding" in path for path in changed), changed
        weights[mode] = _snapshot(cmgan.generator.trainable_variables)
    for whole, per_replica in zip(
        weights["whole"], weights["per_replica"], strict=True
    ):
        np.testing.assert_allclose(whole, per_replica, rtol=1e-4, atol=1e-5)


_RAW_TRUNK_XLA_SCRIPT = textwrap.dedent(
    """
    import keras
    import tensorflow as tf
    from tests.test_cmgan import _raw_trunk_batch, _raw_trunk_cmgan
    cmgan = _raw_trunk_cmgan()
    cmgan.compile(g_optimizer=keras.optimizers.Adam(), jit_compile=True)
    print("whole step compiled:", cmgan.jit_compile)
    batches = tf.data.Dataset.from_tensors(_raw_trunk_batch()).repeat(4)
    cmgan.fit(batches, epochs=1, verbose=0)
    """
)


@pytest.mark.slow
def test_raw_input_trunks_compile_the_whole_step_once(tmp_path):
    # With Keras' own embedding lookup, XLA compiled the whole step again at
    # every step (DenseGradientEmbedding): 40 s a step for the shapes preset.
    # XLA dumps each program it compiles; four steps must make one.
    dump = tmp_path / "xla"
    flags = f"--xla_dump_to={dump} --xla_dump_hlo_module_re=.*one_step_on_data.*"
    result = subprocess.run(
        [sys.executable, "-c", _RAW_TRUNK_XLA_SCRIPT],
        capture_output=True,
        text=True,
        # The script imports the model from this module.
        cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
        env={**os.environ, "XLA_FLAGS": flags},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "whole step compiled: True" in result.stdout
    programs = {
        name.split(".", 1)[0] for name in os.listdir(dump) if "one_step_on_data" in name
    }
    assert len(programs) == 1, sorted(programs)


@pytest.mark.slow
def test_xla_compiles_the_steps_under_mirrored_strategy_only_when_on(
    npz_dataset, tmp_path
):
    # TensorFlow logs this line once per process when XLA compiles a cluster;
    # nothing else in a training run compiles with XLA, so it tells whether
    # the steps really ran through XLA. One process trains with XLA off, then on.
    marker = "Compiled cluster using XLA"
    result = subprocess.run(
        [sys.executable, "-c", _XLA_SCRIPT, str(npz_dataset), str(tmp_path / "run_")],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "0"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.count("replicas 2") == 2
    off, on = result.stderr.split("trained with XLA off", 1)
    assert marker not in off
    assert marker in on.split("trained with XLA on", 1)[0]


@pytest.mark.slow
def test_wikipedia_preset_trains_and_exports_its_averaged_encoder(
    npz_dataset, tmp_path
):
    config = preset("wikipedia").replace(
        data={"dataset": "npz", "data_dir": str(npz_dataset)},
        # Few steps per epoch: a shorter average than the preset's 0.99 lets
        # the averaged weights catch up within a few epochs.
        training={"epochs": 8, "batch_size": 32, "ema_momentum": 0.9},
        runtime={"model_dir": str(tmp_path / "run"), "verbose": 0},
    )
    metrics = train(config)
    # Four balanced classes: chance MAP is about 0.25.
    assert metrics["validation"]["map_mean"] > 0.7, metrics["history"]
    _, encoder = load_run(config.runtime.model_dir)
    assert encoder.representation == "class_probabilities"
    assert encoder.temperature == 0.25
    # The exported encoder is the averaged generator of the best epoch: it
    # scores what that epoch's validation scored.
    best = metrics["best_epoch"] - 1
    assert metrics["validation"]["map_mean"] == pytest.approx(
        metrics["history"]["val_map_mean"][best], abs=1e-6
    )


def test_the_contrastive_temperature_reaches_the_generator_loss(paired_split):
    config = SMOKE.replace(
        loss={
            "semantic_weight": 0.0,
            "intra_adversarial_weight": 0.0,
            "inter_adversarial_weight": 0.0,
            "class_contrastive_weight": 1.0,
            "contrastive_temperature": 0.05,
        }
    )
    cmgan = build_cmgan(config, paired_split, multi_label=False)
    assert cmgan.contrastive_temperature == 0.05
    restored = CMGAN.from_config(cmgan.get_config())
    assert restored.contrastive_temperature == 0.05
    batch = _batch(paired_split)
    _, sharp = cmgan._generator_losses(batch)
    cmgan.contrastive_temperature = 1.0
    _, soft = cmgan._generator_losses(batch)
    assert float(sharp) != pytest.approx(float(soft), rel=1e-3)
