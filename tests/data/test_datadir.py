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


def test_kaldi_segments_become_wav_scp_lines(tmp_path):
    """A Kaldi data dir whose utterances are segments of recordings: validation says how to fix it;
    --fix writes one wav.scp line per segment that reads exactly those samples (end -1: to the
    recording's end), keeps the originals, and refuses segments of unknown or piped recordings
    without changing anything."""
    import subprocess
    import sys

    import numpy as np
    import soundfile

    from serkit.features.extract import read_audio, read_scp_audio

    rng = np.random.default_rng(0)
    for name, sr in (("r1", 16000), ("r2", 8000)):
        soundfile.write(str(tmp_path / f"{name}.wav"), 0.1 * rng.standard_normal(2 * sr).astype(np.float32), sr)
    d = tmp_path / "data"
    write_datadir(d, {"utt2spk": {"s1-a": "s1", "s1-b": "s1", "s2-c": "s2"},
                      "utt2emo": {"s1-a": "ang", "s1-b": "neu", "s2-c": "ang"}})
    (d / "wav.scp").write_text(f"r1 {tmp_path / 'r1.wav'}\nr2 {tmp_path / 'r2.wav'}\n")
    (d / "segments").write_text("s1-a r1 0.25 1.0\ns1-b r1 1.0 -1\ns2-c r2 0.5 1.75\n")
    assert validate_datadir(d).errors == [
        f"{d / 'segments'}: a Kaldi segments file; serkit keeps one wav.scp line per utterance: "
        f"serkit-validate-data-dir --fix {d} writes each segment there (the originals are kept under .backup/)"]
    original = (d / "wav.scp").read_text()
    bad = tmp_path / "bad"
    for segments, wav_scp, message in (
            ("s1-a r9 0 1\n", original, f"{bad / 'segments'}:1: recording 'r9' is not in {bad / 'wav.scp'}"),
            ("s1-a r1 0 1\n", "r1 sox x.wav -t wav - |\n", f"{bad / 'segments'}:1: recording 'r1' is a wav.scp pipe")):
        write_datadir(bad, {"utt2spk": {"s1-a": "s1"}})
        (bad / "wav.scp").write_text(wav_scp)
        (bad / "segments").write_text(segments)
        r = subprocess.run([sys.executable, "-m", "serkit.bin.validate_data_dir", "--fix", str(bad)],
                           capture_output=True, text=True)
        assert r.returncode == 1 and r.stderr.strip().startswith(f"error: {message}"), r.stderr
        assert (bad / "wav.scp").read_text() == wav_scp and (bad / "segments").exists()
    r = subprocess.run([sys.executable, "-m", "serkit.bin.validate_data_dir", "--fix", str(d)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not (d / "segments").exists() and validate_datadir(d).ok
    wav = read_kv(d / "wav.scp")
    assert read_kv(d / "utt2dur") == {"s1-a": "0.750", "s1-b": "1.000", "s2-c": "1.250"}
    r1, r2 = read_audio(tmp_path / "r1.wav", 16000), read_audio(tmp_path / "r2.wav", 8000)
    assert np.array_equal(read_scp_audio(wav["s1-a"], 16000), r1[4000:16000])
    assert np.array_equal(read_scp_audio(wav["s1-b"], 16000), r1[16000:])
    assert np.array_equal(read_scp_audio(wav["s2-c"], 8000), r2[4000:14000])
    backup = next((d / ".backup").glob("*-segments"))
    assert (backup / "wav.scp").read_text() == original and (backup / "segments").exists()
