"""Scoring across folds: pooled vs mean ± std on hand-made predictions; RESULTS.md sections."""
import shutil
import subprocess

import pytest

from serkit.scoring import environment_info, format_markdown, score_folds, update_results_md
from serkit.errors import SerkitError


def write_pred(path, rows, classes=("ang", "neu")):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = ["\t".join(["utt", "gold", "pred"] + [f"p_{c}" for c in classes])]
    for utt, gold, pred in rows:
        probs = ["1.0" if c == pred else "0.0" for c in classes]
        lines.append("\t".join([utt, gold, pred] + probs))
    path.write_text("\n".join(lines) + "\n")
    return path


def test_pooled_and_mean_std(tmp_path):
    # fold1: 3/4 correct; fold2: 1/2 correct
    f1 = write_pred(tmp_path / "f1.tsv", [("a", "ang", "ang"), ("b", "ang", "ang"), ("c", "neu", "ang"),
                                         ("d", "neu", "neu")])
    f2 = write_pred(tmp_path / "f2.tsv", [("e", "ang", "neu"), ("f", "neu", "neu")])
    r = score_folds({"fold1": f1, "fold2": f2})
    assert r["folds"]["fold1"]["wa"] == pytest.approx(0.75)
    assert r["folds"]["fold1"]["ua"] == pytest.approx((1.0 + 0.5) / 2)
    assert r["folds"]["fold2"]["ua"] == pytest.approx((0.0 + 1.0) / 2)
    assert r["pooled"]["wa"] == pytest.approx(4 / 6)          # sum correct / N total
    assert r["pooled"]["ua"] == pytest.approx((2 / 3 + 2 / 3) / 2)
    assert r["mean_std"]["wa"]["mean"] == pytest.approx((0.75 + 0.5) / 2)
    assert r["mean_std"]["wa"]["std"] == pytest.approx(0.125)
    assert r["pooled"]["confusion"] == [[2, 1], [1, 2]]
    md = format_markdown(r, "blstm", "random", speaker_dependent=True)
    assert "protocol: random (SPEAKER-DEPENDENT)" in md
    assert "| **pooled** | 6 | 66.67 | 66.67 |" in md
    assert "| ang | 2 (66.7) | 1 (33.3) |" in md


def test_mismatched_classes_and_bad_files(tmp_path):
    f1 = write_pred(tmp_path / "f1.tsv", [("a", "ang", "ang")])
    f2 = write_pred(tmp_path / "f2.tsv", [("a", "sad", "sad")], classes=("sad", "neu"))
    with pytest.raises(SerkitError, match="differ from the other folds"):
        score_folds({"fold1": f1, "fold2": f2})
    bad = tmp_path / "bad.tsv"
    bad.write_text("utt\tgold\tpred\tp_ang\na\tang\n")
    with pytest.raises(SerkitError, match=r"bad.tsv:2: expected 4 columns, got 2"):
        score_folds({"fold1": bad})


def test_results_md_sections_are_replaced_not_duplicated(tmp_path):
    p = tmp_path / "RESULTS.md"
    update_results_md(p, "## a\n\nfirst\n", "a")
    update_results_md(p, "## b\n\nother\n", "b")
    update_results_md(p, "## a\n\nsecond\n", "a")
    text = p.read_text()
    assert text.count("## a") == 1 and "second" in text and "first" not in text and "## b" in text


def _write_sections(args):
    path, worker = args
    for k in range(10):
        update_results_md(path, f"## w{worker}-{k}\n\nfrom {worker}\n", f"w{worker}-{k}")


def test_results_md_concurrent_writers_lose_no_section(tmp_path):
    # recipes score folds, seeds and several run_*.sh side by side into one RESULTS.md
    import multiprocessing as mp
    p = tmp_path / "RESULTS.md"
    with mp.get_context("fork").Pool(6) as pool:
        pool.map(_write_sections, [(p, w) for w in range(6)])
    text = p.read_text()
    assert sum(line.startswith("## w") for line in text.splitlines()) == 60
    assert all(f"## w{w}-{k}\n\nfrom {w}\n" in text for w in range(6) for k in range(10))
    assert sorted(f.name for f in tmp_path.iterdir()) == [".RESULTS.md.lock", "RESULTS.md"]   # no temp file left


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_commit_is_dirty_for_code_changes_not_for_results_md(tmp_path, monkeypatch):
    # stage 4 appends to the recipe's RESULTS.md: its own output must not mark the next section "-dirty"
    recipe = tmp_path / "egs" / "x"
    recipe.mkdir(parents=True)
    (tmp_path / "model.py").write_text("a = 1\n")
    (recipe / "RESULTS.md").write_text("# RESULTS\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run(git + ["init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(git + ["add", "."], cwd=tmp_path, check=True)
    subprocess.run(git + ["commit", "-qm", "init"], cwd=tmp_path, check=True)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=tmp_path, capture_output=True,
                          text=True, check=True).stdout.strip()
    monkeypatch.chdir(recipe)
    update_results_md(recipe / "RESULTS.md", "## a\n\nfirst\n", "a")
    assert environment_info()["git commit"] == head
    (tmp_path / "model.py").write_text("a = 2\n")
    assert environment_info()["git commit"] == head + "-dirty"
