"""snnkit uses keras-tuner through its public API only (issue #12): nothing imported
from ``keras_tuner.src`` or from any module keras-tuner does not export, no name a
public module does not export, and no private attribute or method of keras-tuner
(``oracle._save_trial``, ``TIMEOUT`` patches aside, which need ``src``) used,
overridden or reached with ``getattr``. Read from the source text; keras-tuner's
public modules and private names are read from its installed sources."""

from __future__ import annotations

import ast
import importlib.util
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KT = Path(importlib.util.find_spec("keras_tuner").submodule_search_locations[0])
REFLECTION = {"getattr", "setattr", "hasattr", "delattr"}


@lru_cache(maxsize=None)
def public_modules() -> dict[str, set[str]]:
    """``{module: names it exports}`` for keras-tuner's generated public API: its
    ``__init__.py`` and the shim packages beside ``src`` (``engine.trial``, ...)."""
    modules = {}
    for init in KT.rglob("__init__.py"):
        parts = init.parent.relative_to(KT.parent).parts
        if "src" in parts or any(p.startswith("_") for p in parts):
            continue
        names = set()
        for node in ast.parse(init.read_text()).body:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names |= {alias.asname or alias.name for alias in node.names}
            elif isinstance(node, ast.Assign):
                names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        modules[".".join(parts)] = names
    return modules


@lru_cache(maxsize=None)
def private_names() -> frozenset[str]:
    """Every private method keras-tuner's classes define and private attribute its
    code reads or sets (``_save_trial``, ``_retry_queue``, ``_display``, ...)."""
    names = set()
    for path in (KT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                names |= {n.name for n in node.body if isinstance(n, ast.FunctionDef)}
            elif isinstance(node, ast.Attribute):
                names.add(node.attr)
    return frozenset(n for n in names if n.startswith("_") and not n.startswith("__"))


def violations(source: str, where: str) -> list[str]:
    """What in ``source`` is not keras-tuner's public API."""
    public, private = public_modules(), private_names()
    found = []
    for node in ast.walk(ast.parse(source)):
        line = f"{where}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Import):
            found += [f"{line}: imports {a.name}" for a in node.names
                      if a.name.split(".")[0] == "keras_tuner" and a.name not in public]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and \
                (node.module or "").split(".")[0] == "keras_tuner":
            if node.module not in public:
                found.append(f"{line}: imports from {node.module}")
                continue
            found += [f"{line}: {node.module} does not export {a.name}" for a in node.names
                      if a.name not in public[node.module]
                      and f"{node.module}.{a.name}" not in public]
        elif isinstance(node, ast.Attribute):
            if node.attr in private:
                found.append(f"{line}: uses keras-tuner's private .{node.attr}")
            elif node.attr == "src" and isinstance(node.value, ast.Name):
                found.append(f"{line}: reaches {node.value.id}.src")
        elif isinstance(node, ast.ClassDef):
            found += [f"{line}: {node.name} overrides keras-tuner's private {n.name}"
                      for n in node.body
                      if isinstance(n, ast.FunctionDef) and n.name in private]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and \
                node.func.id in REFLECTION:
            found += [f"{line}: {node.func.id} of keras-tuner's private {a.value}"
                      for a in node.args
                      if isinstance(a, ast.Constant) and a.value in private]
    return sorted(found, key=lambda v: int(v.split(":")[1]))


def _uses_keras_tuner(path: Path) -> bool:
    return path.parts[len(ROOT.parts)] == "tuning" or "keras_tuner" in path.read_text()


def test_snnkit_uses_only_keras_tuners_public_api():
    paths = [p for folder in ("snnkit", "tuning", "backends")
             for p in sorted((ROOT / folder).rglob("*.py")) if _uses_keras_tuner(p)]
    assert any(p.name == "tuner.py" for p in paths)
    found = [v for p in paths
             for v in violations(p.read_text(), str(p.relative_to(ROOT)))]
    assert not found, "keras-tuner internals used:\n" + "\n".join(found)


def test_the_check_sees_private_use():
    public = public_modules()
    assert {"Trial", "TrialStatus"} <= public["keras_tuner.engine.trial"]
    assert "BaseTuner" in public["keras_tuner.engine.base_tuner"]
    assert "keras_tuner.src" not in public
    assert {"_save_trial", "_retry_queue", "_populate_space"} <= private_names()
    source = (
        "import keras_tuner.src.protos\n"
        "from keras_tuner.src.distribute import oracle_chief\n"
        "from keras_tuner.engine.trial import generate_trial_id\n"
        "from keras_tuner.engine.trial import Trial\n"
        "from keras_tuner import errors, synchronized\n"
        "import keras_tuner as kt\n"
        "kt.src.distribute.oracle_client.TIMEOUT = 5\n"
        "class O(kt.Oracle):\n"
        "    def _save_trial(self, trial):\n"
        "        pass\n"
        "    def save(self):\n"
        "        self._retry_queue.clear()\n"
        "getattr(oracle, '_display')\n")
    found = violations(source, "x.py")
    assert [v.split(": ", 1)[0] for v in found] == [
        "x.py:1", "x.py:2", "x.py:3", "x.py:7", "x.py:8", "x.py:12", "x.py:13"], found
    assert "does not export generate_trial_id" in found[2]
    assert "overrides keras-tuner's private _save_trial" in found[4]
