"""Package a trained fold as one self-contained model file for serkit-infer and the Python API.

Usage:
    serkit-export --exp_dir EXP_DIR --out MODEL.pt [--onnx MODEL.onnx] [--feat_conf FEATS.yaml]
                  [--cmvn_stats STATS.npz]
    serkit-export --exp_dir exp/FUSED/fold1 --out FUSED.pt

The file holds the weights, the resolved config, the classes (and a CTC head's symbols), the
encoder architecture, the feature config and the CMVN statistics, as tensors and plain values
(read with ``torch.load(weights_only=True)``); nothing of the recipe tree is needed to use it.
--onnx also writes the network (features -> emotion posteriors, dynamic batch and time axes) as
ONNX with the feature config, CMVN statistics and classes in its metadata, checked against PyTorch
(max difference 1e-4); serkit-infer --model MODEL.onnx runs it with onnxruntime. Every encoder
exports (blstm, resnet, cnn_blstm_att, fop_transformer, mpc_transformer, pretrained, wav2vec2).

A fold of a classical system (serkit-train-classical: SVM, logistic regression or random forest
on utterance vectors) packs its classifier as arrays (classifier.pt, written at training; never
model.pkl, a pickle, which serkit never loads), the frozen stack it reads if any, and the
training vectors' statistics that a new speaker's vectors are normalised against; it has no
ONNX graph.

A fold of a fused system (serkit-fuse's out_dir/<fold>, fusion.yaml beside it) gives one file
holding each member's package for that fold (networks and classical systems alike) and the
fold's fusion weights (nested fusions flattened, members of weight 0 left out); serkit-infer
averages the members' emotion posteriors with them, as serkit-fuse does. Members are found as
fusion.yaml names them (from the recipe dir, or a dir above the fusion).

Example:
    serkit-export --exp_dir exp/train_resnet_logmel64_sp_loso_seed1/fold1 --out resnet_fold1.pt
    cd /tmp && serkit-infer --model resnet_fold1.pt a.wav long.wav --window 3 --hop 1
    serkit-export --exp_dir exp/train_resnet_logmel64_sp_loso_seeds_fused/fold1 --out resnet_seeds_fold1.pt
    serkit-export --exp_dir exp/fusion_equal_seeds123_speed_all/fold1 --out fusion_fold1.pt
"""
from __future__ import annotations

import argparse
import logging

from serkit.bin.common import run_main, setup_logging
from serkit.errors import ConfigError


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
                                allow_abbrev=False)
    p.add_argument("--exp_dir", required=True, help="a trained fold, e.g. exp/<tag>/fold1")
    p.add_argument("--out", required=True, help="the model file to write")
    p.add_argument("--feat_conf", default=None, help="feature config (default: the training dump's feats.yaml)")
    p.add_argument("--cmvn_stats", default=None, help="global CMVN statistics (default: those of training)")
    p.add_argument("--onnx", default=None, help="also write the network as ONNX here")
    args = p.parse_args()
    setup_logging()
    from serkit.recognizer import export_package, is_fusion_fold

    if args.onnx and is_fusion_fold(args.exp_dir):
        raise ConfigError(f"{args.exp_dir}: a fused system is several networks, so it has no single ONNX "
                          f"graph: export each member's fold with --onnx")
    out = export_package(args.exp_dir, args.out, args.feat_conf, args.cmvn_stats)
    logging.info("wrote %s (%.1f MB) from %s", out, out.stat().st_size / 1e6, args.exp_dir)
    if args.onnx:
        from serkit.recognizer import Recognizer

        onnx = Recognizer.load(out).export_onnx(args.onnx)
        logging.info("wrote %s (%.1f MB), checked against PyTorch", onnx, onnx.stat().st_size / 1e6)


def cli() -> None:
    run_main(main)


if __name__ == "__main__":
    cli()
