"""`--mixed_precision`: dtype policies, loss scaling and float32 interfaces."""

import glob
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from cmgan_tf.config import ExperimentConfig
from cmgan_tf.data.pipeline import training_dataset
from cmgan_tf.errors import InvalidInputError
from cmgan_tf.presets import preset
from cmgan_tf.runs.export import export_serving_model, export_tflite_model
from cmgan_tf.runs.model_dir import load_run
from cmgan_tf.runs.trainer import slow_setting_advice, train
from cmgan_tf.training.averaging import GeneratorWeightAveraging
from cmgan_tf.training.builder import (
    build_cmgan,
    build_optimizers,
    float32_generator,
)
from cmgan_tf.training.distribution import make_strategy
from tests.cli_utils import run_main
from tests.conftest import make_paired_split

POLICIES = ("float32", "mixed_bfloat16", "mixed_float16")
COMPUTE_DTYPES = {
    "float32": "float32",
    "mixed_bfloat16": "bfloat16",
    "mixed_float16": "float16",
}


def _config(policy, **training):
    return preset("smoke").replace(
        training={"mixed_precision": policy, "batch_size": 16, **training}
    )


def _layers(model):
    return [layer for layer in model._flatten_layers() if layer.weights]


def test_an_unknown_policy_is_refused_with_the_choices():
    with pytest.raises(InvalidInputError) as error:
        ExperimentConfig().replace(training={"mixed_precision": "float16"})
    assert str(error.value) == (
        "`mixed_precision` must be one of float32, mixed_bfloat16, mixed_float16. "
        "Received: mixed_precision='float16'"
    )


def test_the_flag_refuses_an_unknown_policy_in_one_line(tmp_path):
    message = run_main(
        "pipelines.train",
        f"--model_dir={tmp_path}",
        "--mixed_precision=float64",
    )
    assert message == (
        "cmgan-train: error: `mixed_precision` must be one of float32, "
        "mixed_bfloat16, mixed_float16. Received: mixed_precision='float64'"
    )


@pytest.mark.parametrize("policy", POLICIES)
def test_every_layer_takes_the_policy_and_logits_stay_float32(policy):
    split = make_paired_split(32)
    cmgan = build_cmgan(_config(policy), split, multi_label=False)
    logits = {"logit", "image_classifier", "text_classifier"}
    for layer in _layers(cmgan):
        expected = "float32" if layer.name in logits else COMPUTE_DTYPES[policy]
        assert layer.compute_dtype == expected, layer.name
        assert all(v.dtype == "float32" for v in layer.trainable_weights)
    outputs = cmgan.generator(
        {"image": split.images[:4], "text": split.texts[:4]}, training=False
    )
    assert outputs["image_common"].dtype == COMPUTE_DTYPES[policy]
    assert outputs["image_logits"].dtype == "float32"
    # The policy was set for the build only.
    assert keras.config.dtype_policy().name == "float32"


def test_a_float32_build_after_a_mixed_one_is_float32():
    split = make_paired_split(32)
    build_cmgan(_config("mixed_float16"), split, multi_label=False)
    cmgan = build_cmgan(_config("float32"), split, multi_label=False)
    assert {layer.compute_dtype for layer in _layers(cmgan)} == {"float32"}


def test_the_float32_copy_computes_what_the_mixed_generator_approximates():
    split = make_paired_split(32)
    config = _config("mixed_bfloat16")
    cmgan = build_cmgan(config, split, multi_label=False)
    copy = float32_generator(config, split, cmgan.generator)
    assert {layer.compute_dtype for layer in _layers(copy)} == {"float32"}
    for mine, theirs in zip(
        copy.get_weights(), cmgan.generator.get_weights(), strict=True
    ):
        np.testing.assert_array_equal(mine, theirs)
    inputs = {"image": split.images, "text": split.texts}
    exact = copy(inputs, training=False)["image_common"]
    approximate = cmgan.generator(inputs, training=False)["image_common"]
    np.testing.assert_allclose(
        np.asarray(tf.cast(approximate, "float32")), exact, rtol=0.1, atol=0.1
    )
    # Under float32 the generator itself is used: nothing is copied.
    plain = build_cmgan(_config("float32"), split, multi_label=False)
    assert float32_generator(_config("float32"), split, plain.generator) is (
        plain.generator
    )


def _fit(policy, strategy, steps, optimizers=None, callbacks=(), **training):
    """Trains `steps` steps; returns `(cmgan, d_optimizer, g_optimizer, logs)`."""
    config = _config(policy, **training)
    split = make_paired_split(96)
    keras.utils.set_random_seed(0)
    distribution = make_strategy(strategy)
    batches = training_dataset(
        split, 16, 0, num_replicas=distribution.num_replicas_in_sync
    ).repeat()
    with distribution.scope():
        cmgan = build_cmgan(config, split, multi_label=False)
        d_optimizer, g_optimizer = (optimizers or build_optimizers)(
            config.training, steps
        )
        # XLA on one device only: what these tests check is the loss scale,
        # and compiling per replica under MirroredStrategy is test_cmgan's.
        cmgan.compile(
            d_optimizer,
            g_optimizer,
            generator_steps=config.training.generator_steps,
            jit_compile=strategy == "default",
        )
    history = cmgan.fit(
        batches,
        epochs=1,
        steps_per_epoch=steps,
        callbacks=list(callbacks),
        verbose=0,
    )
    return cmgan, d_optimizer, g_optimizer, history.history


@pytest.mark.parametrize("policy", POLICIES)
def test_only_float16_scales_the_loss(policy):
    for optimizer in build_optimizers(_config(policy).training, 10):
        assert isinstance(optimizer, keras.optimizers.LossScaleOptimizer) == (
            policy == "mixed_float16"
        )


# float32 steps are checked against recorded ones in test_step_equivalence.py.
# Mirrored under float16 only: the loss-scale skip decision is what replicas
# must agree on; bfloat16 takes float32's path with casts.
@pytest.mark.slow
@pytest.mark.parametrize(
    ("policy", "strategy"),
    [
        ("mixed_bfloat16", "default"),
        ("mixed_float16", "default"),
        ("mixed_float16", "mirrored"),
    ],
)
def test_training_steps_under_each_policy_stay_finite(policy, strategy):
    cmgan, _, g_optimizer, logs = _fit(policy, strategy, steps=2)
    scaled = policy == "mixed_float16"
    assert all(math.isfinite(values[-1]) for values in logs.values())
    assert all(np.isfinite(v.numpy()).all() for v in cmgan.trainable_variables)
    # Every step was applied: the initial scale, 2**15, overflows nothing here.
    generator_steps = cmgan.generator_steps
    assert int(g_optimizer.iterations.numpy()) == 2 * generator_steps
    if scaled:
        assert float(g_optimizer.dynamic_scale.numpy()) == 2.0**15


@pytest.mark.slow
def test_weight_averaging_reads_the_averages_inside_the_loss_scale_optimizer():
    averaging = GeneratorWeightAveraging()
    cmgan, _, g_optimizer, _ = _fit(
        "mixed_float16", "default", 2, callbacks=[averaging], ema_momentum=0.5
    )
    assert g_optimizer.inner_optimizer.use_ema
    averages = g_optimizer.inner_optimizer._model_variables_moving_average
    for variable, average in zip(
        cmgan.generator.trainable_variables, averages, strict=True
    ):
        np.testing.assert_array_equal(variable.numpy(), average.numpy())


def _loss_scale_optimizers(initial_scale, growth_steps):
    def build(training, steps):
        return [
            keras.optimizers.LossScaleOptimizer(
                keras.optimizers.Adam(1e-3, beta_1=0.5),
                initial_scale=initial_scale,
                dynamic_growth_steps=growth_steps,
            )
            for _ in range(2)
        ]

    return build


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["default", "mirrored"])
def test_an_overflowing_scale_is_halved_and_its_steps_skipped(strategy):
    # Scaled by 2**20 float16 gradients overflow: each update is skipped and
    # halves the scale, until it fits and the updates are applied.
    cmgan, _, g_optimizer, logs = _fit(
        "mixed_float16",
        strategy,
        steps=4,
        optimizers=_loss_scale_optimizers(2.0**20, growth_steps=1000),
    )
    scale = float(g_optimizer.dynamic_scale.numpy())
    updates = 4 * cmgan.generator_steps
    applied = int(g_optimizer.iterations.numpy())
    assert 0 < applied < updates
    assert scale == 2.0 ** (20 - (updates - applied))
    assert all(np.isfinite(v.numpy()).all() for v in cmgan.trainable_variables)
    assert all(math.isfinite(values[-1]) for values in logs.values())


@pytest.mark.slow
def test_a_fitting_scale_grows_after_its_growth_steps():
    cmgan, _, g_optimizer, _ = _fit(
        "mixed_float16",
        "default",
        steps=2,
        optimizers=_loss_scale_optimizers(4.0, growth_steps=2),
    )
    updates = 2 * cmgan.generator_steps
    assert int(g_optimizer.iterations.numpy()) == updates
    # Doubled once every two finite steps.
    assert float(g_optimizer.dynamic_scale.numpy()) == 4.0 * 2 ** (updates // 2)


@pytest.fixture(scope="module")
def mixed_runs(tmp_path_factory):
    """`{policy: (model_dir, metrics)}` of a smoke run under each mixed policy."""
    runs = {}
    for policy in ("mixed_float16", "mixed_bfloat16"):
        model_dir = tmp_path_factory.mktemp(policy) / "run"
        config = preset("smoke").replace(
            data={"dataset": "wikipedia_classic"},
            training={"epochs": 2, "mixed_precision": policy},
            runtime={"model_dir": str(model_dir), "verbose": 0},
        )
        runs[policy] = model_dir, train(config, preset_name="smoke")
    return runs


@pytest.mark.slow
def test_runs_under_each_policy_save_a_float32_encoder(mixed_runs):
    for policy, (model_dir, metrics) in mixed_runs.items():
        assert all(
            math.isfinite(v) for values in metrics["history"].values() for v in values
        ), policy
        # Well above random rankings (about 0.1 on wikipedia_classic).
        assert metrics["validation"]["map_mean"] > 0.15, policy
        config, encoder = load_run(model_dir)
        assert config.training.mixed_precision == policy
        assert {layer.compute_dtype for layer in _layers(encoder)} == {"float32"}
    # Each run put the process's policy back as it found it.
    assert keras.config.dtype_policy().name == "float32"


@pytest.mark.slow
def test_exports_of_a_mixed_float16_run_have_float32_interfaces(mixed_runs, tmp_path):
    model_dir, _ = mixed_runs["mixed_float16"]
    result = export_serving_model(model_dir, tmp_path / "serving", top_k=5)
    loaded = tf.saved_model.load(result["path"])
    for name in ("encode_image", "encode_text"):
        function = loaded.signatures[name]
        inputs = function.structured_input_signature[1]
        assert {spec.dtype for spec in inputs.values()} == {tf.float32}, name
        outputs = function.structured_outputs
        assert {spec.dtype for spec in outputs.values()} == {tf.float32}, name
    for name in ("retrieve_with_image", "retrieve_with_text"):
        inputs = loaded.signatures[name].structured_input_signature[1]
        assert {spec.dtype for spec in inputs.values()} == {tf.float32}, name

    from ai_edge_litert.interpreter import Interpreter

    export_tflite_model(model_dir, tmp_path / "tflite", variants=("float32", "float16"))
    files = sorted(glob.glob(str(tmp_path / "tflite" / "*.tflite")))
    assert len(files) == 4
    for path in files:
        interpreter = Interpreter(model_path=path)
        details = interpreter.get_input_details() + interpreter.get_output_details()
        assert {d["dtype"] for d in details} == {np.float32}, path


def test_bfloat16_with_xla_on_a_cpu_is_advised_against():
    cpu, gpu = ["/job:localhost/replica:0/task:0/device:CPU:0"], ["/device:GPU:0"]

    def config(policy, jit_compile=True):
        return _config(policy).replace(runtime={"jit_compile": jit_compile})

    assert "--nojit_compile" in slow_setting_advice(config("mixed_bfloat16"), cpu)
    assert slow_setting_advice(config("mixed_bfloat16"), gpu) is None
    assert slow_setting_advice(config("float32"), cpu) is None
    assert slow_setting_advice(config("mixed_bfloat16", False), cpu) is None
