"""Fold makers: speaker disjointness, protocol shapes and leak detection."""
import pytest

from serkit.data.datadir import DataDir
from serkit.data.folds import Fold, LeakError, check_fold, make_folds, read_protocol, write_folds


def corpus(n_sessions=5, per_spk=6):
    fields = {"utt2spk": {}, "utt2session": {}, "wav.scp": {}}
    for s in range(1, n_sessions + 1):
        for g in "FM":
            spk = f"Ses{s:02d}{g}"
            for i in range(per_spk):
                u = f"{spk}-u{i:02d}"
                fields["utt2spk"][u] = spk
                fields["utt2session"][u] = f"Ses{s:02d}"
                fields["wav.scp"][u] = "x.wav"
    return DataDir(path="mem", fields=fields)


def speakers(d, utts):
    return {d.get("utt2spk")[u] for u in utts}


def test_loso_valid_is_other_speaker_of_session():
    d = corpus()
    folds = make_folds(d, "loso")
    assert len(folds) == 10
    f = folds[1]  # Ses01M
    assert f.test_speakers == ["Ses01M"] and f.valid_speakers == ["Ses01F"]
    assert speakers(d, f.test) == {"Ses01M"} and speakers(d, f.valid) == {"Ses01F"}
    assert len(speakers(d, f.train)) == 8
    for f in folds:
        assert len(f.train) + len(f.valid) + len(f.test) == 60
        assert not speakers(d, f.train) & speakers(d, f.test)
        assert not speakers(d, f.valid) & (speakers(d, f.test) | speakers(d, f.train))


def test_loso_session_and_first2spk():
    d = corpus()
    folds = make_folds(d, "loso_session")
    assert len(folds) == 5
    assert folds[4].test_speakers == ["Ses05F", "Ses05M"] and folds[4].valid_speakers == ["Ses01F", "Ses01M"]
    assert [len(f.train) for f in folds] == [36] * 5
    (f,) = make_folds(d, "first2spk")
    assert f.test_speakers == ["Ses01F", "Ses01M"]
    assert not speakers(d, f.train) & {"Ses01F", "Ses01M"}


def test_loso_next_speaker_rule_without_sessions():
    d = corpus(n_sessions=2)
    del d.fields["utt2session"]
    folds = make_folds(d, "loso")
    assert [f.valid_speakers[0] for f in folds] == ["Ses01M", "Ses02F", "Ses02M", "Ses01F"]


def test_random_is_seeded_and_70_20_10():
    d = corpus()
    (a,) = make_folds(d, "random")
    (b,) = make_folds(d, "random")
    (c,) = make_folds(d, "random", seed=1)
    assert (len(a.train), len(a.valid), len(a.test)) == (42, 12, 6)
    assert a.test == b.test and a.test != c.test


def test_leaks_are_caught():
    utt2spk = {"s1-a": "s1", "s1-b": "s1", "s2-a": "s2", "s3-a": "s3"}
    with pytest.raises(LeakError, match=r"speaker\(s\) \['s1'\] in both train and test"):
        check_fold(Fold("fold1", ["s1-a", "s2-a"], ["s3-a"], ["s1-b"]), utt2spk)
    with pytest.raises(LeakError, match="utterance"):
        check_fold(Fold("fold1", ["s1-a"], ["s3-a"], ["s1-a"]), utt2spk, speaker_independent=False)
    check_fold(Fold("fold1", ["s1-a", "s2-a"], ["s3-a"], ["s1-b"]), utt2spk, speaker_independent=False)


def test_write_folds_round_trip(tmp_path):
    d = corpus(3)
    write_folds(d, make_folds(d, "loso_session"), tmp_path / "f", "loso_session")
    info = read_protocol(tmp_path / "f")
    assert info["protocol"] == "loso_session" and not info["speaker_dependent"]
    assert [f["num_utts"]["test"] for f in info["folds"]] == [12, 12, 12]
    test = DataDir.load(tmp_path / "f" / "fold2" / "test")
    assert set(test.get("utt2spk").values()) == {"Ses02F", "Ses02M"}


def test_select_folds():
    from serkit.data.folds import select_folds
    from serkit.errors import DataDirError

    info = {"folds": [{"name": "fold1"}, {"name": "fold2"}, {"name": "fold3"}]}
    assert select_folds(info, None) == ["fold1", "fold2", "fold3"]
    assert select_folds(info, "fold3,fold1") == ["fold3", "fold1"]
    assert select_folds(info, "fold1 fold2") == ["fold1", "fold2"]
    with pytest.raises(DataDirError, match=r"folds \['fold9'\] are not in"):
        select_folds(info, "fold9")
