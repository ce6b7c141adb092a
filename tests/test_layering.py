"""Layers point one way: no import circle in serkit/, and the config, data and scoring layers
load without the models (scoring: without torch)."""
import ast
import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "serkit"


def module_name(path: Path) -> str:
    parts = path.relative_to(PKG.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph() -> dict:
    """serkit module -> the serkit modules it imports (at module level or inside functions)."""
    modules = {module_name(p): p for p in PKG.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # "from serkit.data import augment" imports the module serkit.data.augment
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules else node.module
                           for a in node.names]
            else:
                continue
            deps |= {t for t in targets if t in modules and t != name}
        graph[name] = deps
    return graph


def find_cycle(graph: dict):
    state, stack = {}, []

    def visit(n):
        state[n] = "open"
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == "open":
                return stack[stack.index(m):] + [m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        state[n] = "done"
        stack.pop()
        return None

    for n in sorted(graph):
        if n not in state:
            found = visit(n)
            if found:
                return found
    return None


def test_no_import_circle():
    graph = import_graph()
    assert "serkit.config" in graph and graph["serkit.models.registry"]   # the graph is read
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))


def test_find_cycle_finds_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def loaded_after(*modules: str) -> set:
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "print(' '.join(sorted(sys.modules)))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(r.stdout.split())


def test_config_and_data_load_without_models():
    mods = loaded_after("serkit.config", "serkit.data.datadir", "serkit.data.folds", "serkit.data.labels",
                        "serkit.data.dataset", "serkit.data.augment", "serkit.data.sampler")
    assert "serkit.data.dataset" in mods
    assert not [m for m in mods if m.startswith("serkit.models")]


def test_scoring_loads_without_models_or_torch():
    mods = loaded_after("serkit.scoring", "serkit.predictions", "serkit.bin.score")
    assert "serkit.scoring" in mods
    assert not [m for m in mods if m.startswith("serkit.models") or m == "torch"]


def test_recipe_questions_and_scoring_run_without_torch():
    """ser.sh asks serkit.bin.query on every run and stage 4 scores: importing torch would cost
    seconds each time. The answers must still be right."""
    recipe = PKG.parent / "egs" / "emodb" / "conf"
    code = ("import sys\nfrom serkit.bin.query import answer\nfrom serkit.scoring import environment_info\n"
            f"print(answer(['kind', '{recipe}/classical_svm.yaml']), answer(['kind', '{recipe}/train_resnet.yaml']))\n"
            f"print(answer(['value', '{recipe}/classical_svm.yaml', 'data.cmvn', '--data.cmvn', 'global']))\n"
            f"print(answer(['value', '{recipe}/train_fop_finetune.yaml', 'model.encoder']))\n"
            f"print(answer(['value', '{recipe}/train_resnet.yaml', 'train.max_epochs', '--train.max_epochs', '7']))\n"
            "print(environment_info()['torch'])\nprint('torch' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    out = r.stdout.split("\n")
    assert out[:4] == ["classical neural", "global", "pretrained", "7"]
    import torch

    assert out[4] == torch.__version__ and out[5] == "False"
