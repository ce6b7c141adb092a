"""CTC character vocabulary (sentencepiece char model) and greedy CTC decoding."""
import torch

from serkit.text.vocab import BLANK, SPACE, CharVocab, greedy_ctc, ids_to_text, normalize_transcript

TEXTS = ["Hello world, it's [LAUGHTER] me!", "The quick brown fox jumps over the lazy dog.",
         "Excuse me.  <sil> What?"]


def test_normalisation():
    assert normalize_transcript("Hello, WORLD!! [LAUGHTER] it's 9 <sil> me") == "hello world it's me"
    assert normalize_transcript("[BREATHING]") == ""


def test_vocab_is_characters_with_blank_first_and_round_trips():
    v = CharVocab.train(TEXTS)
    assert v.symbols[0] == BLANK and v.symbols[2] == SPACE
    assert set(v.symbols[3:]) == set("abcdefghijklmnopqrstuvwxyz'")
    assert len(v) == 30
    for text in ("hello it's the lazy dog", "quick fox"):
        ids = v.encode(text)
        assert all(i > 1 for i in ids) and len(ids) == len(text)   # one id per character, spaces included
        assert ids_to_text(ids, v.symbols) == text
    assert ids_to_text(v.encode("Hello, World!"), v.symbols) == "hello world"


def test_greedy_decoding_merges_repeats_and_drops_blanks():
    symbols = [BLANK, "<unk>", SPACE, "a", "b", "c"]
    # frame-wise best path: a a _ a b b _ ▁ c c (then padding frames that must be ignored)
    path = [3, 3, 0, 3, 4, 4, 0, 2, 5, 5, 4, 4]
    logits = torch.full((1, len(path), 6), -5.0)
    logits[0, torch.arange(len(path)), torch.tensor(path)] = 5.0
    assert greedy_ctc(logits, torch.tensor([10]), symbols) == ["aab c"]
    assert greedy_ctc(logits, torch.tensor([3]), symbols) == ["a"]
    two = torch.cat([logits, logits.flip(1)])
    assert greedy_ctc(two, torch.tensor([10, 4]), symbols) == ["aab c", "bc"]   # b b c c
