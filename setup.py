"""Packaging for cmgan_tf: the library, its command lines and entry points."""

import setuptools

setuptools.setup(
    name="cmgan_tf",
    version="0.1.0",
    description=(
        "CM-GANs (cross-modal generative adversarial networks) for image-text "
        "retrieval in TensorFlow/Keras"
    ),
    # TensorFlow 2.21 has wheels for 3.10 to 3.13, Keras 3.15 needs 3.11.
    python_requires=">=3.11,<3.14",
    packages=setuptools.find_packages(include=["cmgan_tf*", "pipelines*", "export*"]),
    package_data={"cmgan_tf.data": ["resources/*/*.mat", "resources/*/*.md"]},
    install_requires=[
        "tensorflow==2.21.*",
        "keras>=3.15,<4",
        "tensorboard>=2.20",
        "tensorflow-datasets>=4.9.10",
        # tensorflow-datasets imports it to build a dataset but does not
        # declare it (4.9.10).
        "importlib_resources>=6",
        "numpy>=1.26",
        "scipy>=1.11",
        # MATLAB v7.3 .mat files and the SDML / MRL .h5py files are HDF5.
        "h5py>=3.10",
        "absl-py>=2.1",
        # The evaluation's figures and retrieval grids (Agg canvas, headless).
        "matplotlib>=3.8",
        # --config_file in YAML.
        "pyyaml>=6",
        # The LiteRT runtime of the TFLite encoders (tf.lite.Interpreter is
        # deprecated).
        "ai-edge-litert>=2.3,<3",
        # TF Serving's protos, for the warm-up requests every SavedModel
        # export writes (also the "serving" extra, for the gRPC client).
        "tensorflow-serving-api==2.21.*",
    ],
    extras_require={
        # NVIDIA GPUs on Linux: TensorFlow with the CUDA and cuDNN libraries
        # it was built against, as pip packages.
        "and-cuda": ["tensorflow[and-cuda]==2.21.*"],
        # The gRPC client of cmgan_tf.serving.client.
        "serving": ["tensorflow-serving-api==2.21.*"],
        # The CCA and semantic-matching baselines of pipelines/benchmark.py.
        "benchmark": ["scikit-learn>=1.5"],
        # The approximate index of cmgan-embed --ann / cmgan-search --backend=faiss.
        "ann": ["faiss-cpu>=1.9"],
        "test": [
            "pytest>=8",
            "pytest-xdist>=3.5",
            "ruff>=0.6",
            "tensorflow-serving-api==2.21.*",
            "scikit-learn>=1.5",
            "faiss-cpu>=1.9",
        ],
    },
    entry_points={
        "console_scripts": [
            "cmgan-train=pipelines.train:run",
            "cmgan-evaluate=pipelines.evaluate:run",
            "cmgan-export=export.export:run",
            "cmgan-embed=pipelines.embed:run",
            "cmgan-search=pipelines.search:run",
        ]
    },
)
