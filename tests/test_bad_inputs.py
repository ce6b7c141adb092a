"""Bad input across the binaries and the recipe stages: for each case, the exit status and a
message that names the culprit (file, line, id); never code run from data, never a silent
wrong result, never a bare traceback."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile
import torch
import yaml

from conftest import copy_recipe
from serkit.models.registry import load_train_config
from serkit.features.storage import FeatReader, write_shard
from serkit.train.trainer import RunPaths, Trainer


def run(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", *map(str, args)], capture_output=True, text=True, cwd=cwd)


def one_error_line(r) -> str:
    """The binary failed with exactly one 'error: ...' line and no traceback."""
    assert r.returncode == 1, (r.returncode, r.stderr[-2000:])
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
    errors = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, r.stderr[-2000:]
    return errors[0]


def tone(seconds=1.0, sr=16000, f=220.0):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32)


@pytest.fixture(scope="module")
def model(mini_corpus, tmp_path_factory):
    """A tiny BLSTM trained for one epoch on mini_emo fold1 (global CMVN)."""
    from serkit.data.datadir import DataDir
    from serkit.features.cmvn import compute_cmvn

    fold = mini_corpus["folds"] / "fold1"
    stats = tmp_path_factory.mktemp("cmvn") / "cmvn.npz"
    compute_cmvn(FeatReader(mini_corpus["feats"]), DataDir.load(fold / "train").utts, stats)
    exp = tmp_path_factory.mktemp("exp") / "fold1"
    cfg = load_train_config(None, ["--model.encoder_conf.hidden", "16", "--model.pooling", "mean",
                             "--train.max_epochs", "1", "--data.batch_size", "16"])
    Trainer(cfg, RunPaths(str(fold / "train"), str(fold / "valid"), str(mini_corpus["feats"]), str(stats),
                          str(exp))).run()
    return {"exp": exp, "fold": fold, "stats": stats, "feats": mini_corpus["feats"]}


def decode_args(model, feats=None, stats=None):
    return ["serkit.bin.decode", "--exp_dir", model["exp"], "--feats", feats or model["feats"],
            "--cmvn_stats", stats or model["stats"], "--data", model["fold"] / "test", "--name", "test"]


# ---------------------------------------------------------------- security: no code from data
class RunsCode:
    """Unpickling this calls os.system: what a crafted checkpoint would do."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_crafted_checkpoint_is_refused_not_run(model, tmp_path):
    exp = tmp_path / "exp"
    shutil.copytree(model["exp"], exp)
    marker = tmp_path / "ran"
    best = exp / "checkpoints" / "best.pt"
    torch.save({"model": RunsCode(marker), "config": {}}, best)
    line = one_error_line(run(*decode_args({**model, "exp": exp})))
    assert f"refusing checkpoint {best}" in line
    r = run("serkit.bin.infer", "--exp_dir", exp, model["exp"] / "nothing.wav")
    assert f"refusing checkpoint {best}" in one_error_line(r)
    assert not marker.exists()


def test_infer_reads_file_names_as_files_never_as_commands(model, tmp_path):
    marker = tmp_path / "ran"
    good = tmp_path / "x |"   # a real file whose name ends like a Kaldi pipe
    soundfile.write(str(good), tone(), 16000, format="WAV")
    r = run("serkit.bin.infer", "--exp_dir", model["exp"], f"touch {marker} |", good)
    assert not marker.exists()
    records = [json.loads(line) for line in r.stdout.splitlines()]   # valid JSON, one record per file
    assert [rec["wav"] for rec in records] == [f"touch {marker} |", str(good)]
    assert "no such file" in records[0]["error"] and "emotion" in records[1]
    assert r.returncode == 1 and "1 of 2 files could not be recognised" in r.stderr


def test_recipe_config_path_with_quotes_is_not_run(recipe_copy):
    recipe = recipe_copy("mini_emo")
    evil = "x'); __import__('os').system('touch RAN'); ('.yaml"
    shutil.copy(recipe / "conf" / "train_blstm.yaml", recipe / "conf" / evil)
    r = subprocess.run(["./run.sh", "--stage", "5", "--train_config", f"conf/{evil}"], cwd=recipe,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "finished stages 5..4" in r.stderr
    assert not (recipe / "RAN").exists()


# ---------------------------------------------------------------- silent wrong results
def make_data_dir(root: Path, wavs: dict, emotions=("ang", "neu")) -> Path:
    d = root / "data"
    d.mkdir(parents=True)
    utts = sorted(wavs)
    (d / "wav.scp").write_text("".join(f"{u} {wavs[u]}\n" for u in utts))
    (d / "utt2spk").write_text("".join(f"{u} {u.split('-')[0]}\n" for u in utts))
    (d / "spk2utt").write_text("".join(f"{s} {' '.join(u for u in utts if u.startswith(s + '-'))}\n"
                                       for s in sorted({u.split('-')[0] for u in utts})))
    (d / "utt2emo").write_text("".join(f"{u} {emotions[i % len(emotions)]}\n" for i, u in enumerate(utts)))
    return d


def test_nonfinite_audio_fails_the_dump_naming_the_utterance(tmp_path):
    x = tone()
    x[100] = np.nan
    soundfile.write(str(tmp_path / "nan.wav"), x, 16000, subtype="FLOAT")
    soundfile.write(str(tmp_path / "ok.wav"), tone(), 16000)
    d = make_data_dir(tmp_path, {"s1-a": tmp_path / "ok.wav", "s1-b": tmp_path / "nan.wav"})
    conf = tmp_path / "feats.yaml"
    conf.write_text("type: mfcc\n")
    line = one_error_line(run("serkit.bin.dump_feats", "--feat_conf", conf, d, tmp_path / "dump"))
    assert f"{d}/wav.scp: utterance 's1-b'" in line and "1 non-finite (NaN / inf) samples" in line
    assert not (tmp_path / "dump" / "feats.scp").exists()


def test_truncated_and_too_short_audio_fail_the_dump(tmp_path):
    soundfile.write(str(tmp_path / "full.wav"), tone(), 16000, subtype="PCM_16")
    raw = (tmp_path / "full.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(raw[: len(raw) // 2])
    soundfile.write(str(tmp_path / "short.wav"), tone()[:200], 16000)
    conf = tmp_path / "feats.yaml"
    conf.write_text("type: logmel\nn_mels: 40\n")
    d = make_data_dir(tmp_path / "a", {"s1-a": tmp_path / "full.wav", "s1-b": tmp_path / "cut.wav"})
    line = one_error_line(run("serkit.bin.dump_feats", "--feat_conf", conf, d, tmp_path / "dump_a"))
    assert "utterance 's1-b'" in line and "cut.wav' is truncated" in line
    d = make_data_dir(tmp_path / "b", {"s1-a": tmp_path / "full.wav", "s1-b": tmp_path / "short.wav"})
    line = one_error_line(run("serkit.bin.dump_feats", "--feat_conf", conf, d, tmp_path / "dump_b"))
    assert "utterance 's1-b'" in line and "200 samples is shorter than one analysis window" in line


def nan_dump(mini_corpus, fold, out: Path) -> Path:
    """The fold's train and valid utterances with every feature NaN (a broken dump from elsewhere)."""
    from serkit.data.datadir import DataDir

    reader = FeatReader(mini_corpus["feats"])
    utts = DataDir.load(fold / "train").utts + DataDir.load(fold / "valid").utts
    out.mkdir()
    write_shard(out, "0000", ((u, np.full_like(reader[u], np.nan)) for u in utts))
    os.replace(out / "feats.0000.scp", out / "feats.scp")
    return out / "feats.scp"


def test_nonfinite_features_stop_cmvn_and_training(mini_corpus, tmp_path):
    fold = mini_corpus["folds"] / "fold1"
    feats = nan_dump(mini_corpus, fold, tmp_path / "dump")
    line = one_error_line(run("serkit.bin.compute_cmvn", "--mode", "global", "--feats", feats,
                              "--data", fold / "train", "--out", tmp_path / "cmvn.npz"))
    assert "CMVN: utterance '" in line and "non-finite (NaN / inf) features" in line
    assert not (tmp_path / "cmvn.npz").exists()
    r = run("serkit.bin.train", "--train_data", fold / "train", "--valid_data", fold / "valid", "--feats", feats,
            "--exp_dir", tmp_path / "exp", "--data.cmvn", "none", "--data.batch_size", "4",
            "--model.encoder_conf.hidden", "8", "--train.max_epochs", "3")
    line = one_error_line(r)
    assert "the training loss was non-finite for 5 steps in a row (epoch 1" in line
    assert not (tmp_path / "exp" / "checkpoints" / "best.pt").exists()


def test_infer_never_prints_nan(model, tmp_path):
    exp = tmp_path / "exp"
    shutil.copytree(model["exp"], exp)
    ck = torch.load(exp / "checkpoints" / "best.pt", weights_only=True)
    for k, v in ck["model"].items():
        if v.is_floating_point():
            v.fill_(float("nan"))
    torch.save(ck, exp / "checkpoints" / "best.pt")
    soundfile.write(str(tmp_path / "a.wav"), tone(), 16000)
    soundfile.write(str(tmp_path / "b.wav"), tone()[:8000], 16000)
    r = run("serkit.bin.infer", "--exp_dir", exp, tmp_path / "a.wav", tmp_path / "b.wav")
    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    # the two files went through the model as one batch; the error record still names each file
    recs = [json.loads(line, parse_constant=refuse) for line in r.stdout.splitlines()]
    assert [x["wav"] for x in recs] == [str(tmp_path / "a.wav"), str(tmp_path / "b.wav")]
    assert all("outputs are not finite" in x["error"] for x in recs) and r.returncode == 1
    assert "2 of 2 files could not be recognised" in r.stderr


def test_unknown_emotion_label_is_refused(tmp_path):
    soundfile.write(str(tmp_path / "a.wav"), tone(), 16000)
    d = make_data_dir(tmp_path, {"s1-a": tmp_path / "a.wav", "s1-b": tmp_path / "a.wav"},
                      emotions=("ang", "angre"))
    line = one_error_line_or_report(run("serkit.bin.validate_data_dir", "--require_declared", d))
    assert f"{d}/emotions: missing" in line
    (d / "emotions").write_text("ang\nneu\n")
    line = one_error_line_or_report(run("serkit.bin.validate_data_dir", "--require_declared", d))
    assert f"{d}/utt2emo:2: utterance 's1-b' has label 'angre', not in the set declared in {d}/emotions" in line


def one_error_line_or_report(r) -> str:
    """The validator prints every problem, one per line: here exactly one."""
    assert r.returncode == 1 and "Traceback" not in r.stderr, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_score_refuses_predictions_that_miss_test_utterances(model, tmp_path):
    exp = tmp_path / "exp"
    shutil.copytree(model["exp"], exp / "fold1")
    r = run(*decode_args({**model, "exp": exp / "fold1"}))
    assert r.returncode == 0, r.stderr
    pred = exp / "fold1" / "predictions" / "test.tsv"
    lines = pred.read_text().splitlines()
    pred.write_text("\n".join(lines[:-2]) + "\n")   # a decode cut short
    folds = model["fold"].parent
    line = one_error_line(run("serkit.bin.score", "--exp_dir", exp, "--folds_dir", folds, "--folds", "fold1"))
    assert f"{pred}: 2 of the {len(lines) - 1} utterances of {folds}/fold1/test have no prediction" in line
    pred.write_text("\n".join(lines + [lines[1]]) + "\n")
    line = one_error_line(run("serkit.bin.score", "--exp_dir", exp, "--folds_dir", folds, "--folds", "fold1"))
    assert "1 utterance(s) predicted more than once" in line


def test_fix_reports_conflicting_duplicates_and_changes_nothing(tmp_path):
    soundfile.write(str(tmp_path / "a.wav"), tone(), 16000)
    d = make_data_dir(tmp_path, {"s1-a": tmp_path / "a.wav", "s1-b": tmp_path / "a.wav"})
    (d / "utt2emo").write_text("s1-a ang\ns1-b neu\ns1-a sad\n")
    before = {p.name: p.read_bytes() for p in d.iterdir()}
    line = one_error_line(run("serkit.bin.validate_data_dir", "--fix", d))
    assert f"{d}/utt2emo:3: id 's1-a' is repeated with another value ('sad' here, 'ang' on line 1)" in line
    assert {p.name: p.read_bytes() for p in d.iterdir()} == before
    (d / "utt2emo").write_text("s1-a ang\ns1-b neu\ns1-a ang\n")   # an exact repeat is merged
    r = run("serkit.bin.validate_data_dir", "--fix", d)
    assert r.returncode == 0, r.stderr
    assert (d / "utt2emo").read_text() == "s1-a ang\ns1-b neu\n"


@pytest.mark.parametrize("override, culprit", [
    (["--data.batch_size", "0"], "'data.batch_size' is 0; give a value >= 1"),
    (["--optim.lr", "-0.001"], "'optim.lr' is -0.001; give a value >= 1e-12"),
    (["--model.heads.emotion.dropout", "1.5"], "'model.heads.emotion.dropout' is 1.5; give a value in [0, 1)"),
    (["--model.encoder_conf.dropout", "-0.2"], "'model.encoder_conf.dropout' is -0.2; give a value in [0, 1)"),
    (["--model.encoder_conf.hidden", "abc"], "'model.encoder_conf.hidden' expects int, got 'abc'"),
    (["--model.encoder", "resnet", "--model.encoder_conf.channels", "[8, x]"],
     "'model.encoder_conf.channels[1]' expects int, got 'x'"),
])
def test_config_values_are_checked(override, culprit):
    line = one_error_line(run("serkit.bin.train", "--print_config", *override))
    assert line == f"error: {culprit}"


# ---------------------------------------------------------------- clear errors, not tracebacks
def test_non_utf8_data_dir_file(tmp_path):
    soundfile.write(str(tmp_path / "a.wav"), tone(), 16000)
    d = make_data_dir(tmp_path, {"s1-a": tmp_path / "a.wav", "s1-b": tmp_path / "a.wav"})
    (d / "utt2emo").write_bytes(b"s1-a ang\ns1-b n\xe9u\n")
    line = one_error_line_or_report(run("serkit.bin.validate_data_dir", d))
    assert line == f"{d}/utt2emo:2: not UTF-8 text (byte 0xe9 at column 7)"
    line = one_error_line(run("serkit.bin.make_folds", "--protocol", "loso", d, tmp_path / "folds"))
    assert f"{d}/utt2emo:2: not UTF-8 text" in line


def test_missing_cmvn_stats_and_feature_dim_mismatch(model, mini_corpus, tmp_path):
    missing = tmp_path / "nope.npz"
    line = one_error_line(run(*decode_args(model, stats=missing)))
    assert f"CMVN statistics not found: {missing}" in line
    other = tmp_path / "dump"   # the same utterances with 3 columns fewer
    reader = FeatReader(model["feats"])
    other.mkdir()
    write_shard(other, "0000", ((u, reader[u][:, :-3]) for u in reader.index))
    os.replace(other / "feats.0000.scp", other / "feats.scp")
    line = one_error_line(run(*decode_args(model, feats=other / "feats.scp")))
    dim = reader.dim
    assert f"features have {dim - 3} columns, the model of {model['exp']} expects {dim}" in line


def test_unreadable_wav_in_corpus_root(tmp_path):
    root = tmp_path / "emodb"
    (root / "wav").mkdir(parents=True)
    soundfile.write(str(root / "wav" / "03a01Fa.wav"), tone(), 16000)
    (root / "wav" / "03a01Wa.wav").write_bytes(b"RIFF garbage")
    line = one_error_line(run("serkit.bin.prep_corpus", "--corpus", "emodb", "--root", root, "--out", tmp_path / "d"))
    assert f"cannot read audio {root}/wav/03a01Wa.wav" in line


def test_corpus_root_with_spaces_reaches_data_prep(recipe_copy, layout_corpora, tmp_path):
    root = tmp_path / "emo db"
    shutil.copytree(layout_corpora / "emodb", root)
    recipe = recipe_copy("emodb")
    r = subprocess.run(["./run.sh", "--stop_stage", "0", "--emodb_root", str(root)], cwd=recipe,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    wavs = (recipe / "data" / "all" / "wav.scp").read_text().splitlines()
    assert len(wavs) == 70 and all(f" {root}/wav/" in w for w in wavs)
    assert (recipe / "data" / "all" / "emotions").read_text().split() == [
        "anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"]
    assert yaml.safe_load((recipe / "data" / "folds" / "loso" / "protocol.yaml").read_text())["folds"]


def test_parse_options_double_dash_keeps_the_rest_positional(tmp_path):
    script = tmp_path / "s.sh"
    script.write_text(f"set -e\nstage=0\n. {Path(__file__).parent.parent / 'tools' / 'parse_options.sh'}\n"
                      'echo "stage=$stage"; printf "<%s>" "$@"\n')
    r = subprocess.run(["bash", str(script), "--stage", "2", "--", "--root", "/a b/c"], capture_output=True, text=True)
    assert r.stdout == "stage=2\n<--root></a b/c>"


def test_parse_options_passthrough_collects_undeclared_options(tmp_path):
    script = tmp_path / "s.sh"
    script.write_text(f"set -e\nroot=\nparse_options_passthrough=true\n"
                      f". {Path(__file__).parent.parent / 'tools' / 'parse_options.sh'}\n"
                      'echo "root=$root"; printf "<%s>" "${passthrough_opts[@]}" -- "$@"\n')
    r = subprocess.run(["bash", str(script), "--stage", "3", "--root", "/a b", "--train-opts", "--x 1", "--help",
                        "--", "p"], capture_output=True, text=True)
    assert r.stdout == "root=/a b\n<--stage><3><--train-opts><--x 1><--help><--><p>"
    script.write_text(f"set -e\nroot=\n. {Path(__file__).parent.parent / 'tools' / 'parse_options.sh'}\n")
    r = subprocess.run(["bash", str(script), "--stage", "3"], capture_output=True, text=True)
    assert r.returncode == 1 and "unknown option --stage" in r.stderr
