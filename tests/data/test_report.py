"""Data-dir report: exact counts, and warnings on acted vs confounded layouts, folds, duplicates."""
import json
import math
import shutil
import subprocess
import sys

import numpy as np
import soundfile
import yaml

from serkit.data.datadir import write_datadir
from serkit.data.report import data_report, uncertainty_coefficient, write_report


def make(tmp_path, rows, name="d"):
    """rows: (speaker, label, seconds); one distinct wav per utterance."""
    fields = {n: {} for n in ("wav.scp", "utt2spk", "utt2emo", "utt2dur", "utt2gender")}
    (tmp_path / "wav").mkdir(exist_ok=True)
    for i, (spk, label, sec) in enumerate(rows):
        utt = f"{spk}-{i:03d}"
        wav = tmp_path / "wav" / f"{name.replace('/', '_')}{utt}.wav"
        soundfile.write(str(wav), np.full(160, (i + 1) / 1000, np.float32), 16000)   # distinct content
        fields["wav.scp"][utt] = str(wav)
        fields["utt2spk"][utt] = spk
        fields["utt2emo"][utt] = label
        fields["utt2dur"][utt] = f"{sec:.3f}"
        fields["utt2gender"][utt] = "f" if spk in ("s1", "s3") else "m"
    write_datadir(tmp_path / name, fields)
    return tmp_path / name


def test_uncertainty_coefficient_by_hand():
    assert uncertainty_coefficient([("a", "x"), ("a", "y"), ("b", "x"), ("b", "y")]) == 0.0
    assert math.isclose(uncertainty_coefficient([("a", "x"), ("b", "y")]), 1.0)
    # a: x x y, b: y -> H(L) = ln 2; I = 0.75 ln 1.5 - ... computed by hand: 0.3113
    u = uncertainty_coefficient([("a", "x"), ("a", "x"), ("a", "y"), ("b", "y")])
    p = {("a", "x"): .5, ("a", "y"): .25, ("b", "y"): .25}
    ps, pl = {"a": .75, "b": .25}, {"x": .5, "y": .5}
    mi = sum(v * math.log(v / (ps[s] * pl[lbl])) for (s, lbl), v in p.items())
    assert math.isclose(u, mi / math.log(2)) and math.isclose(u, 0.3113, abs_tol=1e-4)


def test_acted_layout_has_no_warning_and_exact_counts(tmp_path):
    rows = [(s, lbl, 2.0 + k) for s in ("s1", "s2", "s3", "s4") for lbl in ("ang", "neu", "sad") for k in range(2)]
    rep = data_report(make(tmp_path, rows))
    assert rep["warnings"] == []
    assert rep["utterances"] == 24 and rep["speakers"] == 4
    assert rep["counts"]["label"] == {"ang": 8, "neu": 8, "sad": 8}
    assert rep["counts"]["gender"] == {"f": 12, "m": 12}
    assert rep["label_by_speaker"]["s2"] == {"ang": 2, "neu": 2, "sad": 2}
    assert rep["confound"] == {"uncertainty_coefficient": 0.0, "single_label_speakers": 0}
    assert math.isclose(rep["duration"]["total_h"], 24 * 2.5 / 3600)
    assert rep["duration"]["min"] == 2.0 and rep["duration"]["max"] == 3.0
    pngs = write_report(rep, tmp_path / "report")
    assert [p.name for p in pngs] == ["label_by_speaker.png", "durations.png"]
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and p.stat().st_size > 1000 for p in pngs)
    assert (tmp_path / "report" / "warnings.txt").read_text() == ""
    md = (tmp_path / "report" / "report.md").read_text()
    assert "| s2 | 2 | 2 | 2 |" in md and "## Warnings\n\nnone" in md
    assert "_durations" not in json.loads((tmp_path / "report" / "report.json").read_text())


def test_confounded_imbalanced_short_long_and_duplicates_warn(tmp_path):
    rows = ([("s1", "ang", 2.0)] * 22 + [("s2", "neu", 0.2)] * 3 + [("s3", "sad", 40.0)] * 2)
    d = make(tmp_path, rows)
    wav = dict(line.split(" ", 1) for line in (d / "wav.scp").read_text().splitlines())
    shutil.copy(wav["s1-000"], wav["s1-001"])   # the same audio under two ids
    rep = data_report(d)
    w = rep["warnings"]
    assert rep["confound"] == {"uncertainty_coefficient": 1.0, "single_label_speakers": 3}
    assert w[0].startswith("labels are confounded with speakers: U(label|speaker) = 1.00")
    assert "3 of 3 speakers have a single label" in w[0]
    assert "class imbalance: 'ang' has 22 utterances, 'sad' 2" in w[1]
    assert w[2] == "3 utterance(s) shorter than 0.5 s, e.g. s2-022"
    assert w[3] == "2 utterance(s) longer than 30 s, e.g. s3-025"
    assert w[4] == "duplicate audio: 1 utterance(s) have the same content as another, e.g. s1-001 = s1-000"


def test_fold_missing_a_class_and_the_binary(tmp_path):
    rows = [(s, lbl, 2.0) for s in ("s1", "s2", "s3") for lbl in ("ang", "neu")] + [("s1", "sad", 2.0)]
    d = make(tmp_path, rows)
    folds = tmp_path / "folds"
    (folds).mkdir()
    (folds / "protocol.yaml").write_text(yaml.safe_dump({"protocol": "loso", "folds": [{"name": "fold1"}]}))
    train = [r for r in rows if r[0] == "s1"]
    make(tmp_path, train, "folds/fold1/train")
    make(tmp_path, [r for r in rows if r[0] == "s2"], "folds/fold1/valid")
    make(tmp_path, [r for r in rows if r[0] == "s3"], "folds/fold1/test")
    r = subprocess.run([sys.executable, "-m", "serkit.bin.data_report", str(d), "--folds", str(folds)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rep = json.loads((d / "report" / "report.json").read_text())
    assert rep["folds"]["fold1"]["test"] == {"ang": 1, "neu": 1, "sad": 0}
    assert rep["folds"]["fold1"]["train"] == {"ang": 1, "neu": 1, "sad": 1}
    assert "fold1 test has no utterance of ['sad']: its UA is the mean recall of the 2 classes present" in r.stderr
    assert "| fold1 | test | 1 | 1 | 0 |" in (d / "report" / "report.md").read_text()
