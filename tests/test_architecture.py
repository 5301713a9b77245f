"""ARCHITECTURE.md's layer table is the rule: every package module sits in exactly
one layer, and imports (at module level or inside functions) go to the same layer or
one below it. Read from the source text, nothing is imported."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# what the pure-Python folders never import, at any depth
HEAVY = ("tensorflow", "keras", "nengo", "nengo_dl", "nengo_loihi")
PURE_FOLDERS = ("snnkit/keras/", "snnkit/network/")
PACKAGES = {"snnkit": "snnkit", "snnkit.backends": "backends", "snnkit.tuning": "tuning"}
# exports names lazily by string (PEP 562): it belongs to no layer
EXEMPT = {"snnkit/__init__.py"}


def _layers() -> list[tuple[str, list[str]]]:
    """``[(layer, [path or folder/, ...])]`` from the table, top layer first."""
    rows = []
    for line in (ROOT / "ARCHITECTURE.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 3 and "`" in cells[1]:
            rows.append((cells[0], re.findall(r"`([^`]+)`", cells[1])))
    return rows


def _package_files() -> list[str]:
    """Every module of the packages, those of subpackages (``snnkit/bench/``) too."""
    return sorted(str(path.relative_to(ROOT)) for folder in PACKAGES.values()
                  for path in (ROOT / folder).rglob("*.py")
                  if ".venv" not in path.parts and "__pycache__" not in path.parts)


def _rank_of_files() -> dict[str, tuple[int, str]]:
    """``{file: (rank, layer)}``; rank 0 is the top; a listed file wins over its
    folder, a folder over the folder it is in."""
    ranks, by_folder = {}, {}
    for rank, (layer, paths) in enumerate(_layers()):
        for path in paths:
            (by_folder if path.endswith("/") else ranks)[path] = (rank, layer)
    for path in _package_files():
        folders = [f for f in by_folder if path.startswith(f)]
        if path not in ranks and folders:
            ranks[path] = by_folder[max(folders, key=len)]
    return ranks


def _file_of(module: str) -> str | None:
    for package, folder in sorted(PACKAGES.items(), key=lambda kv: -len(kv[0])):
        if module == package:
            return f"{folder}/__init__.py"
        if module.startswith(package + "."):
            rest = module[len(package) + 1:].replace(".", "/")
            for path in (f"{folder}/{rest}.py", f"{folder}/{rest}/__init__.py"):
                if (ROOT / path).is_file():
                    return path
            return None
    return None


def _imports(path: str) -> set[str]:
    """Package files that ``path`` imports (``if TYPE_CHECKING`` blocks skipped)."""
    folder, *inner = path.split("/")[:-1]
    package = ".".join([next(p for p, f in PACKAGES.items() if f == folder), *inner])
    tree = ast.parse((ROOT / path).read_text())
    skipped = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
               and "TYPE_CHECKING" in ast.unparse(node.test)
               for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[:len(parts) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            modules = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            continue
        for module in modules:
            target = _file_of(module)
            if target is not None and target != path:
                found.add(target)
    return found


def test_every_package_module_has_a_layer():
    ranks = _rank_of_files()
    missing = [p for p in _package_files() if p not in ranks and p not in EXEMPT]
    assert not missing, (f"modules that ARCHITECTURE.md's layer table does not place: "
                         f"{', '.join(missing)}")


def test_imports_go_down():
    ranks = _rank_of_files()
    upward = []
    for path in _package_files():
        if path in EXEMPT or path not in ranks:
            continue
        rank, layer = ranks[path]
        for target in sorted(_imports(path) - EXEMPT):
            if target in ranks and ranks[target][0] < rank:
                upward.append(f"{path} ({layer}) imports {target} ({ranks[target][1]})")
    assert not upward, "imports from a layer above:\n" + "\n".join(upward)


def test_the_check_sees_imports():
    """The parser finds relative, absolute and in-function imports."""
    assert {"snnkit/utils/stack.py", "snnkit/network/frozen.py",
            "snnkit/exceptions.py"} <= _imports("snnkit/convert/to_nengo.py")
    assert "backends/__init__.py" in _imports("snnkit/training/trainer.py")
    assert "backends/loihi/planning.py" in _imports("snnkit/cli/inspect.py")
    # a subpackage's imports of its own package and of another
    assert {"snnkit/bench/store.py", "snnkit/network/frozen.py", "backends/__init__.py"} <= \
        _imports("snnkit/bench/run.py")
    assert _rank_of_files()["snnkit/bench/run.py"][1] == "apps"
    assert _rank_of_files()["backends/loihi_fast/chip.py"][1] == "backends"
    assert [layer for layer, _ in _layers()] == ["apps", "tuning", "training", "backends",
                                                 "conversion", "network", "keras", "base"]


def _pure_files() -> list[str]:
    return [p for p in _package_files() if p.startswith(PURE_FOLDERS)]


def test_keras_and_network_import_no_heavy_stack_in_their_source():
    """No import of TensorFlow, Keras, nengo, nengo-dl or nengo-loihi, and no call
    into snnkit.utils.stack, anywhere in snnkit/keras/ and snnkit/network/ (in
    functions too), nor any import of a snnkit module outside the pure folders and
    the base layer."""
    assert len(_pure_files()) >= 10
    found = []
    for path in _pure_files():
        tree = ast.parse((ROOT / path).read_text())
        for node in ast.walk(tree):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level \
                else []
            found += [f"{path} imports {n}" for n in names if n.split(".")[0] in HEAVY]
        found += [f"{path} imports {t}" for t in _imports(path)
                  if not t.startswith(PURE_FOLDERS + ("snnkit/utils/", "snnkit/exceptions"))
                  or t == "snnkit/utils/stack.py"]
    assert not found, "\n".join(found)


def test_keras_and_network_load_without_the_heavy_stack(tmp_path):
    """In a fresh process: every module of snnkit/keras/ and snnkit/network/ imports,
    a FrozenNetwork is made, saved, loaded and summarized, a Keras configuration is
    written from layer specs, and none of the heavy packages is loaded."""
    modules = [p[:-3].replace("/", ".").removesuffix(".__init__") for p in _pure_files()]
    code = f"""
import sys, numpy as np
for m in {modules!r}:
    __import__(m)
from snnkit.keras.specs import LayerSpec, model_config
from snnkit.network.frozen import FrozenNetwork
import json
config = model_config([
    LayerSpec("InputLayer", "input", {{"batch_input_shape": [None, 4]}}),
    LayerSpec("Dense", "hidden", {{"units": 3, "activation": "relu"}}, ("input",)),
    LayerSpec("Dense", "out", {{"units": 2}}, ("hidden",)),
])
net = FrozenNetwork(model_json=json.dumps(config), neuron="loihi-relu",
                    weights={{"hidden": (np.ones((4, 3), np.float32), np.zeros(3, np.float32)),
                              "out": (np.ones((3, 2), np.float32), np.zeros(2, np.float32))}})
path = net.save({str(tmp_path / "n.snn.npz")!r})
back = FrozenNetwork.load(path)
assert back.neuron_layers == ("hidden",) and back.layer_shape("out") == (2,)
back.summary()
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
print("HEAVY", heavy)
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "HEAVY []" in proc.stdout, proc.stdout
