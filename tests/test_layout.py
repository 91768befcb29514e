"""The folders draw the architecture, and that is checked (issue 22).

* import-linter's contracts in pyproject.toml hold, and they fail on an upward import;
* ``device/`` holds no loose module but the entry points, ``tools/`` no loose tool and no circle;
* every repository path and tool module that README.md and docs/ name exists.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
LINT = Path(sys.executable).with_name("lint-imports")


def import_tree(dest: Path) -> Path:
    """The packages as they install (``affectedge`` with its calibration/, models/ and
    firmware_configs/ inside, and ``affectedge_tools``), copied as plain folders: import-linter
    walks folders and cannot follow setuptools' package-dir mapping of an editable install."""
    ignore = shutil.ignore_patterns("__pycache__", "*.tflite", "*.onnx", "*.npz", "static")
    shutil.copytree(REPO / "device", dest / "affectedge", ignore=ignore)
    for folder in ("calibration", "models", "firmware_configs"):
        shutil.copytree(REPO / folder, dest / "affectedge" / folder, ignore=ignore)
    shutil.copytree(REPO / "tools", dest / "affectedge_tools", ignore=ignore)
    return dest


def lint(tree: Path) -> subprocess.CompletedProcess:
    if not LINT.exists():
        pytest.fail(f"{LINT} is missing: install the test extra (import-linter)")
    return subprocess.run([str(LINT), "--no-cache", str(REPO / "pyproject.toml")], cwd=tree, capture_output=True,
                          text=True, env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"}, timeout=300)


def test_import_contracts_hold(tmp_path):
    done = lint(import_tree(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize("module, line, broken", [
    ("affectedge/core/clock.py", "from ..service import pipeline", "affectedge.core.clock -> affectedge.service.pipeline"),
    ("affectedge/perception/voice.py", "from ..publish import summaries", "affectedge.perception.voice -> affectedge.publish.summaries"),
    ("affectedge/offline/demo.py", "import affectedge_tools.bench.soak", "affectedge.offline.demo -> affectedge_tools.bench.soak"),
    ("affectedge_tools/data/face_data.py", "from ..models import convert_tfjs", "affectedge_tools.data.face_data -> affectedge_tools.models.convert_tfjs"),
])
def test_an_upward_import_breaks_a_contract(tmp_path, module, line, broken):
    tree = import_tree(tmp_path)
    with open(tree / module, "a") as f:
        f.write(f"\n{line}  # deliberate upward import\n")
    done = lint(tree)
    assert done.returncode != 0
    assert broken in done.stdout, done.stdout[-3000:]


def test_device_has_no_loose_modules():
    loose = sorted(p.name for p in (REPO / "device").glob("*.py"))
    assert loose == ["__init__.py", "__main__.py", "cli.py"]


def test_tools_have_no_loose_tool_and_no_circle():
    assert sorted(p.name for p in (REPO / "tools").glob("*.py")) == ["__init__.py"]
    # Direct imports between tool modules, read from their source; then a depth-first search.
    graph: dict[str, set[str]] = {}
    for path in (REPO / "tools").rglob("*.py"):
        mod = ".".join(path.relative_to(REPO / "tools").with_suffix("").parts)
        package = mod.rsplit(".", 1)[0] if "." in mod else ""
        targets = set()
        for dots, name in re.findall(r"^\s*from (\.+)([\w.]*) import", path.read_text(), re.M):
            base = package.split(".") if package else []
            base = base[: len(base) - (len(dots) - 1)] if len(dots) > 1 else base
            targets.add(".".join(base + ([name] if name else [])))
        for name in re.findall(r"^\s*from affectedge_tools\.([\w.]+) import", path.read_text(), re.M):
            targets.add(name)
        graph[mod] = targets
    state: dict[str, int] = {}

    def visit(m, chain):
        state[m] = 1
        for t in graph.get(m, ()):
            if state.get(t) == 1:
                pytest.fail("import circle: " + " -> ".join(chain + [m, t]))
            if t in graph and not state.get(t):
                visit(t, chain + [m])
        state[m] = 2

    for m in graph:
        if not state.get(m):
            visit(m, [])


DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
ALIASES = ("affectedge_tools", "affectedge")  # import names written as folders
TOP = ("device", "tools", "models", "firmware_configs", "calibration", "tests", "docs", "config", "packaging", ".ci")
PATH_RE = re.compile(r"(?<![\w./-])((?:%s)/[\w./-]*[\w/])" % "|".join(re.escape(t) for t in TOP + ALIASES))
TOOL_RE = re.compile(r"\baffectedge_tools(?:\.\w+)+")


def names_a_module(name: str) -> bool:
    """``affectedge_tools.bench.soak`` or ``affectedge_tools.bench.soak.main``: a module (not a bare
    subpackage), possibly followed by one attribute."""
    for candidate in (name, name.rsplit(".", 1)[0]):
        try:
            spec = importlib.util.find_spec(candidate)
        except ModuleNotFoundError:
            spec = None
        if spec is not None and spec.submodule_search_locations is None:
            return candidate == name or hasattr(importlib.import_module(candidate), name.rsplit(".", 1)[1])
    return False


def test_docs_name_only_paths_that_exist():
    missing = []
    for doc in DOCS:
        for n, line in enumerate(doc.read_text().splitlines(), 1):
            for path in PATH_RE.findall(line):
                if "*" in path or "{" in path:
                    continue
                head, _, rest = path.partition("/")
                if head in ALIASES and not rest.endswith(".py"):
                    continue  # affectedge/... is also the MQTT topic prefix
                path = {"affectedge_tools": "tools", "affectedge": "device"}.get(head, head) + "/" + rest
                if not (REPO / path).exists():
                    missing.append(f"{doc.relative_to(REPO)}:{n}: {path}")
            for name in TOOL_RE.findall(line):
                if not names_a_module(name):
                    missing.append(f"{doc.relative_to(REPO)}:{n}: {name}")
    assert not missing, "\n".join(missing)
