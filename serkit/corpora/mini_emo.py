"""mini_emo: a small acted-emotion corpus synthesized with eSpeak NG, in the IEMOCAP release layout.

Five sessions, each with one female and one male voice (10 speakers). Every utterance is one of
a list of short English sentences spoken with a per-emotion prosody profile (rate, pitch, pitch
range, volume, word gap) plus per-speaker offsets and per-utterance random jitter, then mixed
with noise at a random level. Labels include ``exc`` (merged into ``hap`` by the 4-class prep),
``fru`` and ``xxx`` (no majority) so that filtering is exercised. Audio is written at the
library's native 22.05 kHz so that the pipeline's resampling is exercised too.

Deterministic from ``seed``.
"""
from __future__ import annotations

import math
import multiprocessing as mp
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np
import soundfile
from scipy.signal import resample_poly

from serkit.corpora.espeak import ESpeak

SENTENCES = [
    "Excuse me, do you have the forms.",
    "I told you the meeting was at noon.",
    "The train leaves in ten minutes.",
    "We are going to the beach tomorrow.",
    "Nobody answered the phone all day.",
    "She bought a new car last week.",
    "Can you pass me the salt please.",
    "I have never seen anything like this.",
    "The results came back this morning.",
    "He said he would call me back.",
    "They moved to another city in June.",
    "Put the boxes next to the door.",
    "The letter arrived two days late.",
    "I really thought you would be here.",
    "Let us talk about it after dinner.",
    "My brother is getting married in May.",
    "You left the window open again.",
    "It is raining outside, take a coat.",
    "That is not what I asked for.",
    "We won the game last night.",
    "The store closes at nine tonight.",
    "I lost my keys somewhere in the house.",
    "Why did you not tell me before.",
    "The dog has been barking for hours.",
    "I got the job at the hospital.",
    "Your flight has been cancelled.",
    "Wait here until I come back.",
    "This is the third time today.",
    "We can finally go home now.",
    "I do not know what to say.",
    "The house looks different in winter.",
    "Come on, we are going to be late.",
    "He forgot my birthday again this year.",
    "The package is on the kitchen table.",
    "I will see you next Saturday.",
    "Everyone is waiting for you downstairs.",
]

# eSpeak parameters per emotion: (rate wpm, pitch 0-100, range 0-100, volume 0-200, word gap x10ms)
PROFILES: Dict[str, Tuple[float, float, float, float, float]] = {
    "neu": (165, 45, 35, 100, 1),
    "ang": (190, 52, 65, 140, 0),
    "hap": (180, 64, 80, 115, 0),
    "exc": (195, 70, 90, 130, 0),
    "sad": (135, 36, 18, 80, 4),
    "fru": (175, 48, 50, 120, 1),
    "bor": (140, 40, 12, 85, 3),
    "dis": (150, 38, 45, 105, 2),
    "fea": (205, 66, 30, 95, 1),
    "sur": (175, 72, 95, 120, 1),
}
# Standard deviation of the per-utterance jitter: wide enough that classes overlap.
JITTER = np.array([18.0, 7.0, 14.0, 20.0, 1.5])

# Labels per speaker: 4-class labels plus some exc/fru/xxx to exercise the prep's filtering.
LABEL_COUNTS = {"ang": 10, "hap": 7, "exc": 4, "neu": 12, "sad": 10, "fru": 3, "xxx": 3}

CATEGORY_NAMES = {"ang": "Anger", "hap": "Happiness", "exc": "Excited", "neu": "Neutral",
                  "sad": "Sadness", "fru": "Frustration"}
VAD = {"ang": (1.5, 4.0, 4.0), "hap": (4.0, 3.5, 3.0), "exc": (4.0, 4.0, 3.5), "neu": (3.0, 2.5, 2.5),
       "sad": (1.5, 1.5, 2.0), "fru": (2.0, 3.0, 3.0)}


@dataclass
class Voice:
    speaker: str        # Ses01F
    gender: str         # F / M
    espeak_voice: str   # en-us+f2
    pitch_offset: float
    rate_offset: float


# eSpeak NG voice variants. Those with a "breath" setting (f2, f3, f5, ...) add aspiration noise
# that differs from one process to the next, so they are not used: the corpus must depend on the
# seed only. The female voices are f1 and f4 over different accents.
FEMALE_VOICES = ["en-us+f1", "en+f1", "en-us+f4", "en-gb-x-rp+f4", "en-gb-x-rp+f1"]
MALE_VARIANTS = ["m1", "m2", "m3", "m4", "m5", "m6", "m7"]


def make_voices(num_sessions: int = 5) -> List[Voice]:
    bases = ["en-us", "en", "en-us", "en-gb-x-rp", "en-us", "en", "en-us", "en"]
    voices = []
    for s in range(1, num_sessions + 1):
        base = bases[(s - 1) % len(bases)]
        voices.append(Voice(f"Ses{s:02d}F", "F", FEMALE_VOICES[(s - 1) % len(FEMALE_VOICES)],
                            pitch_offset=(s % 3 - 1) * 4.0, rate_offset=(s % 2) * 8.0 - 4.0))
        voices.append(Voice(f"Ses{s:02d}M", "M", f"{base}+{MALE_VARIANTS[(s - 1) % len(MALE_VARIANTS)]}",
                            pitch_offset=((s + 1) % 3 - 1) * 4.0, rate_offset=((s + 1) % 2) * 8.0 - 4.0))
    return voices


def _emotion_params(label: str, voice: Voice, rng: np.random.RandomState) -> np.ndarray:
    if label == "xxx":  # no majority: a blend of two random emotions
        a, b = rng.choice(["ang", "hap", "neu", "sad"], size=2, replace=False)
        base = 0.5 * (np.array(PROFILES[a]) + np.array(PROFILES[b]))
    else:
        base = np.array(PROFILES[label], dtype=np.float64)
    p = base + rng.randn(5) * JITTER
    p[0] += voice.rate_offset
    p[1] += voice.pitch_offset
    lo = np.array([80, 0, 0, 30, 0])
    hi = np.array([320, 99, 99, 200, 10])
    return np.clip(np.round(p), lo, hi)


def ratings(label: str, params: np.ndarray, rng: np.random.Generator) -> Tuple[float, float, float]:
    """(valence, arousal, dominance) on IEMOCAP's 1-5 scale for an utterance rendered with the
    eSpeak ``params`` (rate, pitch, range, volume, gap): arousal follows the loudness, rate and
    pitch range actually used, valence and dominance the label's typical values, all with
    annotator-like noise, so that the ratings are learnable from the audio but not exact."""
    rate, pitch, prange, vol, _ = params
    energy = 0.4 * (vol - 80) / 60 + 0.3 * (rate - 135) / 70 + 0.3 * (prange - 12) / 83
    v, _, d = VAD.get(label, (3.0, 3.0, 3.0))
    noise = rng.normal(0.0, [0.3, 0.25, 0.3])
    out = (v + 0.02 * (pitch - 45) + noise[0], 1 + 4 * energy + noise[1], d + 0.5 * (energy - 0.4) + noise[2])
    return tuple(float(np.clip(x, 1.0, 5.0)) for x in out)


def _render(engine: ESpeak, text: str, voice: Voice, label: str, rng: np.random.RandomState,
            noise_key: List) -> Tuple[np.ndarray, np.ndarray]:
    """One utterance: the emotion's prosody with jitter, short silences, noise at a random level;
    -> audio, the eSpeak parameters used.

    The noise comes from its own generator (``noise_key``) so that a length change never shifts
    the draws of later utterances."""
    sr = engine.sample_rate
    params = _emotion_params(label, voice, rng)
    rate, pitch, prange, vol, gap = params
    x = engine.synth(text, voice.espeak_voice, rate, pitch, prange, vol, gap).astype(np.float32) / 32768
    lead = np.zeros(int(sr * rng.uniform(0.05, 0.25)), np.float32)
    tail = np.zeros(int(sr * rng.uniform(0.05, 0.25)), np.float32)
    x = np.concatenate([lead, x, tail])
    noise_db = rng.uniform(-60, -32)
    noise = np.random.default_rng(noise_key).standard_normal(len(x))
    return np.clip(x + noise.astype(np.float32) * (10 ** (noise_db / 20)), -1, 1), params


def _annotator_lines(label: str, rng: np.random.RandomState) -> List[str]:
    cats = list(CATEGORY_NAMES.values())
    lines = []
    for k, ann in enumerate(("C-E1", "C-E2", "C-E3")):
        if label == "xxx":
            name = cats[(k + rng.randint(len(cats))) % len(cats)]
        else:
            name = CATEGORY_NAMES[label] if k < 2 else rng.choice([CATEGORY_NAMES[label], "Neutral"])
        lines.append(f"{ann}:\t{name};\t()")
    for ann in ("A-E1", "A-E2"):
        v, a, d = rng.randint(1, 6, size=3)
        lines.append(f"{ann}:\tval {v}; act {a}; dom  {d};\t()")
    return lines


def synthesize(root: str | os.PathLike, seed: int = 0, num_sessions: int = 5,
               utts_per_speaker_scale: int = 1, nj: int = 1) -> Dict[str, int]:
    """Write the corpus under ``root``; return label counts. Skips if ``root/.done`` exists.

    eSpeak NG keeps internal state from one call to the next, so each session is synthesized
    in a fresh process (``nj`` at a time): the output depends on the seed only.
    """
    root = Path(root)
    done = root / ".done"
    if done.exists():
        return _read_counts(done)
    jobs = [(str(root), seed, s, utts_per_speaker_scale) for s in range(1, num_sessions + 1)]
    counts: Dict[str, int] = {}
    with mp.get_context("spawn").Pool(max(1, min(nj, len(jobs))), maxtasksperchild=1) as pool:
        for part in pool.imap_unordered(_synthesize_session, jobs):
            for k, v in part.items():
                counts[k] = counts.get(k, 0) + v
    with open(done, "w") as f:
        f.write("".join(f"{k} {v}\n" for k, v in sorted(counts.items())))
    return counts


def _synthesize_session(job: Tuple[str, int, int, int]) -> Dict[str, int]:
    root, seed, s, scale = job
    rng = np.random.RandomState([seed, s])
    engine = ESpeak()
    sr = engine.sample_rate
    pair = [v for v in make_voices(s) if v.speaker.startswith(f"Ses{s:02d}")]
    sess_dir = Path(root) / f"Session{s}"
    counts: Dict[str, int] = {}
    # Each speaker's labels, shuffled, dealt over 4 dialogs (2 improvised, 2 scripted)
    # whose prefix alternates F/M as in IEMOCAP.
    per_spk = {}
    for v in pair:
        labels = [lab for lab, n in LABEL_COUNTS.items() for _ in range(n * scale)]
        rng.shuffle(labels)
        per_spk[v.speaker] = labels
    dialogs = [f"Ses{s:02d}F_impro01", f"Ses{s:02d}M_impro02", f"Ses{s:02d}F_script01_1",
               f"Ses{s:02d}M_script02_1"]
    for d_idx, dialog in enumerate(dialogs):
        summary_blocks, transcript_lines = [], []
        t = 1.0 + rng.rand()
        turns = []
        for v in pair:
            share = per_spk[v.speaker][d_idx::len(dialogs)]
            turns += [(v, lab, n) for n, lab in enumerate(share)]
        # Interleave the two speakers' turns as a conversation would.
        turns.sort(key=lambda x: (x[2], x[0].gender))
        for v, label, n in turns:
            utt = f"{dialog}_{v.gender}{n:03d}"
            text = SENTENCES[rng.randint(len(SENTENCES))]
            key = [seed, s, d_idx, n, v.gender == "M"]
            x, params = _render(engine, text, v, label, rng, key)
            wav = sess_dir / "sentences" / "wav" / dialog / f"{utt}.wav"
            wav.parent.mkdir(parents=True, exist_ok=True)
            soundfile.write(str(wav), x, sr, subtype="PCM_16")
            dur = len(x) / sr
            # the ratings' own generator: the audio and labels stay those of earlier versions
            v_, a_, d_ = ratings(label, params, np.random.default_rng(key + [7]))
            summary_blocks.append(
                [f"[{t:.4f} - {t + dur:.4f}]\t{utt}\t{label}\t[{v_:.4f}, {a_:.4f}, {d_:.4f}]"]
                + _annotator_lines(label, rng)
            )
            transcript_lines.append(f"{utt} [{t:08.4f}-{t + dur:08.4f}]: {text}")
            counts[label] = counts.get(label, 0) + 1
            t += dur + rng.uniform(0.2, 1.0)
        # Non-utterance turns as in the release (skipped by the prep).
        transcript_lines.append(f"{dialog}_MXX0 [{t:08.4f}-{t + 1:08.4f}]: [LAUGHTER]")
        emo_dir = sess_dir / "dialog" / "EmoEvaluation"
        emo_dir.mkdir(parents=True, exist_ok=True)
        with open(emo_dir / f"{dialog}.txt", "w") as f:
            f.write("% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]\n\n")
            for block in summary_blocks:
                f.write("\n".join(block) + "\n\n")
        tr_dir = sess_dir / "dialog" / "transcriptions"
        tr_dir.mkdir(parents=True, exist_ok=True)
        with open(tr_dir / f"{dialog}.txt", "w") as f:
            f.write("\n".join(transcript_lines) + "\n")
    return counts


def _read_counts(path: Path) -> Dict[str, int]:
    with open(path) as f:
        return {k: int(v) for k, v in (line.split() for line in f if line.strip())}


# ----------------------------------------------------------------------------- other layouts
GERMAN_SENTENCES = [
    "Der Zug kommt heute später an.", "Das Buch liegt auf dem Tisch.", "Wir gehen morgen in den Park.",
    "Sie hat das Fenster offen gelassen.", "Ich habe den Schlüssel gefunden.", "Es regnet schon den ganzen Tag.",
    "Er ruft heute Abend noch einmal an.", "Die Tür ist seit gestern kaputt.", "Das Essen steht im Kühlschrank.",
    "Am Samstag fahren wir nach Hause.", "Der Brief ist endlich angekommen.", "Die Kinder spielen im Garten.",
    "Ich weiß nicht, was ich sagen soll.", "Das Konzert beginnt um acht Uhr.", "Sie wohnt jetzt in einer anderen Stadt.",
]
SAVEE_CODES = {"a": "ang", "d": "dis", "f": "fea", "h": "hap", "n": "neu", "sa": "sad", "su": "sur"}
EMODB_CODES = {"W": "ang", "L": "bor", "E": "dis", "A": "fea", "F": "hap", "T": "sad", "N": "neu"}
EMODB_VOICES = {"03": "m", "08": "f", "09": "f", "10": "m", "11": "m", "12": "m", "13": "f", "14": "f",
                "15": "m", "16": "f"}


def synthesize_layout(layout: str, root: str | os.PathLike, seed: int = 0, per_emotion: int = 15,
                      nj: int = 1) -> int:
    """Write a small corpus in the SAVEE (``AudioData/DC/a01.wav``, 44.1 kHz, 4 male speakers) or
    EMO-DB (``wav/03a01Fa.wav``, 16 kHz, 10 speakers, German) layout; return the number of files.

    SAVEE has ``per_emotion`` utterances per emotion and speaker (twice as many neutral, as in
    the release); EMO-DB ``per_emotion`` per emotion and speaker, text codes a01.. then b01..
    """
    if layout not in ("savee", "emodb"):
        raise ValueError(f"unknown layout '{layout}'; choose savee or emodb")
    root = Path(root)
    done = root / ".done"
    if done.exists():
        return int(done.read_text())
    speakers = ["DC", "JE", "JK", "KL"] if layout == "savee" else list(EMODB_VOICES)
    jobs = [(layout, str(root), seed, k, spk, per_emotion) for k, spk in enumerate(speakers)]
    with mp.get_context("spawn").Pool(max(1, min(nj, len(jobs))), maxtasksperchild=1) as pool:
        n = sum(pool.imap_unordered(_synthesize_speaker, jobs))
    done.write_text(str(n))
    return n


def _synthesize_speaker(job) -> int:
    layout, root, seed, k, spk, per_emotion = job
    rng = np.random.RandomState([seed, 1000 + k])
    engine = ESpeak()
    if layout == "savee":
        voice = Voice(spk, "M", f"en-gb-x-rp+m{k + 1}", pitch_offset=(k - 1.5) * 3, rate_offset=(k % 2) * 6 - 3)
        items = [(code, num) for code in SAVEE_CODES
                 for num in range(1, (2 if code == "n" else 1) * per_emotion + 1)]
        out_sr, sentences = 44100, SENTENCES
    else:
        gender = EMODB_VOICES[spk].upper()
        variant = ("f1", "f4")[k % 2] if gender == "F" else MALE_VARIANTS[k % 4]
        voice = Voice(spk, gender, f"de+{variant}", pitch_offset=(k % 3 - 1) * 4,
                      rate_offset=(k % 2) * 8 - 4)
        texts = [f"a{i:02d}" for i in range(1, 6)] + [f"b{i:02d}" for i in range(1, 11)]
        items = [(code, texts[i % len(texts)]) for code in EMODB_CODES for i in range(per_emotion)]
        out_sr, sentences = 16000, GERMAN_SENTENCES
    for i, (code, num) in enumerate(items):
        label = SAVEE_CODES[code] if layout == "savee" else EMODB_CODES[code]
        if layout == "savee":
            text = sentences[rng.randint(len(sentences))]
            wav = Path(root) / "AudioData" / spk / f"{code}{num:02d}.wav"
        else:
            idx = (int(num[1:]) - 1) + (5 if num[0] == "b" else 0)
            text = sentences[idx % len(sentences)]
            version = "abcdefghij"[sum(1 for c, n in items[:i] if c == code and n == num) % 10]
            wav = Path(root) / "wav" / f"{spk}{num}{code}{version}.wav"
        x, _ = _render(engine, text, voice, label, rng, [seed, 1000 + k, i])
        g = math.gcd(out_sr, engine.sample_rate)
        x = resample_poly(x, out_sr // g, engine.sample_rate // g)
        wav.parent.mkdir(parents=True, exist_ok=True)
        soundfile.write(str(wav), np.clip(x, -1, 1), out_sr, subtype="PCM_16")
    return len(items)
