r"""Measures training speed and memory, encoding latency, retrieval speed and quality.

Each section runs in its own Python process, because each needs TensorFlow
set up differently before it starts (one thread for the latency figures).
The training section goes further: every configuration, with XLA on and off,
is timed in a fresh process of its own, only the two-replica runs split the
CPU into two logical devices, compared runs alternate round after round
(`--rounds`), and the figures are medians over rounds with their range (see
`cmgan_tf.benchmarks.runner`). A run is refused when the machine is busy
before it starts, unless `--allow_busy`, which flags its figures. With
`--peer_python`, the PyTorch peer of the reference step runs with the same
sizes in the same rounds. Results go to `--results_dir/results.json` and, as
Markdown tables, to `--markdown`.

Example:
    python -m pipelines.benchmark --markdown=BENCHMARKS.md \
        --peer_python=/tmp/torch-venv/bin/python
    python -m pipelines.benchmark --smoke --allow_busy --results_dir=/tmp/bench
"""

import functools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

from absl import app, flags, logging

SECTIONS = ("training", "latency", "retrieval", "quality", "collection", "streaming")

_SECTIONS = flags.DEFINE_list(
    "sections", list(SECTIONS), f"Sections to run, of {', '.join(SECTIONS)}."
)
_RESULTS_DIR = flags.DEFINE_string(
    "results_dir", "benchmark_results", "Where results.json is written."
)
_MARKDOWN = flags.DEFINE_string(
    "markdown", None, "Markdown file to write the tables to (e.g. BENCHMARKS.md)."
)
_SMOKE = flags.DEFINE_bool(
    "smoke", False, "Toy sizes that finish in seconds, to check that it runs."
)
_SEEDS = flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds of the quality runs.")
_GALLERY_SIZES = flags.DEFINE_list(
    "gallery_sizes", ["10000", "100000", "1000000"], "Gallery sizes to search."
)
_EMBED_SIZES = flags.DEFINE_list(
    "embed_sizes",
    ["10000", "100000"],
    "Collection sizes (JPEG files) that cmgan-embed is measured on.",
)
_STREAM_SIZES = flags.DEFINE_list(
    "stream_sizes",
    ["10000", "100000"],
    "Training set sizes (JPEG files) whose peak training memory is measured.",
)
_RETRIEVAL_DIM = flags.DEFINE_integer(
    "retrieval_dim", 128, "Size of the synthetic gallery representations."
)
_REPEATS = flags.DEFINE_integer(
    "repeats",
    5,
    "Timed repeats (epochs) in each process; medians are reported.",
    lower_bound=1,
)
_ROUNDS = flags.DEFINE_integer(
    "rounds",
    3,
    "Training: times each configuration runs, alternating with its peers.",
    lower_bound=1,
)
_MAX_LOAD = flags.DEFINE_float(
    "max_load", 0.5, "Highest 1-minute load average at which the machine is idle."
)
_ALLOW_BUSY = flags.DEFINE_bool(
    "allow_busy",
    False,
    "Run on a busy machine anyway; the figures are flagged as taken on one.",
)
_PEER_PYTHON = flags.DEFINE_string(
    "peer_python",
    None,
    "Python of a venv with torch 2.13: also time the PyTorch peer of the step.",
)
_PEER_SCRIPT = flags.DEFINE_string(
    "peer_script",
    # The peer lives beside the repository, in the project's shared folder.
    os.path.normpath(
        os.path.join(
            os.path.dirname(os.path.abspath(__file__)),
            "..",
            "..",
            "shared",
            "bench",
            "torch_cmgan_step.py",
        )
    ),
    "The PyTorch peer of the training step (torch_cmgan_step.py).",
)
_SECTION_CHILD = flags.DEFINE_string(
    "section_child", None, "Internal: run one section in this process."
)
_TRAINING_CHILD = flags.DEFINE_string(
    "training_child", None, "Internal: time one training run (JSON) in this process."
)
_CHILD_OUTPUT = flags.DEFINE_string(
    "child_output", None, "Internal: where a section process writes its results."
)


def _training_child(spec):
    """Times one training run, or sgemm, and prints its result as JSON."""
    import tensorflow as tf

    if spec["replicas"] > 1 and not tf.config.list_physical_devices("GPU"):
        # Only this run's process splits the CPU: one-replica figures are
        # never taken beside a second logical device.
        tf.config.set_logical_device_configuration(
            tf.config.list_physical_devices("CPU")[0],
            [tf.config.LogicalDeviceConfiguration()] * spec["replicas"],
        )
    from cmgan_tf.benchmarks import flops

    if spec["kind"] == "sgemm":
        result = {"flops_per_s": flops.sgemm_flops_per_second(tf)}
    else:
        from cmgan_tf.benchmarks import training_speed
        from cmgan_tf.data.registry import load_dataset
        from cmgan_tf.presets import preset

        config = preset(spec["preset"]).replace(
            training={
                "batch_size": spec["batch_size"],
                "mixed_precision": spec.get("mixed_precision", "float32"),
            }
        )
        if "steps_per_execution" in spec:
            config = config.replace(
                runtime={"steps_per_execution": spec["steps_per_execution"]}
            )
        if spec["features"] == "wikipedia_classic":
            split = load_dataset("wikipedia_classic").train
        else:
            split = training_speed.synthetic_split(
                *spec["features"], num_pairs=max(8 * spec["batch_size"], 512)
            )
        result = training_speed.measure_training_speed(
            config,
            split,
            jit_compile=spec["jit_compile"],
            strategy="mirrored" if spec["replicas"] > 1 else "default",
            steps=spec["steps"],
            repeats=spec["repeats"],
        )
        result["step_flops"] = flops.training_step_flops(
            config,
            split.images.shape[1],
            split.texts.shape[1],
            split.num_classes,
            spec["batch_size"],
        )
    result["logical_cpus"] = len(tf.config.list_logical_devices("CPU"))
    print(json.dumps(result), flush=True)


def _training_argv(kind, configuration, option, repeats):
    """Returns the command of one timed training process."""
    from cmgan_tf.benchmarks.training_speed import PEER_RUNS

    if kind == "peer":
        features = configuration["features"]
        dims = (128, 10) if features == "wikipedia_classic" else features
        return [
            _PEER_PYTHON.value,
            _PEER_SCRIPT.value,
            f"--img_dim={dims[0]}",
            f"--txt_dim={dims[1]}",
            "--num_classes=10",
            f"--batch={configuration['batch_size']}",
            f"--steps={configuration['steps']}",
            f"--warmup={1 if _SMOKE.value else 3}",
            f"--repeats={repeats}",
            *PEER_RUNS[option],
        ]
    spec = {"kind": kind, "replicas": 1}
    if kind == "ours":
        spec.update(configuration, jit_compile=option, repeats=repeats)
    return [
        sys.executable,
        "-m",
        "pipelines.benchmark",
        f"--training_child={json.dumps(spec)}",
    ]


def _training_section():
    """Times every training configuration, each run in a process of its own."""
    from cmgan_tf.benchmarks import runner, training_speed

    configurations = (
        training_speed.SMOKE_CONFIGURATIONS
        if _SMOKE.value
        else training_speed.CONFIGURATIONS
    )
    repeats = 1 if _SMOKE.value else _REPEATS.value
    groups = []
    for configuration in configurations:
        group = [("ours", configuration, True), ("ours", configuration, False)]
        if configuration["peer"] and _PEER_PYTHON.value:
            group += [("peer", configuration, v) for v in training_speed.PEER_RUNS]
        groups.append(group)
    groups.append([("sgemm", None, None)])
    records = {
        training_speed.configuration_key(c): {"xla": [], "noxla": [], "peer": []}
        for c in configurations
    }
    sgemm, loads = [], []
    for round_, (kind, configuration, option) in runner.alternated(
        groups, _ROUNDS.value
    ):
        logging.info(
            "Round %d: %s %s %s.",
            round_,
            kind,
            configuration and configuration["name"],
            option,
        )
        record = runner.run_json_process(
            _training_argv(kind, configuration, option, repeats)
        )
        record["round"] = round_
        loads.append({k: record[k] for k in ("load_before", "load_after")})
        if kind == "sgemm":
            sgemm.append(record)
            continue
        runs = records[training_speed.configuration_key(configuration)]
        if kind == "peer":
            runs["peer"].append(record)
        else:
            runs["xla" if option else "noxla"].append(record)
    return {
        "runs": records,
        "sgemm": sgemm,
        "loads": loads,
        "summary": training_speed.summarize(configurations, records, sgemm),
    }


def _latency_section():
    import numpy as np

    from cmgan_tf.benchmarks import latency
    from cmgan_tf.data.dataset import CrossModalDataset
    from cmgan_tf.data.demo import CLASS_NAMES, generate_shapes_split
    from cmgan_tf.data.registry import load_dataset
    from cmgan_tf.models.encoder import CrossModalEncoder
    from cmgan_tf.presets import preset
    from cmgan_tf.training.builder import build_cmgan, build_text_vectorizer

    shapes_pairs = 64 if _SMOKE.value else 512
    datasets = {
        "wikipedia (features)": (
            preset("wikipedia"),
            load_dataset("wikipedia_classic"),
        ),
        "shapes (pixels, captions)": (
            preset("shapes"),
            CrossModalDataset(
                "shapes",
                generate_shapes_split(shapes_pairs, seed=1),
                generate_shapes_split(64, seed=2),
                multi_label=False,
                class_names=CLASS_NAMES,
            ),
        ),
    }
    repeats = 5 if _SMOKE.value else 200
    batch_size = 64
    results = {}
    with tempfile.TemporaryDirectory() as root:
        for name, (config, dataset) in datasets.items():
            vectorizer = build_text_vectorizer(config, dataset.train)
            cmgan = build_cmgan(config, dataset.train, False, vectorizer)
            # Latency does not depend on the weights' values: untrained will do.
            encoder = CrossModalEncoder.from_generator(
                cmgan.generator,
                dataset.train.images,
                np.asarray(dataset.train.texts),
                representation=config.model.representation,
                temperature=config.model.temperature,
                class_weight=config.model.class_weight,
                text_vectorizer=vectorizer,
            )
            export = os.path.join(root, name.split()[0])
            entries = []
            for modality in ("image", "text"):
                single = latency.sample_inputs(dataset.test, modality, 1)
                batch = latency.sample_inputs(dataset.test, modality, batch_size)
                saved_model_latency = functools.partial(
                    latency.saved_model_latency, path=export
                )
                for runtime, measure in (
                    ("Keras (tf.function)", latency.keras_encoder_latency),
                    ("SavedModel", saved_model_latency),
                ):
                    one = measure(encoder, single, modality, repeats=repeats)
                    many = measure(encoder, batch, modality, repeats=repeats // 10 + 1)
                    entries.append(
                        {
                            "modality": modality,
                            "runtime": runtime,
                            "single_ms": 1000 * one["median_s"],
                            "batched_ms_per_query": 1000
                            * many["median_s"]
                            / batch_size,
                        }
                    )
            entries += _tflite_latencies(
                encoder,
                dataset,
                os.path.join(root, f"{name.split()[0]}_tflite"),
                batch_size,
                repeats,
            )
            results[name] = entries
    return results


def _tflite_latencies(encoder, dataset, directory, batch_size, repeats):
    import numpy as np

    from cmgan_tf.benchmarks import latency
    from cmgan_tf.serving import tflite

    manifest = tflite.export_tflite(
        encoder,
        directory,
        representative_inputs={
            "image": dataset.train.images,
            "text": dataset.train.texts,
        },
    )
    entries = []
    for name, info in manifest.items():
        modality = info["modality"]
        single = latency.sample_inputs(dataset.test, modality, 1)
        batch = latency.sample_inputs(dataset.test, modality, batch_size)
        if info["input"]["dtype"] == "int32":
            single = np.asarray(encoder.tokenize(single))
            batch = np.asarray(encoder.tokenize(batch))
        path = os.path.join(directory, name)
        one = latency.tflite_latency(path, single, repeats=repeats)
        many = latency.tflite_latency(path, batch, repeats=repeats // 10 + 1)
        entries.append(
            {
                "modality": modality,
                "runtime": f"TFLite {info['variant']} (LiteRT)",
                "single_ms": 1000 * one["median_s"],
                "batched_ms_per_query": 1000 * many["median_s"] / batch_size,
                "size_kb": f"{info['bytes'] / 1024:.0f}",
            }
        )
    return entries


def _retrieval_section():
    from cmgan_tf.benchmarks.retrieval_speed import measure_retrieval

    sizes = (1000, 5000) if _SMOKE.value else tuple(map(int, _GALLERY_SIZES.value))
    return [
        measure_retrieval(size, _RETRIEVAL_DIM.value, repeats=_REPEATS.value)
        for size in sizes
    ]


def _quality_section():
    from cmgan_tf.benchmarks import quality
    from cmgan_tf.data.registry import load_dataset
    from cmgan_tf.presets import command_line_flags, preset

    dataset = load_dataset("wikipedia_classic")
    seeds = [int(s) for s in _SEEDS.value][: 1 if _SMOKE.value else None]
    features = preset("features")
    # The ablations and dtype policies change one member trained without
    # --refit, against which they are compared; an ensemble of each would
    # take three times as long, and refitting each twice.
    single = features.replace(training={"ensemble_size": 1, "refit": False})
    variants = [("features", features), ("features", single)]
    if not _SMOKE.value:
        variants += [("features", single.replace(**a)) for a in quality.ABLATIONS]
    variants += [
        ("features", single.replace(training={"mixed_precision": policy}))
        for policy in quality.PRECISION_POLICIES
    ]
    variants.append(("wikipedia", preset("wikipedia")))
    if _SMOKE.value:
        # The smoke run checks the section's plumbing, not the scores.
        variants = [
            (
                name,
                config.replace(
                    training={
                        "epochs": 3,
                        "ensemble_size": min(config.training.ensemble_size, 2),
                    },
                    runtime={"jit_compile": False},
                ),
            )
            for name, config in variants
        ]
    rows = []
    for name, config in variants:
        flags = command_line_flags(config, name)
        logging.info("Quality: %s, seeds %s.", flags, seeds)
        scores = quality.cmgan_scores(config, seeds, dataset)
        rows += [
            {"configuration": flags, "ranks": representation, **summary}
            for representation, summary in scores.items()
        ]
    return {
        "cmgan": rows,
        "baselines": {
            "CCA": quality.cca_scores(dataset.train, dataset.test, features.data),
            "Semantic matching": quality.semantic_matching_scores(
                dataset.train, dataset.test, features.data
            ),
        },
    }


def _collection_section():
    from cmgan_tf.benchmarks import collection_speed
    from cmgan_tf.data.dataset import CrossModalDataset
    from cmgan_tf.data.demo import CLASS_NAMES, generate_shapes_split
    from cmgan_tf.presets import preset
    from cmgan_tf.runs.model_dir import load_run
    from cmgan_tf.runs.trainer import train

    search_sizes = (2000,) if _SMOKE.value else tuple(map(int, _GALLERY_SIZES.value))
    embed_sizes = (32, 64) if _SMOKE.value else tuple(map(int, _EMBED_SIZES.value))
    with tempfile.TemporaryDirectory() as root:
        # Search and embedding speed do not depend on how well, or how fast,
        # the model was trained: one epoch, without compiling the steps.
        config = preset("shapes").replace(
            training={"epochs": 1},
            runtime={
                "model_dir": os.path.join(root, "run"),
                "verbose": 0,
                "jit_compile": False,
            },
        )
        dataset = None
        if _SMOKE.value:
            config = config.replace(
                model={"image_filters": (8,), "vocabulary_size": 60}
            )
            dataset = CrossModalDataset(
                "shapes",
                generate_shapes_split(128, image_size=16, seed=1),
                generate_shapes_split(32, image_size=16, seed=2),
                multi_label=False,
                class_names=CLASS_NAMES,
            )
        train(config, dataset=dataset)
        encoder = load_run(config.runtime.model_dir)[1]
        return {
            "embedding": collection_speed.measure_embedding(
                config.runtime.model_dir, root, embed_sizes
            ),
            "search": [
                collection_speed.measure_search(
                    size, _RETRIEVAL_DIM.value, repeats=_REPEATS.value
                )
                for size in search_sizes
            ],
            "tflite_retrieval": collection_speed.measure_tflite_retrieval(
                encoder,
                list(generate_shapes_split(4, seed=3).texts),
                root,
                500 if _SMOKE.value else 10000,
                repeats=5 if _SMOKE.value else 200,
            ),
        }


def _streaming_section():
    from cmgan_tf.benchmarks import training_memory

    sizes = (300, 600) if _SMOKE.value else tuple(map(int, _STREAM_SIZES.value))
    with tempfile.TemporaryDirectory() as root:
        return training_memory.measure_training_memory(
            root,
            sizes,
            image_size=16 if _SMOKE.value else 32,
            batch_size=32 if _SMOKE.value else 256,
        )


_RUNNERS = {
    "latency": _latency_section,
    "retrieval": _retrieval_section,
    "quality": _quality_section,
    "collection": _collection_section,
    "streaming": _streaming_section,
}


def _set_up_tensorflow(section):
    """Configures TensorFlow before its runtime starts, as a section needs."""
    import tensorflow as tf

    if section == "latency":
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)


def _run_child(section, output):
    _set_up_tensorflow(section)
    start = time.perf_counter()
    results = _RUNNERS[section]()
    with open(output, "w") as handle:
        json.dump({"seconds": time.perf_counter() - start, "results": results}, handle)


def _machine():
    import tensorflow as tf

    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
        "tensorflow": tf.__version__,
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
    }


def _markdown(results, command):
    from cmgan_tf.benchmarks import report

    tables = {
        "training": (
            "Training speed (`train_step`, one process per run)",
            report.training_table,
        ),
        "latency": ("Encoding latency (one thread)", report.latency_table),
        "retrieval": (
            f"Exact top-10 retrieval ({_RETRIEVAL_DIM.value}-d, 64 queries per call)",
            report.retrieval_table,
        ),
        "quality": (
            "Retrieval quality (wikipedia_classic: MAP@all and recall of the partner)",
            report.quality_table,
        ),
        "collection": (
            "Searching your own collection (cmgan-embed, cmgan-search, TFLite)",
            report.collection_tables,
        ),
        "streaming": (
            "Training memory on image files (cmgan-train, peak RSS)",
            report.streaming_table,
        ),
    }
    machine = results["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Command: `{command}`",
        "",
        f"Machine: {machine['cpus']} CPUs ({machine['processor']}), "
        f"{', '.join(machine['gpus']) or 'no GPU'}, "
        f"TensorFlow {machine['tensorflow']}.",
    ]
    load = results["load"]
    if load["busy"]:
        lines += [
            "",
            "**Taken on a busy machine** (1-minute load average "
            f"{load['load_before']:.2f} before the run, above {load['max_load']}; "
            "`--allow_busy`): other jobs "
            "shared the cores, so these timings are not figures of this code.",
        ]
    for section, (title, render) in tables.items():
        if section in results["sections"]:
            seconds = results["sections"][section]["seconds"]
            lines += ["", f"## {title}", "", f"({seconds:.0f} s)", ""]
            lines.append(render(results["sections"][section]["results"]))
    return "\n".join(lines) + "\n"


def _check_peer():
    for name, path in (
        ("peer_python", _PEER_PYTHON.value),
        ("peer_script", _PEER_SCRIPT.value),
    ):
        if not os.path.isfile(path):
            sys.exit(
                f"benchmark: error: --{name}={path} is not a file; pass the Python "
                "of a venv with torch 2.13 and the path of torch_cmgan_step.py."
            )


def main(argv):
    """Runs the command; `argv` holds what absl did not parse as flags."""
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    if _TRAINING_CHILD.value:
        _training_child(json.loads(_TRAINING_CHILD.value))
        return
    if _SECTION_CHILD.value:
        _run_child(_SECTION_CHILD.value, _CHILD_OUTPUT.value)
        return
    from cmgan_tf.benchmarks.runner import check_idle
    from cmgan_tf.errors import InvalidInputError

    unknown = set(_SECTIONS.value) - set(SECTIONS)
    if unknown:
        sys.exit(
            f"benchmark: error: unknown sections {sorted(unknown)}; "
            f"known: {', '.join(SECTIONS)}."
        )
    if _PEER_PYTHON.value:
        _check_peer()
    try:
        load = check_idle(_MAX_LOAD.value, allow_busy=_ALLOW_BUSY.value)
    except InvalidInputError as error:
        sys.exit(f"benchmark: error: {error}")
    os.makedirs(_RESULTS_DIR.value, exist_ok=True)
    command = " ".join(["python -m pipelines.benchmark", *sys.argv[1:]])
    results = {
        "command": command,
        "machine": _machine(),
        "load": {**load, "max_load": _MAX_LOAD.value},
        "sections": {},
    }
    passed = [a for a in sys.argv[1:] if not a.startswith("--sections")]
    for section in _SECTIONS.value:
        logging.info("Running the %s section.", section)
        if section == "training":
            start = time.perf_counter()
            try:
                training = _training_section()
            except RuntimeError as error:
                logging.error("%s", error)
                sys.exit(
                    "benchmark: error: a timed training process failed: "
                    f"{str(error).splitlines()[0]} (its error output is above)"
                )
            results["sections"][section] = {
                "seconds": time.perf_counter() - start,
                "results": training,
            }
            continue
        output = os.path.join(_RESULTS_DIR.value, f"{section}.json")
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pipelines.benchmark",
                *passed,
                f"--section_child={section}",
                f"--child_output={output}",
            ],
            check=True,
        )
        with open(output) as handle:
            results["sections"][section] = json.load(handle)
        os.remove(output)
    with open(os.path.join(_RESULTS_DIR.value, "results.json"), "w") as handle:
        json.dump(results, handle, indent=2)
    text = _markdown(results, command)
    print(text)
    if _MARKDOWN.value:
        with open(_MARKDOWN.value, "w") as handle:
            handle.write(text)


def run():
    """Console-script entry point."""
    app.run(main)


if __name__ == "__main__":
    run()
