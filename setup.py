from setuptools import find_packages, setup

CONSOLE_SCRIPTS = {
    "serkit-synth-mini-emo": "synth_mini_emo",
    "serkit-prep-iemocap": "prep_iemocap",
    "serkit-prep-corpus": "prep_corpus",
    "serkit-prep-manifest": "prep_manifest",
    "serkit-combine-data": "combine_data",
    "serkit-validate-data-dir": "validate_data_dir",
    "serkit-make-folds": "make_folds",
    "serkit-dump-feats": "dump_feats",
    "serkit-compute-cmvn": "compute_cmvn",
    "serkit-pretrain": "pretrain",
    "serkit-train": "train",
    "serkit-train-classical": "train_classical",
    "serkit-decode": "decode",
    "serkit-infer": "infer",
    "serkit-score": "score",
    "serkit-fuse": "fuse",
    "serkit-sweep": "sweep",
}

setup(
    name="serkit",
    version="0.1.0",
    description="Speech emotion recognition toolkit: Kaldi/ESPnet-style recipes, multi-task and self-supervised models",
    packages=find_packages(include=["serkit", "serkit.*"]),
    python_requires=">=3.10",
    install_requires=[
        "torch>=2.4",
        "torchaudio>=2.4",
        "soundfile",
        "librosa",
        "sentencepiece",
        "pyyaml",
        "tensorboard",
        "numpy",
        "tqdm",
        "scikit-learn",
        "matplotlib",
    ],
    extras_require={"test": ["pytest"], "mini_emo": ["espeakng-loader"]},
    entry_points={"console_scripts": [f"{name}=serkit.bin.{mod}:cli" for name, mod in CONSOLE_SCRIPTS.items()]},
)
