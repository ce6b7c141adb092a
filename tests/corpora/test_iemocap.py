"""IEMOCAP-layout prep on small hand-written release files."""
from pathlib import Path

import numpy as np
import pytest
import soundfile

from serkit.corpora.iemocap import (data_utt_id, parse_emo_evaluation, parse_transcriptions,
                                    prepare_iemocap, speaker_of)
from serkit.data.datadir import validate_datadir
from serkit.errors import DataDirError

EMO = """% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]

[6.2901 - 8.2357]\tSes01F_impro01_F000\tneu\t[2.5000, 2.5000, 2.5000]
C-E2:\tNeutral;\t()
C-E3:\tNeutral;\t()
A-E3:\tval 3; act 2; dom  2;\t()

[10.0100 - 11.3925]\tSes01F_impro01_M000\texc\t[4.0000, 4.0000, 3.0000]
C-E2:\tExcited;\t()

[12.0100 - 13.3925]\tSes01F_impro01_M001\txxx\t[2.5000, 3.0000, 3.0000]

[14.0100 - 15.3925]\tSes01F_impro01_F001\tfru\t[2.0000, 3.0000, 3.0000]

[16.0100 - 17.3925]\tSes01F_impro01_M013\tang\t[1.5000, 4.0000, 4.0000]

[18.0100 - 19.3925]\tSes01F_impro01_F002\thap\t[4.0000, 3.0000, 3.0000]

[20.0100 - 21.3925]\tSes01F_impro01_F003\tsad\t[1.5000, 1.5000, 2.0000]
"""
TRANS = """Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me.
Ses01F_impro01_M000 [010.0100-011.3925]: Do you have your forms?
Ses01F_impro01_MXX0 [011.5000-011.9000]: [LAUGHTER]
Ses01F_impro01_M001 [012.0100-013.3925]: Yeah.
Ses01F_impro01_F001 [014.0100-015.3925]: Whatever.
Ses01F_impro01_M013 [016.0100-017.3925]: Get out!
Ses01F_impro01_F002 [018.0100-019.3925]: I'm so glad.
Ses01F_impro01_F003 [020.0100-021.3925]: I miss him.
"""


def write_release(root: Path, sessions=(1,)) -> None:
    for s in sessions:
        emo = EMO.replace("Ses01", f"Ses{s:02d}")
        trans = TRANS.replace("Ses01", f"Ses{s:02d}")
        sess = root / f"Session{s}"
        (sess / "dialog" / "EmoEvaluation").mkdir(parents=True)
        (sess / "dialog" / "transcriptions").mkdir(parents=True)
        (sess / "dialog" / "EmoEvaluation" / f"Ses{s:02d}F_impro01.txt").write_text(emo)
        (sess / "dialog" / "transcriptions" / f"Ses{s:02d}F_impro01.txt").write_text(trans)
        wav_dir = sess / "sentences" / "wav" / f"Ses{s:02d}F_impro01"
        wav_dir.mkdir(parents=True)
        for line in trans.splitlines():
            utt = line.split()[0]
            if "XX" not in utt:
                soundfile.write(str(wav_dir / f"{utt}.wav"), np.zeros(8000, np.float32), 16000)


def test_speaker_is_session_plus_last_field_gender():
    assert speaker_of("Ses01F_impro01_M013") == "Ses01M"
    assert speaker_of("Ses03M_script02_1_F010") == "Ses03F"
    assert data_utt_id("Ses01F_impro01_M013") == "Ses01M-Ses01F_impro01_M013"


def test_parse_summary_lines_skip_annotator_lines(tmp_path):
    p = tmp_path / "e.txt"
    p.write_text(EMO)
    utts = parse_emo_evaluation(p)
    assert [u.utt for u in utts][:2] == ["Ses01F_impro01_F000", "Ses01F_impro01_M000"]
    assert len(utts) == 7
    assert utts[0].label == "neu" and utts[0].start == pytest.approx(6.2901)
    assert utts[4].speaker == "Ses01M" and utts[4].gender == "m"


def test_malformed_summary_line_names_file_and_line(tmp_path):
    p = tmp_path / "bad.txt"
    p.write_text(EMO.replace("[10.0100 - 11.3925]\t", "[10.0100 - 11.3925] "))
    with pytest.raises(DataDirError, match=r"bad.txt:8: malformed summary line"):
        parse_emo_evaluation(p)


def test_transcripts_skip_non_utterances(tmp_path):
    p = tmp_path / "t.txt"
    p.write_text(TRANS)
    t = parse_transcriptions(p)
    assert "Ses01F_impro01_MXX0" not in t
    assert t["Ses01F_impro01_M000"] == "Do you have your forms?"


def test_prepare_4class_merges_exc_drops_xxx_and_fru(tmp_path):
    write_release(tmp_path / "db", sessions=(1,))
    d = prepare_iemocap(tmp_path / "db", tmp_path / "data")
    emo = d.get("utt2emo")
    assert emo == {
        "Ses01F-Ses01F_impro01_F000": "neu",
        "Ses01F-Ses01F_impro01_F002": "hap",
        "Ses01F-Ses01F_impro01_F003": "sad",
        "Ses01M-Ses01F_impro01_M000": "hap",   # exc -> hap
        "Ses01M-Ses01F_impro01_M013": "ang",
    }
    assert d.get("utt2spk")["Ses01M-Ses01F_impro01_M013"] == "Ses01M"
    assert d.get("utt2gender")["Ses01M-Ses01F_impro01_M013"] == "m"
    assert d.get("text")["Ses01M-Ses01F_impro01_M013"] == "Get out!"
    assert d.get("utt2dur")["Ses01F-Ses01F_impro01_F000"] == "0.500"
    rep = validate_datadir(tmp_path / "data", emotions=["ang", "hap", "neu", "sad"])
    assert rep.ok, rep.errors


def test_prepare_label_set_options(tmp_path):
    write_release(tmp_path / "db")
    d = prepare_iemocap(tmp_path / "db", tmp_path / "d1", label_set="5class_exc")
    assert sorted(set(d.get("utt2emo").values())) == ["ang", "exc", "hap", "neu", "sad"]
    d = prepare_iemocap(tmp_path / "db", tmp_path / "d2", label_set="all")
    assert "fru" in d.get("utt2emo").values() and "xxx" not in d.get("utt2emo").values()
    with pytest.raises(DataDirError, match="no utterance kept"):
        prepare_iemocap(tmp_path / "db", tmp_path / "d3", dialog_types=("script",))
    with pytest.raises(DataDirError, match="unknown label set"):
        prepare_iemocap(tmp_path / "db", tmp_path / "d4", label_set="7class")


def test_missing_audio_names_summary_file_line_and_id(tmp_path):
    write_release(tmp_path / "db")
    (tmp_path / "db/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_M013.wav").unlink()
    with pytest.raises(DataDirError, match=r"Ses01F_impro01.txt:15: audio of 'Ses01F_impro01_M013' not found"):
        prepare_iemocap(tmp_path / "db", tmp_path / "data")
    assert not (tmp_path / "data" / "wav.scp").exists()  # nothing half-written
