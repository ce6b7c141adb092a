"""What serkit-infer is asked to do (its options, checked), and the model loaded for it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

from serkit.errors import ConfigError

AUDIO_EXTENSIONS = "wav,flac,ogg,mp3,sph"


@dataclass
class InferOptions:
    """serkit-infer's options (its ``--help`` says what each does); checked when made."""
    model: Optional[str] = None          # a file of serkit-export, or
    exp_dir: Optional[str] = None        # a trained fold
    feat_conf: Optional[str] = None
    cmvn_stats: Optional[str] = None
    inputs: List[str] = field(default_factory=list)
    wav_scp: str = ""
    ext: str = AUDIO_EXTENSIONS
    window: float = 0.0
    hop: float = 0.0
    vad: str = "none"                    # none | energy | silero
    rttm: str = ""
    segments: str = ""
    utt2spk: str = ""
    one_speaker: bool = False
    prior_frames: Optional[float] = None
    prior_utts: Optional[float] = None
    top_k: int = 0
    format: str = "jsonl"                # jsonl | csv
    batch_size: int = 16
    device: str = "cpu"
    nj: int = 2                          # threads reading audio ahead
    jobs: int = 1                        # processes

    def __post_init__(self):
        if (self.model is None) == (self.exp_dir is None):
            raise ConfigError("give a model file (--model) or a trained fold (--exp_dir), one of them")
        if self.vad not in ("none", "energy", "silero") or self.format not in ("jsonl", "csv"):
            raise ConfigError(f"--vad {self.vad} / --format {self.format}: vad is none, energy or silero; "
                              f"format jsonl or csv")
        if self.window and self.vad != "none":
            raise ConfigError(f"give --window or --vad {self.vad}, not both")
        if (self.rttm or self.segments) and (self.window or self.vad != "none"):
            raise ConfigError(f"--{'rttm' if self.rttm else 'segments'} gives the segments: no --window / --vad "
                              f"with it")
        if self.rttm and self.segments:
            raise ConfigError("give --rttm or --segments, not both")
        if self.utt2spk and self.one_speaker:
            raise ConfigError("give --utt2spk or --one_speaker, not both")
        if self.rttm and (self.utt2spk or self.one_speaker):
            raise ConfigError("--rttm names each recording's speakers: no --utt2spk / --one_speaker with it")
        if self.top_k < 0 or self.batch_size < 1 or self.nj < 1:
            raise ConfigError("--top_k must be >= 0, --batch_size and --nj >= 1")
        if self.jobs < 1:
            raise ConfigError("--jobs must be >= 1")
        for name, unit in (("prior_frames", "frames"), ("prior_utts", "utterances")):
            value = getattr(self, name)
            if value is not None and not value >= 0:
                raise ConfigError(f"--{name} {value}: give a number of {unit} >= 0 (or inf)")

    def segmentation(self) -> Tuple[Optional[float], Optional[float], Optional[str]]:
        """(window, hop, vad) of --window / --hop / --vad; all None for whole files."""
        if self.window:
            return self.window, self.hop or None, None
        return None, None, (self.vad if self.vad != "none" else None)


def load_recognizer(opts: InferOptions):
    """The model of ``opts``, with its speaker-statistics priors as ``opts`` sets them."""
    from serkit.recognizer import Recognizer

    rec = Recognizer.load(opts.model or opts.exp_dir, opts.feat_conf, opts.cmvn_stats, device=opts.device)
    for name in ("prior_frames", "prior_utts"):
        if getattr(opts, name) is not None:
            setattr(rec, name, getattr(opts, name))
    return rec
