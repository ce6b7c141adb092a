"""Character vocabulary for the CTC head (Cai et al. 2021): a sentencepiece ``char`` model trained on the
training split's transcripts, blank at id 0.

Transcripts are normalised first: lower case, bracketed events (``[LAUGHTER]``) dropped, only
letters, apostrophes and single spaces kept. English gives about 30 symbols: blank, unknown,
the word boundary (``▁``), 26 letters and the apostrophe. Decoding needs only the symbol list
(stored with the model's classes), so a trained model carries its vocabulary.
"""
from __future__ import annotations

import io
import re
from typing import Iterable, List, Sequence

import torch

BLANK = "<blank>"
UNK = "<unk>"
SPACE = "\u2581"   # sentencepiece's word boundary


def normalize_transcript(text: str) -> str:
    text = re.sub(r"\[[^\]]*\]|<[^>]*>", " ", text.lower())
    text = re.sub(r"[^a-z' ]+", " ", text)
    return re.sub(r" +", " ", text).strip()


class CharVocab:
    """sentencepiece char model; ``symbols[i]`` is the piece of CTC class i (0 = blank)."""

    def __init__(self, model_proto: bytes):
        import sentencepiece as spm

        self.proto = model_proto
        self.sp = spm.SentencePieceProcessor(model_proto=model_proto)
        self.symbols = [self.sp.id_to_piece(i) for i in range(self.sp.get_piece_size())]

    @classmethod
    def train(cls, texts: Iterable[str]) -> "CharVocab":
        import sentencepiece as spm

        lines = [t for t in (normalize_transcript(x) for x in texts) if t]
        if not lines:
            raise ValueError("no transcript with letters to build the CTC vocabulary from")
        chars = sorted(set("".join(lines).replace(" ", "")))
        buf = io.BytesIO()
        spm.SentencePieceTrainer.train(
            sentence_iterator=iter(lines), model_writer=buf, model_type="char",
            vocab_size=len(chars) + 3,             # + blank, unknown and the word boundary
            character_coverage=1.0, pad_id=0, pad_piece=BLANK, unk_id=1, unk_piece=UNK, bos_id=-1, eos_id=-1,
            normalization_rule_name="identity", add_dummy_prefix=False, minloglevel=2)
        return cls(buf.getvalue())

    def encode(self, text: str) -> List[int]:
        return self.sp.encode(normalize_transcript(text))

    def __len__(self) -> int:
        return len(self.symbols)


def ids_to_text(ids: Sequence[int], symbols: Sequence[str]) -> str:
    """Class ids (no blanks, repeats already merged) -> text."""
    pieces = "".join(symbols[i] for i in ids if i > 1)   # 0 blank, 1 unknown
    return re.sub(r" +", " ", pieces.replace(SPACE, " ")).strip()


def greedy_ctc(log_probs: torch.Tensor, lengths: torch.Tensor, symbols: Sequence[str]) -> List[str]:
    """Best path: argmax per frame, merge repeats, drop blanks; (B, T, C), (B,) -> B texts."""
    best = log_probs.argmax(-1).cpu()
    out = []
    for b, n in enumerate(lengths.cpu().tolist()):
        path = best[b, :n].tolist()
        ids = [c for t, c in enumerate(path) if c != 0 and (t == 0 or c != path[t - 1])]
        out.append(ids_to_text(ids, symbols))
    return out
