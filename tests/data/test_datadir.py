"""Data-dir validator and fixer: messages name the file, the line and the id."""
import pytest

from serkit.data.datadir import DataDir, fix_datadir, read_kv, validate_datadir, write_datadir
from serkit.errors import DataDirError


def make(tmp_path, n=4, wav=True):
    utts = [f"spkA-u{i}" for i in range(n // 2)] + [f"spkB-u{i}" for i in range(n // 2)]
    fields = {
        "wav.scp": {},
        "utt2spk": {u: u.split("-")[0] for u in utts},
        "utt2emo": {u: "neu" for u in utts},
        "utt2gender": {u: "f" for u in utts},
    }
    for u in utts:
        p = tmp_path / f"{u}.wav"
        if wav:
            p.write_bytes(b"RIFF")
        fields["wav.scp"][u] = str(p)
    write_datadir(tmp_path / "d", fields)
    return tmp_path / "d"


def test_valid_dir_passes_and_spk2utt_written(tmp_path):
    d = make(tmp_path)
    assert validate_datadir(d, emotions=["neu"]).ok
    assert (d / "spk2utt").read_text() == "spkA spkA-u0 spkA-u1\nspkB spkB-u0 spkB-u1\n"


def test_unsorted_file(tmp_path):
    d = make(tmp_path)
    lines = (d / "utt2emo").read_text().splitlines()
    (d / "utt2emo").write_text("\n".join([lines[1], lines[0]] + lines[2:]) + "\n")
    errors = validate_datadir(d).errors
    assert any("utt2emo:2: id 'spkA-u0' is out of order" in e for e in errors), errors


def test_missing_and_extra_utterances_named(tmp_path):
    d = make(tmp_path)
    text = (d / "utt2emo").read_text().splitlines()
    (d / "utt2emo").write_text("\n".join(text[:-1]) + "\nspkC-x neu\n")
    errors = validate_datadir(d).errors
    assert any("utt2emo: 1 utterance(s) of utt2spk missing, e.g. spkB-u1" in e for e in errors), errors
    assert any("utt2emo: 1 utterance(s) not in utt2spk, e.g. spkC-x" in e for e in errors), errors


def test_bad_label_gender_and_audio(tmp_path):
    d = make(tmp_path, wav=False)
    (d / "utt2emo").write_text("spkA-u0 neu\nspkA-u1 joy\nspkB-u0 neu\nspkB-u1 neu\n")
    (d / "utt2gender").write_text("spkA-u0 f\nspkA-u1 f\nspkB-u0 x\nspkB-u1 f\n")
    errors = validate_datadir(d, emotions=["neu", "ang"]).errors
    assert any("utt2emo:2: utterance 'spkA-u1' has label 'joy'" in e for e in errors)
    assert any("utt2gender:3: utterance 'spkB-u0' has gender 'x'" in e for e in errors)
    assert any("wav.scp:1: audio of 'spkA-u0' not found" in e for e in errors)


def test_speaker_prefix_and_duplicate(tmp_path):
    d = make(tmp_path)
    (d / "utt2spk").write_text("spkA-u0 spkA\nspkA-u1 spkZ\nspkB-u0 spkB\nspkB-u1 spkB\n")
    assert any("utt2spk:2: speaker id 'spkZ' is not a prefix" in e for e in validate_datadir(d).errors)
    (d / "utt2emo").write_text("spkA-u0 neu\nspkA-u0 neu\n")
    with pytest.raises(DataDirError, match=r"utt2emo:2: duplicate id 'spkA-u0'"):
        read_kv(d / "utt2emo")


def test_fixer_keeps_intersection_and_backs_up(tmp_path):
    d = make(tmp_path)
    original = (d / "utt2emo").read_text()
    (d / "utt2emo").write_text("spkB-u1 neu\nspkA-u0 neu\nspkB-u0 neu\n")  # unsorted, one missing
    dropped = fix_datadir(d)
    assert dropped == ["spkA-u1"]
    assert validate_datadir(d).ok
    assert DataDir.load(d).utts == ["spkA-u0", "spkB-u0", "spkB-u1"]
    backups = list((d / ".backup").glob("*/utt2spk"))
    assert len(backups) == 1 and backups[0].read_text() != (d / "utt2spk").read_text()
    assert original != (d / "utt2emo").read_text()
