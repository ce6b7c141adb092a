"""Answers for recipe scripts, so that no shell script pastes a value into Python source.

Usage:
    python -m serkit.bin.query kind CONFIG                         # classical | neural
    python -m serkit.bin.query value CONFIG KEY [--a.b VALUE ...]  # one key of the resolved config (training or pretraining)
    python -m serkit.bin.query folds FOLDS_DIR                     # fold names of protocol.yaml

Every value arrives as an argument (a path with quotes or spaces is just a path). The answer is
one line on stdout; a missing file or key is a one-line error and exit status 1.

Example:
    python -m serkit.bin.query value conf/train.yaml data.cmvn --data.cmvn speaker   # -> speaker
"""
from __future__ import annotations

import sys
from typing import List

from serkit.bin.common import run_main
from serkit.errors import ConfigError, SerkitError


def _value(cfg, key: str):
    from serkit.config import to_dict

    v = to_dict(cfg)
    for part in key.split("."):
        if not isinstance(v, dict) or part not in v:
            raise ConfigError(f"the config has no key '{key}'")
        v = v[part]
    return v


def answer(argv: List[str]) -> str:
    if len(argv) < 2 or argv[0] not in ("kind", "value", "folds"):
        raise SerkitError("usage: python -m serkit.bin.query {kind CONFIG | value CONFIG KEY [overrides] | "
                          "folds FOLDS_DIR}")
    what, target = argv[0], argv[1]
    if what == "folds":
        from serkit.data.folds import read_protocol

        return " ".join(f["name"] for f in read_protocol(target)["folds"])
    # without torch where it can be: recipes ask on every run, and importing torch costs seconds
    from serkit.config import is_classical_config, load_classical_config, load_config

    classical = is_classical_config(target)
    if what == "kind":
        return "classical" if classical else "neural"
    if len(argv) < 3:
        raise SerkitError(f"query {what}: give a key")
    key, overrides = argv[2], argv[3:]
    if classical:
        cfg = load_classical_config(target, overrides)
    elif key.split(".")[:2] in (["model", "encoder_conf"], ["model", "pooling_conf"], ["model", "heads"]):
        from serkit.models.registry import load_train_config   # the components' defaults filled in

        cfg = load_train_config(target, overrides)
    else:
        cfg = load_config(target, overrides)
    return str(_value(cfg, key))


def main() -> None:
    print(answer(sys.argv[1:]))


if __name__ == "__main__":
    run_main(main)
