"""EMO-DB and SAVEE preps, label maps; generated fixtures in both layouts, and the real EMO-DB."""
from collections import Counter

import numpy as np
import pytest
import soundfile

from serkit.corpora.emodb import prepare_emodb, prepare_savee
from serkit.data.datadir import DataDir, validate_datadir
from serkit.data.folds import make_folds, write_folds
from serkit.data.labels import map_labels, read_label_map
from serkit.errors import DataDirError
from conftest import REPO, SHARED_CORPORA

LABEL_MAP = REPO / "egs" / "savee_emodb" / "conf" / "emodb_to_savee.map"


def test_savee_layout_and_prep(layout_corpora, tmp_path):
    wav = layout_corpora / "savee" / "AudioData" / "KL" / "sa02.wav"
    assert soundfile.info(str(wav)).samplerate == 44100
    d = prepare_savee(layout_corpora / "savee", tmp_path / "savee")
    assert len(d.utts) == 4 * (6 * 2 + 4)   # neutral twice as many, as in the release
    assert d.get("utt2emo")["saveeKL-sa02"] == "sadness"
    assert d.get("utt2emo")["saveeDC-su01"] == "surprise"
    assert set(d.get("utt2gender").values()) == {"m"}
    assert sorted(set(d.get("utt2spk").values())) == ["saveeDC", "saveeJE", "saveeJK", "saveeKL"]
    assert validate_datadir(tmp_path / "savee").ok
    folds = make_folds(d, "loso")
    assert [(f.test_speakers, f.valid_speakers) for f in folds][:2] == [
        (["saveeDC"], ["saveeJE"]), (["saveeJE"], ["saveeJK"])]


def test_emodb_layout_and_prep(layout_corpora, tmp_path):
    d = prepare_emodb(layout_corpora / "emodb", tmp_path / "emodb")
    assert len(d.utts) == 10 * 7
    assert d.get("utt2emo")["emodb03-03a01Wa"] == "anger"
    assert d.get("utt2emo")["emodb16-16a01La"] == "boredom"
    assert d.get("utt2gender")["emodb08-08a01Ta"] == "f" and d.get("utt2gender")["emodb15-15a01Na"] == "m"
    assert set(d.get("utt2lang").values()) == {"de"}


def test_bad_file_names_are_named(tmp_path):
    (tmp_path / "wav").mkdir()
    soundfile.write(str(tmp_path / "wav" / "03a01Xa.wav"), np.zeros(160, np.float32), 16000)
    with pytest.raises(DataDirError, match=r"03a01Xa.wav: not an EMO-DB file name"):
        prepare_emodb(tmp_path, tmp_path / "out")
    with pytest.raises(DataDirError, match="missing speaker directory"):
        prepare_savee(tmp_path, tmp_path / "out2")


def test_label_map_drops_boredom_and_cross_language_folds(layout_corpora, tmp_path):
    emodb = prepare_emodb(layout_corpora / "emodb", tmp_path / "emodb")
    savee = prepare_savee(layout_corpora / "savee", tmp_path / "savee")
    lm = read_label_map(LABEL_MAP)
    assert lm["boredom"] is None and lm["anger"] == "anger"
    mapped = map_labels(emodb, lm, tmp_path / "emodb_mapped")
    assert len(mapped.utts) == 60 and "boredom" not in mapped.get("utt2emo").values()
    with pytest.raises(DataDirError, match=r"no entry for label\(s\) \['surprise'\]"):
        map_labels(savee, lm, tmp_path / "x")
    write_folds(savee, make_folds(savee, "loso"), tmp_path / "folds", "loso", extra_train=mapped)
    train = DataDir.load(tmp_path / "folds" / "fold1" / "train")
    spk = set(train.get("utt2spk").values())
    assert {"saveeJK", "saveeKL"} <= spk and "saveeDC" not in spk and "saveeJE" not in spk
    assert len([s for s in spk if s.startswith("emodb")]) == 10   # speaker head: union of both corpora
    assert Counter(train.get("utt2corpus").values()) == {"savee": 32, "emodb": 60}
    test = DataDir.load(tmp_path / "folds" / "fold1" / "test")
    assert set(test.get("utt2corpus").values()) == {"savee"}


EMODB = SHARED_CORPORA / "emodb"


@pytest.mark.skipif(not (EMODB / "wav").is_dir(), reason=f"real EMO-DB not found at {EMODB}")
def test_real_emodb_counts(tmp_path):
    d = prepare_emodb(EMODB, tmp_path / "emodb")
    assert len(d.utts) == 535
    assert Counter(d.get("utt2emo").values()) == {
        "anger": 127, "boredom": 81, "neutral": 79, "happiness": 71, "fear": 69, "sadness": 62, "disgust": 46}
    spk = Counter(d.get("utt2spk").values())
    assert len(spk) == 10
    genders = {s: d.get("utt2gender")[u] for u, s in d.get("utt2spk").items()}
    assert sorted(s[-2:] for s, g in genders.items() if g == "m") == ["03", "10", "11", "12", "15"]
    assert len(make_folds(d, "loso")) == 10
