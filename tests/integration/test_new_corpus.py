"""A new corpus is local/ + conf/ only: the README's "Add a corpus" example, verbatim, on a
small generated corpus described by a manifest, through stage 0 to a scored classical system."""
import re
import subprocess

from conftest import REPO


def readme_data_sh() -> str:
    text = (REPO / "README.md").read_text()
    m = re.search(r"cat > local/data.sh <<'SH'\n(.*?)\nSH\n", text, re.S)
    assert m, "README has no 'Add a corpus' example"
    return m.group(1) + "\n"


def test_readme_example_recipe(recipe_copy, layout_corpora, tmp_path):
    recipe = recipe_copy("emodb")
    (recipe / "local" / "data.sh").write_text(readme_data_sh())
    root = tmp_path / "my corpus"
    root.mkdir()
    names = {"W": "angry", "F": "happy", "N": "neutral", "T": "sad"}   # 4 of EMO-DB's 7 emotions
    rows = ["path,speaker,emotion"]
    for wav in sorted((layout_corpora / "emodb" / "wav").glob("*.wav")):
        if wav.stem[5] in names:
            rows.append(f"{wav},{wav.stem[:2]},{names[wav.stem[5]]}")
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    r = subprocess.run(["./run.sh", "--corpus_root", str(root), "--folds", "1,2"], cwd=recipe,
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-3000:]
    data = recipe / "data" / "all"
    assert len((data / "utt2spk").read_text().splitlines()) == 40   # 10 speakers x 4 emotions
    assert (data / "emotions").read_text().split() == ["angry", "happy", "neutral", "sad"]
    assert len(list((recipe / "data" / "folds" / "loso").glob("fold*"))) == 10
    report = (data / "report" / "report.md").read_text()   # stage 0's data report: balanced, no warning
    assert "| angry | 10 |" in report and "## Warnings\n\nnone" in report
    assert (data / "report" / "label_by_speaker.png").stat().st_size > 1000
    scores = (recipe / "RESULTS.md").read_text()
    assert "## classical_svm_mfcc_prosody_loso" in scores and "| **pooled** | 8 |" in scores
