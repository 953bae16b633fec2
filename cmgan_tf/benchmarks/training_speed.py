"""Speed of `CMGAN.train_step`: the configurations timed and how one is timed.

`pipelines/benchmark.py` runs every configuration of `CONFIGURATIONS` with
XLA on and off, each in a fresh process (see `cmgan_tf.benchmarks.runner`),
and optionally the PyTorch peer of the reference step with the same sizes;
`summarize` turns the rounds into medians, spreads and ratios.
"""

import time

import keras
import numpy as np

from cmgan_tf.benchmarks.runner import spread
from cmgan_tf.data.dataset import PairedSplit, labels_from_class_ids

# Each configuration names the preset whose model and game are timed, the
# features it trains on (the wikipedia_classic files, or synthetic features of
# the given sizes), the batch, the replicas and the steps of one timed epoch.
# `peer`: the PyTorch peer implements the reference step and runs beside it.
# `mixed_precision`, where given, is the Keras dtype policy (default float32);
# the paper-size rows at batch 64 compare the three policies.
CONFIGURATIONS = (
    {
        "name": "wikipedia preset, wikipedia_classic 128/10-d",
        "preset": "wikipedia",
        "features": "wikipedia_classic",
        "batch_size": 64,
        "replicas": 1,
        "steps": 50,
        "peer": False,
    },
    {
        "name": "reference, wikipedia_classic 128/10-d",
        "preset": "reference",
        "features": "wikipedia_classic",
        "batch_size": 64,
        "replicas": 1,
        "steps": 20,
        "peer": True,
    },
    {
        "name": "reference, wikipedia_classic 128/10-d",
        "preset": "reference",
        "features": "wikipedia_classic",
        "batch_size": 64,
        "replicas": 2,
        "steps": 20,
        "peer": False,
    },
    {
        "name": "reference, synthetic 4096/300-d (the paper's)",
        "preset": "reference",
        "features": [4096, 300],
        "batch_size": 64,
        "replicas": 1,
        "steps": 10,
        "peer": True,
    },
    *(
        {
            "name": f"reference, synthetic 4096/300-d (the paper's), {policy}",
            "preset": "reference",
            "features": [4096, 300],
            "batch_size": 64,
            "replicas": 1,
            "steps": 10,
            "peer": False,
            "mixed_precision": policy,
        }
        for policy in ("mixed_bfloat16", "mixed_float16")
    ),
    {
        "name": "reference, synthetic 4096/300-d (the paper's)",
        "preset": "reference",
        "features": [4096, 300],
        "batch_size": 256,
        "replicas": 1,
        "steps": 5,
        "peer": True,
    },
)

# Toy sizes for `--smoke`: every kind of run (the peer, two replicas, the
# files and synthetic features, a mixed policy), in as few processes as that
# takes.
SMOKE_CONFIGURATIONS = (
    {
        "name": "smoke, wikipedia_classic 128/10-d",
        "preset": "smoke",
        "features": "wikipedia_classic",
        "batch_size": 32,
        "replicas": 1,
        "steps": 2,
        "peer": True,
    },
    {
        "name": "smoke, synthetic 64/16-d, mixed_float16",
        "preset": "smoke",
        "features": [64, 16],
        "batch_size": 32,
        "replicas": 2,
        "steps": 2,
        "peer": False,
        "mixed_precision": "mixed_float16",
    },
)

NUM_SYNTHETIC_CLASSES = 10

# The peer's variants, each one process: its default Adam eagerly, and fused
# Adam eagerly and under torch.compile (both timed by one `--compile` run).
PEER_RUNS = {
    "default": ["--adam", "default"],
    "fused": ["--adam", "fused", "--compile"],
}


def configuration_key(configuration):
    """Returns a short unique name of a configuration, used in results."""
    features = configuration["features"]
    if not isinstance(features, str):
        features = "synthetic_{}x{}".format(*features)
    policy = configuration.get("mixed_precision", "float32")
    return (
        f"{configuration['preset']}/{features}/batch_{configuration['batch_size']}"
        f"/replicas_{configuration['replicas']}"
        + ("" if policy == "float32" else f"/{policy}")
    )


def synthetic_split(image_dim, text_dim, num_pairs, seed=1):
    """Returns feature pairs whose classes can be learnt: class means + noise.

    Args:
        image_dim: Size of the image features.
        text_dim: Size of the text features.
        num_pairs: Pairs in the split.
        seed: Seed of the means, the labels and the noise.

    Returns:
        A `PairedSplit` of `NUM_SYNTHETIC_CLASSES` classes.
    """
    rng = np.random.default_rng(seed)
    classes = rng.integers(NUM_SYNTHETIC_CLASSES, size=num_pairs)
    features = []
    for dim in (image_dim, text_dim):
        means = rng.standard_normal((NUM_SYNTHETIC_CLASSES, dim), np.float32)
        noise = rng.standard_normal((num_pairs, dim), np.float32)
        features.append(means[classes] + noise)
    return PairedSplit(
        images=features[0],
        texts=features[1],
        labels=labels_from_class_ids(classes, NUM_SYNTHETIC_CLASSES),
    )


class _EpochTimer(keras.callbacks.Callback):
    """Records the wall time of each epoch."""

    def on_train_begin(self, logs=None):
        self.seconds = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.seconds.append(time.perf_counter() - self._start)


def measure_training_speed(
    config, train_split, *, jit_compile, strategy, steps=20, repeats=5
):
    """Measures training steps per second on a split of feature pairs.

    Each repeat is one `fit` epoch of `steps` steps, so the figure includes
    Keras' training loop as users run it, with the config's
    `steps_per_execution` as `cmgan-train` applies it. The first epoch, which traces and
    compiles, is a warm-up and not counted.

    Args:
        config: An `ExperimentConfig` (its model, loss and training sections).
        train_split: Training pairs.
        jit_compile: Compile each player's step with XLA.
        strategy: `"default"` (one device) or `"mirrored"`.
        steps: Training steps per repeat.
        repeats: Timed repeats.

    Returns:
        Dict: `steps_per_s` and `pairs_per_s` (medians over repeats),
        `replicas`, `step_ms` (median), and the per-repeat `seconds`.
    """
    from cmgan_tf.data.pipeline import training_dataset
    from cmgan_tf.runs.trainer import steps_per_execution
    from cmgan_tf.training.builder import build_cmgan, build_optimizers
    from cmgan_tf.training.distribution import make_strategy

    keras.utils.set_random_seed(config.training.seed)
    distribution = make_strategy(strategy)
    batches = training_dataset(
        train_split,
        config.training.batch_size,
        config.training.seed,
        num_replicas=distribution.num_replicas_in_sync,
    ).repeat()
    with distribution.scope():
        cmgan = build_cmgan(config, train_split, multi_label=False)
        d_optimizer, g_optimizer = build_optimizers(config.training, steps)
        cmgan.compile(
            d_optimizer=d_optimizer if cmgan.discriminators else None,
            g_optimizer=g_optimizer,
            generator_steps=config.training.generator_steps,
            jit_compile=jit_compile,
            steps_per_execution=steps_per_execution(
                config.runtime.steps_per_execution, steps
            ),
        )
    timer = _EpochTimer()
    cmgan.fit(
        batches,
        epochs=repeats + 1,
        steps_per_epoch=steps,
        callbacks=[timer],
        verbose=0,
    )
    seconds = sorted(timer.seconds[1:])
    median = seconds[len(seconds) // 2]
    return {
        "replicas": distribution.num_replicas_in_sync,
        "steps_per_s": steps / median,
        "pairs_per_s": steps * config.training.batch_size / median,
        "step_ms": 1000 * median / steps,
        "seconds": timer.seconds[1:],
    }


def summarize(configurations, records, sgemm_records):
    """Medians over rounds, XLA speed-ups, shares of the sgemm bound, ratios.

    Args:
        configurations: The configurations that were run.
        records: Dict from `configuration_key` to a dict with `xla` and
            `noxla` lists of our runs' results (each with `step_ms`,
            `pairs_per_s` and `step_flops`), and, where the peer ran, `peer`:
            a list of its JSON lines (each with `eager` and maybe `compiled`
            results holding `ms_per_step`, and its `adam`).
        sgemm_records: List of dicts with `flops_per_s`, one per round.

    Returns:
        Dict with `sgemm_gflops` (a `spread` of GFLOP/s over rounds) and
        `configurations`: a list of dicts with the configuration, `xla` and
        `noxla` summaries (`step_ms` spread, median `pairs_per_s`,
        `sgemm_share`), `xla_speedup`, and with the peer `peer_best`
        (variant, `step_ms` spread, median `pairs_per_s`) and
        `ratio_xla` / `ratio_noxla` (our median pairs/s ÷ the peer's best).
    """
    sgemm = [r["flops_per_s"] for r in sgemm_records]
    sgemm_rate = spread(sgemm)["median"] if sgemm else None
    summaries = []
    for configuration in configurations:
        runs = records[configuration_key(configuration)]
        summary = {"configuration": configuration}
        for mode in ("xla", "noxla"):
            ms = spread(r["step_ms"] for r in runs[mode])
            flops = runs[mode][0]["step_flops"]
            summary[mode] = {
                "step_ms": ms,
                "pairs_per_s": 1000 * configuration["batch_size"] / ms["median"],
                "step_gflops": flops / 1e9,
                "sgemm_share": (
                    flops / (ms["median"] / 1000) / sgemm_rate if sgemm_rate else None
                ),
            }
        summary["xla_speedup"] = (
            summary["noxla"]["step_ms"]["median"] / summary["xla"]["step_ms"]["median"]
        )
        if runs.get("peer"):
            summary["peer"] = peer_variants(runs["peer"])
            best = min(summary["peer"].values(), key=lambda v: v["step_ms"]["median"])
            summary["peer_best"] = best
            for mode in ("xla", "noxla"):
                summary[f"ratio_{mode}"] = (
                    summary[mode]["pairs_per_s"] / best["pairs_per_s"]
                )
        summaries.append(summary)
    return {
        "sgemm_gflops": spread(r / 1e9 for r in sgemm) if sgemm else None,
        "configurations": summaries,
    }


def peer_variants(lines):
    """Groups the peer's JSON lines by variant, with spreads over rounds.

    Args:
        lines: JSON objects printed by `torch_cmgan_step.py`.

    Returns:
        Dict from variant name (`eager`, `fused`, `fused + torch.compile`, ...)
        to a dict with `variant`, `step_ms` (a `spread`) and `pairs_per_s`
        (at the median).
    """
    times = {}
    for line in lines:
        adam = "" if line["adam"] == "default" else f"{line['adam']} Adam"
        eager = adam or "eager"
        times.setdefault(eager, []).append(line["eager"]["ms_per_step"])
        if line.get("compiled"):
            compiled = " + ".join(filter(None, [adam, "torch.compile"]))
            times.setdefault(compiled, []).append(line["compiled"]["ms_per_step"])
    variants = {}
    for name, values in times.items():
        ms = spread(values)
        variants[name] = {
            "variant": name,
            "step_ms": ms,
            "pairs_per_s": 1000 * lines[0]["batch"] / ms["median"],
        }
    return variants
