"""Binaries: user mistakes give one line on stderr and a non-zero exit, no traceback."""
import subprocess
import sys


def run(*args):
    return subprocess.run([sys.executable, "-m", *args], capture_output=True, text=True)


def test_train_config_error_is_one_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("model: {encoder: blstm, encoder_conf: {hiden: 3}}\n")
    r = run("serkit.bin.train", "--config", str(cfg), "--print_config")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "error: unknown config key 'model.encoder_conf.hiden'; valid keys: "
        "['bidirectional', 'dropout', 'hidden', 'num_layers']"]


def test_print_config_and_override(tmp_path):
    r = run("serkit.bin.train", "--print_config", "--model.heads.gender.weight", "0.25")
    assert r.returncode == 0
    assert "gender:\n      weight: 0.25" in r.stdout


def test_validate_data_dir_exit_codes(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "utt2spk").write_text("s1-a s1\n")
    (d / "spk2utt").write_text("s1 s1-a\n")
    (d / "wav.scp").write_text(f"s1-a {tmp_path}/nope.wav\n")
    r = run("serkit.bin.validate_data_dir", str(d))
    assert r.returncode == 1 and "wav.scp:1: audio of 's1-a' not found" in r.stderr
    r = run("serkit.bin.validate_data_dir", "--no_audio", str(d))
    assert r.returncode == 0 and "OK" in r.stdout
    r = run("serkit.bin.make_folds", "--protocol", "loso", str(tmp_path / "missing"), str(tmp_path / "f"))
    assert r.returncode == 1 and r.stderr.startswith("error: ") and "does not exist" in r.stderr
