"""IEMOCAP prep on a fake release tree built from the real metadata (skips without ../shared)."""
from collections import Counter

from serkit.corpora.iemocap import prepare_iemocap
from serkit.data.datadir import validate_datadir
from serkit.data.folds import make_folds


def test_standard_4class_counts_speakers_genders_transcripts(fake_iemocap, tmp_path):
    d = prepare_iemocap(fake_iemocap["root"], tmp_path / "all")
    ref = fake_iemocap["ref"]
    assert len(d.utts) == 5531
    assert Counter(d.get("utt2emo").values()) == {"ang": 1103, "hap": 1636, "neu": 1708, "sad": 1084}
    spk = d.get("utt2spk")
    assert sorted(set(spk.values())) == [f"Ses0{s}{g}" for s in range(1, 6) for g in "FM"]
    assert Counter(spk.values()) == Counter(r["speaker"] for r in ref.values())
    for uid in d.utts:
        utt = uid.split("-", 1)[1]
        r = ref[utt]
        assert spk[uid] == r["speaker"]
        assert d.get("utt2gender")[uid] == r["gender"].lower()
        assert d.get("utt2emo")[uid] == r["label4"]
        assert d.get("text")[uid] == r["transcript"]
        assert d.get("utt2session")[uid] == f"Ses0{r['session']}"
        for dim, col in (("valence", "val"), ("arousal", "act"), ("dominance", "dom")):
            assert float(d.get(f"utt2{dim}")[uid]) == float(r[col]), (uid, dim)
    assert validate_datadir(tmp_path / "all", emotions=["ang", "hap", "neu", "sad"]).ok
    # known utterances of the reference table, and the [0, 1] rescaling
    assert d.get("utt2valence")["Ses01F-Ses01F_impro01_F000"] == "2.5000"
    unit = prepare_iemocap(fake_iemocap["root"], tmp_path / "unit", sessions=[1], vad_scale="unit")
    for uid in unit.utts:
        r = ref[uid.split("-", 1)[1]]
        assert float(unit.get("utt2arousal")[uid]) == round((float(r["act"]) - 1) / 4, 4)


def test_label_set_and_dialog_type_options(fake_iemocap, tmp_path):
    ref = fake_iemocap["ref"]
    d = prepare_iemocap(fake_iemocap["root"], tmp_path / "exc", label_set="5class_exc")
    assert Counter(d.get("utt2emo").values())["exc"] == 1041
    d = prepare_iemocap(fake_iemocap["root"], tmp_path / "impro", dialog_types=("impro",))
    assert len(d.utts) == sum(r["dialog_type"] == "impro" for r in ref.values())
    d = prepare_iemocap(fake_iemocap["root"], tmp_path / "all10", label_set="all")
    assert len(d.utts) == 10039 - 2507  # every utterance with a majority label


def test_protocols_on_real_speakers(fake_iemocap, tmp_path):
    d = prepare_iemocap(fake_iemocap["root"], tmp_path / "all")
    loso = make_folds(d, "loso")
    assert len(loso) == 10
    assert [(f.test_speakers[0], f.valid_speakers[0]) for f in loso[:2]] == [("Ses01F", "Ses01M"), ("Ses01M", "Ses01F")]
    assert sum(len(f.test) for f in loso) == 5531
    assert len(make_folds(d, "loso_session")) == 5
    (first,) = make_folds(d, "first2spk")
    assert len(first.test) == 528 + 557
    (rnd,) = make_folds(d, "random")
    assert (len(rnd.train), len(rnd.valid), len(rnd.test)) == (3872, 1106, 553)
