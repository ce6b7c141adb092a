"""serkit-prep-manifest: any corpus from a CSV / TSV table, segments included, errors that name the line."""
import re
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from serkit.corpora.manifest import prepare_manifest
from serkit.data.datadir import DataDir, validate_datadir
from serkit.errors import DataDirError
from serkit.features.extract import read_scp_audio

from tests.conftest import SHARED_CORPORA

SPEECHOCEAN = SHARED_CORPORA / "speechocean762"


def tone(seconds, f=220.0, sr=16000):
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * f * t)).astype(np.float32)


@pytest.fixture
def corpus(tmp_path):
    root = tmp_path / "my corpus"   # a space in the root on purpose
    (root / "audio").mkdir(parents=True)
    for name, sec in (("a1", 1.0), ("a2", 1.5), ("b1", 2.0), ("long", 3.0)):
        soundfile.write(str(root / "audio" / f"{name}.wav"), tone(sec), 16000)
    return root


def test_tsv_manifest_to_a_valid_data_dir(corpus, tmp_path):
    (corpus / "labels.tsv").write_text(
        "path\tspeaker\temotion\tgender\ttext\n"
        "audio/a1.wav\tspkA\tangry\tF\thello there\n"
        "audio/a2.wav\tspkA\tsad\tfemale\t\n"
        "audio/b1.wav\tspkB\tangry\tm\tgood day\n")
    d = prepare_manifest(corpus / "labels.tsv", tmp_path / "data", ["angry", "neutral", "sad"])
    assert d.utts == ["spkA-a1", "spkA-a2", "spkB-b1"]
    assert d.get("utt2emo") == {"spkA-a1": "angry", "spkA-a2": "sad", "spkB-b1": "angry"}
    assert d.get("utt2gender") == {"spkA-a1": "f", "spkA-a2": "f", "spkB-b1": "m"}
    assert d.get("utt2dur") == {"spkA-a1": "1.000", "spkA-a2": "1.500", "spkB-b1": "2.000"}
    assert d.get("text")["spkA-a2"] == ""
    assert (tmp_path / "data" / "emotions").read_text() == "angry\nneutral\nsad\n"
    assert (tmp_path / "data" / "spk2utt").read_text() == "spkA spkA-a1 spkA-a2\nspkB spkB-b1\n"
    assert validate_datadir(tmp_path / "data", require_declared=True).ok
    assert DataDir.load(tmp_path / "data").get("wav.scp")["spkB-b1"] == str((corpus / "audio" / "b1.wav").resolve())


def test_segments_of_a_long_recording_are_cut_on_read(corpus, tmp_path):
    (corpus / "seg.csv").write_text("path,speaker,emotion,start,end\n"
                                    "audio/long.wav,s1,neutral,0.5,1.25\naudio/long.wav,s1,sad,2,3\n")
    d = prepare_manifest(corpus / "seg.csv", tmp_path / "data", ["neutral", "sad"])
    assert d.utts == ["s1-long-0000500-0001250", "s1-long-0002000-0003000"]
    assert d.get("utt2dur")["s1-long-0000500-0001250"] == "0.750"
    x = read_scp_audio(d.get("wav.scp")["s1-long-0000500-0001250"], 16000)
    assert len(x) == 12000 and np.allclose(x, tone(3.0)[8000:20000], atol=1e-4)


def test_segments_are_read_in_process_with_the_pipes_samples(corpus, tmp_path, monkeypatch):
    """serkit reads serkit-prep-manifest's segment pipe itself (no process per segment), with the
    samples the pipe gives (16-bit PCM and float, stereo, resampled); a segment that ends more
    than 0.1 s after its recording is an error naming the wav.scp value."""
    import io

    from serkit.features.extract import _decode, _run_pipeline, parse_segment_spec

    stereo = np.stack([tone(2.0, 220, 44100), tone(2.0, 330, 44100)], axis=1)
    soundfile.write(str(corpus / "audio" / "st.flac"), stereo, 44100, subtype="PCM_16")
    soundfile.write(str(corpus / "audio" / "fl.wav"), tone(3.0, 300), 16000, subtype="FLOAT")
    (corpus / "seg.csv").write_text("path,speaker,emotion,start,end\naudio/st.flac,s1,sad,0.25,1.5\n"
                                    "audio/fl.wav,s2,sad,1,3.05\naudio/long.wav,s3,sad,0.5,1.25\n")
    specs = prepare_manifest(corpus / "seg.csv", tmp_path / "data", ["sad"]).get("wav.scp")
    piped = {u: _decode(io.BytesIO(_run_pipeline(v[:-1], v)), v, 16000) for u, v in specs.items()}

    def no_process(*a, **k):
        raise AssertionError("a process was started")
    monkeypatch.setattr(subprocess, "Popen", no_process)
    for utt, spec in specs.items():
        assert parse_segment_spec(spec) is not None
        assert np.array_equal(read_scp_audio(spec, 16000), piped[utt]), utt
    assert len(piped["s2-fl-0001000-0003050"]) == 32000   # 0.05 s past the end: cut at the end
    late = specs["s2-fl-0001000-0003050"].replace(" 3.05 |", " 3.2 |")
    with pytest.raises(DataDirError, match=re.escape(f"audio '{late}': the segment 1.0-3.2 s ends after the "
                                                     f"recording (3.000 s)")):
        read_scp_audio(late, 16000)
    spec = specs["s3-long-0000500-0001250"]
    for other in (spec[:-1] + "| sox - -t wav - |", spec.replace(" cut ", " cat "), spec.replace("0.5", "x")):
        assert parse_segment_spec(other) is None   # any other pipe is run as written


@pytest.mark.parametrize("table, message", [
    ("path,speaker,emotion\naudio/a1.wav,s1,angre\n", "seg.csv:2: emotion 'angre' is not one of the declared"),
    ("path,speaker\naudio/a1.wav,s1\n", "seg.csv:1: missing column(s) ['emotion']"),
    ("path,speaker,emotion,mood\naudio/a1.wav,s1,sad,x\n", "seg.csv:1: unknown column(s) ['mood']"),
    ("path,speaker,emotion\naudio/a1.wav,s1,sad\naudio/a1.wav,s1,sad\n", "seg.csv:3: utterance id 's1-a1' repeats line 2"),
    ("path,speaker,emotion\naudio/zz.wav,s1,sad\n", "seg.csv:2: audio not found"),
    ("path,speaker,emotion,start,end\naudio/a1.wav,s1,sad,1.0,0.5\n", "seg.csv:2: end 0.5 is not after start 1.0"),
    ("path,speaker,emotion,gender\naudio/a1.wav,s1,sad,x\n", "seg.csv:2: gender 'x' is not f / m"),
    ("path,speaker,emotion\naudio/a1.wav,s 1,sad\n", "seg.csv:2: speaker 's 1' must be one word"),
])
def test_bad_manifests_name_the_line(corpus, tmp_path, table, message):
    (corpus / "seg.csv").write_text(table)
    with pytest.raises(DataDirError, match=re.escape(message)):
        prepare_manifest(corpus / "seg.csv", tmp_path / "data", ["sad", "angry"])
    assert not (tmp_path / "data").exists()


def test_binary(corpus, tmp_path):
    (corpus / "m.csv").write_text("path,speaker,emotion\naudio/a1.wav,s1,sad\naudio/b1.wav,s2,happy\n")
    r = subprocess.run([sys.executable, "-m", "serkit.bin.prep_manifest", "--manifest", str(corpus / "m.csv"),
                        "--emotions", "happy,sad", "--out", str(tmp_path / "d")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "2 utterances, 2 speakers, 0.00 h; happy 1, sad 1" in r.stderr
    r = subprocess.run([sys.executable, "-m", "serkit.bin.prep_manifest", "--manifest", str(corpus / "m.csv"),
                        "--emotions", "sad", "--out", str(tmp_path / "e")], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.strip() == (
        f"error: {corpus}/m.csv:3: emotion 'happy' is not one of the declared ['sad']")


def test_unlabelled_speech_with_ignored_columns(corpus, tmp_path):
    (corpus / "u.tsv").write_text("utt\tpath\tspeaker\tage\ttext\n"
                                  "x1\taudio/a1.wav\ts1\t9\tWE CALL IT BEAR\nx2\taudio/b1.wav\ts2\t30\tZERO\n")
    d = prepare_manifest(corpus / "u.tsv", tmp_path / "u", [], unlabelled=True, ignore=["utt", "age"])
    assert d.utts == ["s1-a1", "s2-b1"] and not d.has("utt2emo") and d.emotions is None
    assert d.get("text") == {"s1-a1": "WE CALL IT BEAR", "s2-b1": "ZERO"}
    assert not (tmp_path / "u" / "utt2emo").exists() and not (tmp_path / "u" / "emotions").exists()
    assert validate_datadir(tmp_path / "u").ok
    with pytest.raises(DataDirError, match=re.escape("u.tsv:1: unknown column(s) ['utt', 'age']")):
        prepare_manifest(corpus / "u.tsv", tmp_path / "v", [], unlabelled=True)
    with pytest.raises(DataDirError, match="--unlabelled"):
        prepare_manifest(corpus / "u.tsv", tmp_path / "v", [], ignore=["utt", "age"])
    (corpus / "l.csv").write_text("path,speaker,emotion\naudio/a1.wav,s1,sad\n")
    with pytest.raises(DataDirError, match="l.csv:1: an 'emotion' column, but no emotion labels declared"):
        prepare_manifest(corpus / "l.csv", tmp_path / "v", [], unlabelled=True)


@pytest.mark.skipif(not SPEECHOCEAN.exists(), reason="real speechocean762 subset not available")
def test_real_speechocean762_as_unlabelled_pretraining_data(tmp_path):
    r = subprocess.run([sys.executable, "-m", "serkit.bin.prep_manifest", "--manifest",
                        str(SPEECHOCEAN / "utterances.tsv"), "--unlabelled", "--ignore_columns", "utt,age,split",
                        "--corpus", "speechocean762", "--out", str(tmp_path / "so")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "1750 utterances, 250 speakers, 1.98 h (unlabelled)" in r.stderr
    d = DataDir.load(tmp_path / "so")
    assert len(d.utts) == 1750 and not d.has("utt2emo")
    assert d.get("utt2gender")["0001-000010011"] == "m" and d.get("text")["0001-000010011"] == "WE CALL IT BEAR"
    genders = list(d.get("utt2gender").values())
    assert genders.count("f") == genders.count("m") == 875
    x = read_scp_audio(d.get("wav.scp")["0001-000010011"], 16000)
    assert abs(len(x) / 16000 - float(d.get("utt2dur")["0001-000010011"])) < 0.01
