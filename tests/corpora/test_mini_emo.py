"""The eSpeak NG mini_emo synthesizer."""
import hashlib
from collections import Counter

import soundfile

from serkit.corpora.iemocap import prepare_iemocap
from serkit.corpora.mini_emo import LABEL_COUNTS, synthesize


def _digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob("*")):
        if p.is_file():
            h.update(p.relative_to(root).as_posix().encode())
            h.update(p.read_bytes())
    return h.hexdigest()


def test_layout_counts_and_prep(mini_corpus):
    root = mini_corpus["root"]
    wavs = sorted(root.glob("Session*/sentences/wav/*/*.wav"))
    per_spk = sum(LABEL_COUNTS.values())
    assert len(wavs) == 6 * per_spk
    info = soundfile.info(str(wavs[0]))
    assert info.samplerate == 22050 and info.channels == 1
    assert sorted(p.name for p in root.glob("Session1/dialog/EmoEvaluation/*.txt")) == [
        "Ses01F_impro01.txt", "Ses01F_script01_1.txt", "Ses01M_impro02.txt", "Ses01M_script02_1.txt"]
    from serkit.data.datadir import DataDir

    d = DataDir.load(mini_corpus["data"])
    emo = Counter(d.get("utt2emo").values())
    n = LABEL_COUNTS
    assert emo == {"ang": 6 * n["ang"], "hap": 6 * (n["hap"] + n["exc"]), "neu": 6 * n["neu"], "sad": 6 * n["sad"]}
    spk = Counter(d.get("utt2spk").values())
    assert sorted(spk) == ["Ses01F", "Ses01M", "Ses02F", "Ses02M", "Ses03F", "Ses03M"]
    # male turns in a dialog with an F prefix belong to the male speaker
    assert d.get("utt2spk")["Ses01M-Ses01F_impro01_M000"] == "Ses01M"
    assert all(d.get("text")[u] for u in d.utts)


def test_deterministic_from_seed(tmp_path):
    # every session in its own process: eSpeak NG state cannot carry over; all voices are used
    synthesize(tmp_path / "a", seed=7, num_sessions=5, nj=2)
    synthesize(tmp_path / "b", seed=7, num_sessions=5, nj=1)
    synthesize(tmp_path / "c", seed=8, num_sessions=1)
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert _digest(tmp_path / "a" / "Session1") != _digest(tmp_path / "c" / "Session1")


def test_voices_are_reproducible_across_processes():
    """Each voice twice, in separate processes: the waveforms must be identical."""
    import subprocess
    import sys

    from serkit.corpora.mini_emo import make_voices

    code = ("import hashlib, sys; from serkit.corpora.espeak import ESpeak; e = ESpeak(); "
            "print(' '.join(hashlib.md5(e.synth('The train leaves now.', v, 170, 50, 50, 100, 0).tobytes())"
            ".hexdigest() for v in sys.argv[1:]))")
    voices = [v.espeak_voice for v in make_voices(5)]
    runs = [subprocess.run([sys.executable, "-c", code, *voices], capture_output=True, text=True, check=True).stdout
            for _ in range(4)]
    assert len(set(runs)) == 1


def test_full_default_corpus_size(tmp_path):
    counts = synthesize(tmp_path / "db", seed=0)
    d = prepare_iemocap(tmp_path / "db", tmp_path / "data")
    assert sum(counts.values()) == 10 * sum(LABEL_COUNTS.values())
    assert len(d.utts) >= 400
    assert len(set(d.get("utt2spk").values())) == 10
    assert {"xxx", "fru", "exc"} <= set(counts)
