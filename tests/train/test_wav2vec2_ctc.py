"""A tiny wav2vec2 with emotion + CTC heads on mini_emo waves: both losses fall, transcripts are
decoded and scored (CER / WER), serkit-infer reads a 44.1 kHz wav."""
import json
import subprocess
import sys

import numpy as np
import pytest
import soundfile
import yaml

from serkit.models.registry import load_train_config
from serkit.data.datadir import DataDir
from serkit.metrics import error_rate
from serkit.predict import predict
from serkit.predictions import read_predictions
from serkit.scoring import format_markdown, score_folds
from serkit.train.trainer import RunPaths, Trainer

TINY = ["--model.encoder", "wav2vec2", "--model.encoder_conf", "{size: tiny, freeze_feature_encoder: false}",
        "--model.pooling", "mean", "--model.heads", "{emotion: {weight: 1.0}, ctc: {weight: 0.5}}",
        "--data.cmvn", "none", "--data.batch_size", "8", "--optim.name", "adamw", "--optim.lr", "0.002",
        "--train.max_epochs", "3", "--train.select_metric", "loss"]


@pytest.fixture(scope="module")
def trained(mini_corpus, tmp_path_factory):
    from serkit.features.dump import dump_features
    from serkit.features.extract import FeatureConfig

    base = tmp_path_factory.mktemp("w2v")
    dump_features(mini_corpus["data"], base / "dump", FeatureConfig(type="wave"), nj=1)
    fold = mini_corpus["folds"] / "fold1"
    exp = base / "exp"
    cfg = load_train_config(None, TINY)
    t = Trainer(cfg, RunPaths(str(fold / "train"), str(fold / "valid"), str(base / "dump" / "feats.scp"), None,
                              str(exp)))
    try:
        state = t.run()
    finally:
        t.close()
    return {"exp": exp, "state": state, "feats": str(base / "dump" / "feats.scp"), "fold": fold, "base": base}


def test_both_losses_fall_and_vocab_is_saved(trained):
    hist = trained["state"]["history"]
    first, last = hist[0]["train"], hist[-1]["train"]
    assert last["loss_ctc"] < 0.9 * first["loss_ctc"] and last["loss_emotion"] < first["loss_emotion"]
    classes = yaml.safe_load((trained["exp"] / "classes.yaml").read_text())
    assert classes["ctc"][:3] == ["<blank>", "<unk>", "\u2581"] and 25 <= len(classes["ctc"]) <= 32
    assert (trained["exp"] / "ctc_vocab.model").stat().st_size > 0


def test_transcripts_in_predictions_and_cer_wer(trained):
    out = trained["base"] / "test.tsv"
    n = predict(trained["exp"], trained["fold"] / "test", trained["feats"], None, out)
    header = out.read_text().splitlines()[0].split("\t")
    assert header[-2:] == ["ref", "hyp"] and header[3:-2] == ["p_ang", "p_hap", "p_neu", "p_sad"]
    classes, rows = read_predictions(out, with_text=True)
    assert classes == ["ang", "hap", "neu", "sad"] and len(rows) == n
    text = DataDir.load(trained["fold"] / "test").get("text")
    assert rows[0][3] and rows[0][3] == " ".join(text[rows[0][0]].lower().replace(".", "").replace(",", "").split())
    result = score_folds({"fold1": out})
    assert 0.0 <= result["pooled"]["cer"] <= 1.5 and result["pooled"]["wer"] >= result["pooled"]["cer"] * 0.5
    # pooled CER / WER are corpus-level: total edits over total reference tokens of these rows
    refs, hyps = [r[3] for r in rows], [r[4] for r in rows]
    assert result["pooled"]["cer"] == pytest.approx(error_rate([list(r) for r in refs], [list(h) for h in hyps]))
    assert result["pooled"]["wer"] == pytest.approx(error_rate([r.split() for r in refs], [h.split() for h in hyps]))
    md = format_markdown(result, "w2v", "loso")
    assert "| fold | #utts | WA | UA | F1 | CER | WER |" in md


def test_infer_on_a_44k_wav(trained, tmp_path):
    import librosa

    spec = DataDir.load(trained["fold"] / "test").get("wav.scp")
    utt, path = sorted(spec.items())[0]
    x, sr = soundfile.read(path)
    wav = tmp_path / "a.wav"
    soundfile.write(wav, librosa.resample(x, orig_sr=sr, target_sr=44100), 44100)
    # the dump's feats.yaml sits beside feats.scp, where run.yaml points
    r = subprocess.run([sys.executable, "-m", "serkit.bin.infer", "--exp_dir", str(trained["exp"]), str(wav)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    line = json.loads(r.stdout.strip().splitlines()[-1])
    assert line["wav"] == str(wav) and line["emotion"] in ("ang", "hap", "neu", "sad")
    assert abs(sum(line["probs"].values()) - 1) < 1e-3 and isinstance(line["transcript"], str)
    assert line["emotion"] == max(line["probs"], key=line["probs"].get)
    r = subprocess.run([sys.executable, "-m", "serkit.bin.infer", "--exp_dir", str(trained["exp"]),
                        str(tmp_path / "missing.wav")], capture_output=True, text=True)
    assert r.returncode == 1 and "missing.wav: no such file" in r.stderr
    assert np.isfinite(list(line["probs"].values())).all()
