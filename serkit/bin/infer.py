"""Recognise the emotion of wav files with a trained model; one JSON line per file on stdout.

Usage:
    serkit-infer --exp_dir EXP_DIR [--feat_conf FEATS.yaml] [--cmvn_stats STATS.npz] WAV [WAV ...]

EXP_DIR is a trained fold (``exp/<tag>/fold1``). The feature config and CMVN statistics are
those the model was trained with (found through ``EXP_DIR/run.yaml``) unless given. Audio at any
sample rate is resampled. A model trained with per-speaker CMVN meets an unknown speaker here:
each file is normalised with its own statistics instead. Each line:
``{"wav": ..., "emotion": ..., "probs": {class: p}, "transcript": ...}`` (transcript only for
models with a CTC head). A file that cannot be read gets ``{"wav": ..., "error": ...}`` instead;
the other files are still processed and the exit status is 1 at the end. File names are always
files, never commands (a ``wav.scp`` pipe has no place here).

Example:
    serkit-infer --exp_dir exp/train_w2v2_ctc/fold1 a.wav b.wav
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np
import torch
import yaml

from serkit.bin.common import run_main
from serkit.errors import ConfigError, DataDirError, SerkitError


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--exp_dir", required=True)
    p.add_argument("--feat_conf", default=None, help="feature config (default: the training dump's feats.yaml)")
    p.add_argument("--cmvn_stats", default=None, help="CMVN statistics (default: those of training)")
    p.add_argument("wavs", nargs="+")
    args = p.parse_args()
    logging.getLogger("torchaudio").setLevel(logging.ERROR)
    from serkit.features.cmvn import CMVN
    from serkit.features.extract import FeatureConfig, FeatureExtractor
    from serkit.predict import load_model

    exp = Path(args.exp_dir)
    run_file = exp / "run.yaml"
    run = yaml.safe_load(run_file.read_text()) if run_file.exists() else {}
    feat_conf = args.feat_conf or (str(Path(run["feats"]).parent / "feats.yaml") if run.get("feats") else None)
    if feat_conf is None or not Path(feat_conf).exists():
        raise ConfigError(f"{exp}: the training features' config is not found ({feat_conf}); give --feat_conf")
    with open(feat_conf) as f:
        fcfg = FeatureConfig.from_dict(yaml.safe_load(f))
    extract = FeatureExtractor(fcfg)
    model, cfg, classes = load_model(exp)
    mode = cfg.data.cmvn
    # global: the training statistics; speaker: the speaker is unknown, so CMVN normalises each
    # utterance with its own statistics (called without a speaker)
    cmvn = CMVN((args.cmvn_stats or run.get("cmvn_stats")) if mode == "global" else None, mode)
    names = classes["emotion"]
    failed = 0
    for wav in args.wavs:
        try:
            line = {"wav": wav, **_recognise(wav, extract, fcfg, cmvn, model, names, classes)}
        except SerkitError as e:   # this file's record says why; the others are still processed
            failed += 1
            line = {"wav": wav, "error": str(e)}
            print(f"error: {e}", file=sys.stderr)
        print(json.dumps(line, allow_nan=False), flush=True)
    if failed:
        raise SerkitError(f"{failed} of {len(args.wavs)} files could not be recognised (see their 'error' records)")


def _recognise(wav, extract, fcfg, cmvn, model, names, classes) -> dict:
    from serkit.features.extract import read_audio

    if not Path(wav).is_file():
        raise DataDirError(f"{wav}: no such file")
    try:
        feats = extract(read_audio(wav, fcfg.sample_rate))
    except DataDirError as e:
        raise DataDirError(f"{wav}: {e}" if wav not in str(e) else str(e)) from None
    feats = cmvn(feats)
    x = torch.from_numpy(np.ascontiguousarray(feats, dtype=np.float32))[None]
    if x.size(-1) != model.input_dim:
        raise ConfigError(f"{wav}: features have {x.size(-1)} columns, the model expects {model.input_dim}; "
                          "give the training features' --feat_conf")
    with torch.no_grad():
        out, enc_lengths = model.outputs(x, torch.tensor([x.size(1)]))
    probs = out["emotion"][0].softmax(-1)
    if not torch.isfinite(probs).all():
        raise SerkitError(f"{wav}: the model's outputs are not finite (NaN / inf)")
    line = {"emotion": names[int(probs.argmax())], "probs": {c: round(float(v), 5) for c, v in zip(names, probs)}}
    for k, t in model.head_types.items():   # what the other heads add (a ctc head: the transcript)
        if k != "emotion":
            line.update(t.describe(out[k], enc_lengths, classes[k])[0])
    return line


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
