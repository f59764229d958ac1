"""The project's structural guard: no import cycle among its own modules, no function over 80 lines,
and one top-level import name, ``sepconv``, in the distribution, which holds every module and the web
page's files.

Modules are named as in the source tree: ``converter.x``, ``service.y``, ``sepconv.cli.z``; the installed
``sepconv.converter`` and ``sepconv.service`` are the same modules. Every import statement counts, in a
function or under ``if TYPE_CHECKING:`` too: each is a dependency of the design, run or not.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("converter", "service", "sepconv")
MAPPED = ("converter", "service")  # installed as sepconv.converter, sepconv.service
MAX_LINES = 80

# -- helpers (tested below on small trees) -----------------------------------------------------------------------


def module_files(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """Module name -> file, for every .py under the given top-level folders."""
    out = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def normalise(name: str) -> str:
    for pkg in MAPPED:
        if name == f"sepconv.{pkg}" or name.startswith(f"sepconv.{pkg}."):
            return name[len("sepconv."):]
    return name


def imported_names(name: str, path: Path) -> list[tuple[str, int]]:
    """(absolute dotted name, line) for every import in the file, by line; ``from a import b`` yields a.b."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out += [(normalise(alias.name), node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            out += [(normalise(f"{base}.{alias.name}"), node.lineno) for alias in node.names]
    return sorted(out, key=lambda item: item[1])


def import_graph(root: Path, packages=PACKAGES) -> dict[str, dict[str, str]]:
    """module -> {imported project module: 'file:line' of its first import there}."""
    files = module_files(root, packages)
    graph: dict[str, dict[str, str]] = {m: {} for m in files}
    for mod, path in files.items():
        for target, line in imported_names(mod, path):
            while target and target not in files:  # a name in a module, or a submodule: the longest module
                target = target.rpartition(".")[0]
            if target and target != mod:
                graph[mod].setdefault(target, f"{path.relative_to(root)}:{line}")
    return graph


def strongly_connected(graph: dict[str, dict[str, str]]) -> list[list[str]]:
    """Tarjan's components with more than one module, each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while not comp or comp[-1] != v:
                comp.append(stack.pop())
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def describe_cycle(graph: dict[str, dict[str, str]], comp: list[str]) -> str:
    """One cycle through the component's first module, each step with the import that makes it."""
    start, members = comp[0], set(comp)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                path = paths[v] + [start]
                return " -> ".join(f"{a} ({graph[a][b]})" for a, b in zip(path, path[1:])) + f" -> {start}"
            if w in members and w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    raise AssertionError(f"no cycle through {start}")


def long_functions(root: Path, folders, limit: int = MAX_LINES) -> list[str]:
    out = []
    for folder in folders:
        for path in sorted((root / folder).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    lines = node.end_lineno - node.lineno + 1
                    if lines > limit:
                        out.append(f"{path.relative_to(root)}:{node.lineno} {node.name} ({lines} lines)")
    return out


def built_files(root: Path, tmp: Path) -> set[str]:
    """The files the distribution installs, as paths like ``sepconv/cli/main.py``: of its wheel (pip wheel,
    offline, no build isolation) or, where this setuptools cannot build wheels (before 70.1, without the
    ``wheel`` package), of ``build_py``'s output, which is what a wheel packs."""
    src = tmp / "src"
    anywhere = shutil.ignore_patterns("__pycache__", "*.egg-info", ".*_cache", ".hypothesis")
    at_root = shutil.ignore_patterns(".git", ".venv*", "venv", "build", "dist", "out", "tmp")

    def ignore(folder: str, names: list[str]) -> set[str]:  # a stale build/lib would leak into the wheel
        return anywhere(folder, names) | (at_root(folder, names) if Path(folder) == root else set())

    shutil.copytree(root, src, ignore=ignore)
    out = tmp / "out"
    if can_build_wheels():
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q",
               "-w", str(out), str(src)]
    else:
        cmd = [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py", "--build-lib",
               str(out)]
    done = subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    wheels = list(out.glob("*.whl"))
    if wheels:
        assert len(wheels) == 1, wheels
        return {n for n in zipfile.ZipFile(wheels[0]).namelist() if not n.endswith("/")}
    return {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}


def top_level_names(files: set[str]) -> set[str]:
    """The top-level entries among installed files (the ``.dist-info`` aside)."""
    return {n.split("/")[0] for n in files} - {n.split("/")[0] for n in files if ".dist-info/" in n}


def source_files(root: Path) -> set[str]:
    """What the distribution must install, as installed paths: every module of ``converter``, ``service`` and
    ``sepconv``, the report's schema and the web page's files."""
    out = {f"sepconv/{p.relative_to(root).as_posix()}" for pkg in MAPPED for p in (root / pkg).rglob("*.py")}
    out |= {p.relative_to(root).as_posix() for p in (root / "sepconv").rglob("*.py")}
    out |= {f"sepconv/{p.relative_to(root).as_posix()}" for p in (root / "service" / "http" / "static").rglob("*")
            if p.is_file()}
    return out | {"sepconv/converter/report_schema.json"}


def can_build_wheels() -> bool:
    if importlib.util.find_spec("wheel") is not None:
        return True
    major, minor = (int(x) for x in importlib.metadata.version("setuptools").split(".")[:2])
    return (major, minor) >= (70, 1)


# -- the project ---------------------------------------------------------------------------------------------------


def test_no_import_cycle():
    graph = import_graph(ROOT)
    assert len(graph) > 20 and "converter.methods.base" in graph["converter.methods.spatial"]
    cycles = strongly_connected(graph)
    assert not cycles, "import cycles:\n" + "\n".join(
        f"{', '.join(c)}\n    e.g. {describe_cycle(graph, c)}" for c in cycles)


def test_no_long_function():
    offenders = long_functions(ROOT, ("converter", "service", "sepconv/cli"))
    assert not offenders, f"functions over {MAX_LINES} lines:\n" + "\n".join(offenders)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> set[str]:
    return built_files(ROOT, tmp_path_factory.mktemp("dist"))


def test_distribution_installs_only_sepconv(built):
    assert top_level_names(built) == {"sepconv"}


def test_distribution_installs_every_module_and_the_web_page(built):
    """The packages list in pyproject.toml is explicit: a subpackage left out of it would be missing here."""
    expected = source_files(ROOT)
    assert len(expected) > 60 and "sepconv/service/http/static/index.html" in expected
    assert not expected - built, f"not in the distribution: {sorted(expected - built)}"


def test_version_is_the_distribution_version():
    import sepconv

    assert sepconv.__version__ == importlib.metadata.version("sepconv")


def test_top_level_names_are_the_librarys():
    """``sepconv.X`` is ``sepconv.converter.X`` for every public name of the library, and every
    ``sepconv.X`` the README's Python section names exists."""
    import sepconv

    lib = sepconv.converter
    assert sorted(sepconv.__all__) == sorted(lib.__all__)
    for name in lib.__all__:
        assert getattr(sepconv, name) is getattr(lib, name), name
    section = (ROOT / "README.md").read_text(encoding="utf-8").partition("## The Python library")[2]
    section = section.split("\n## ", 1)[0]
    named = set(re.findall(r"\bsepconv\.([A-Za-z_]\w*)", section)) - {"converter", "service", "cli"}
    assert {"OptionError", "SepconvError", "ConvertOptions", "convert_file"} <= named
    assert not [n for n in sorted(named) if not hasattr(sepconv, n)]
    for name in ("OptionError", "load_npz", "prepare_inputs", "Limits", "convert_model", "benchmark"):
        assert name in sepconv.__all__


# -- the helpers, on small trees -------------------------------------------------------------------------------


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


GOOD = {
    "converter/__init__.py": "from .a import run\nfrom . import methods\n",
    "converter/a.py": "import numpy\nfrom .methods import base\nfrom .methods.base import Thing\n",
    "converter/methods/__init__.py": "from .base import Thing\n",
    "converter/methods/base.py": "import os.path\nfrom ..util import helper\n",
    "converter/util.py": "def helper():\n    return 1\n",
    "service/app.py": "from sepconv.converter.a import run\nfrom sepconv import converter\n",
    "sepconv/__init__.py": "from .converter import run\n",
    "sepconv/cli/main.py": "from .. import converter\nfrom sepconv.service.app import run\n",
}


def test_graph_of_a_good_tree(tmp_path):
    graph = import_graph(write_tree(tmp_path, GOOD))
    assert graph["converter.a"] == {"converter.methods.base": "converter/a.py:2"}
    assert set(graph["converter.methods.base"]) == {"converter.util"}
    assert set(graph["converter"]) == {"converter.a", "converter.methods"}
    assert set(graph["service.app"]) == {"converter.a", "converter"}
    assert set(graph["sepconv.cli.main"]) == {"converter", "service.app"}
    assert set(graph["sepconv"]) == {"converter"}
    assert strongly_connected(graph) == []


@pytest.mark.parametrize(("name", "text", "cycle"), [
    ("converter/util.py", "def helper():\n    from .a import run\n",
     ["converter.a", "converter.methods.base", "converter.util"]),
    ("converter/util.py", "def helper():\n    from sepconv.converter.methods import base\n",
     ["converter.methods.base", "converter.util"]),
    ("converter/methods/base.py", "from .. import util, a\n", ["converter.a", "converter.methods.base"]),
    ("converter/util.py", "from sepconv.service import app\n",
     ["converter", "converter.a", "converter.methods", "converter.methods.base", "converter.util", "service.app"]),
])
def test_graph_of_a_bad_tree(tmp_path, name, text, cycle):
    assert strongly_connected(import_graph(write_tree(tmp_path, {**GOOD, name: text}))) == [cycle]


def test_a_cycle_is_described_with_its_imports(tmp_path):
    graph = import_graph(write_tree(tmp_path, {**GOOD, "converter/methods/base.py": "from .. import util, a\n"}))
    assert describe_cycle(graph, ["converter.a", "converter.methods.base"]) == (
        "converter.a (converter/a.py:2) -> converter.methods.base (converter/methods/base.py:1) -> converter.a")


def test_long_functions_of_a_tree(tmp_path):
    def body(indent: str) -> str:
        return "".join(f"{indent}x{i} = {i}\n" for i in range(78))

    write_tree(tmp_path, {
        "converter/ok.py": f"def at_limit():\n{body('    ')}    return 0\n",  # 80 lines
        "service/bad.py": f"class C:\n    @property\n    async def over(self):\n{body(' ' * 8)}\n        return 0\n",
        "sepconv/cli/main.py": f"def outer():\n    def inner():\n{body(' ' * 8)}        return 0\n    return inner\n",
    })
    assert long_functions(tmp_path, ("converter", "service", "sepconv/cli")) == [
        "service/bad.py:3 over (81 lines)", "sepconv/cli/main.py:1 outer (82 lines)"]


def test_top_level_names_of_a_project(tmp_path):
    project = write_tree(tmp_path / "project", {
        "pyproject.toml": '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
                          '[project]\nname = "demo"\nversion = "1.0"\n'
                          '[tool.setuptools]\npackages = ["sepconv", "helpers"]\n',
        "sepconv/__init__.py": "",
        "helpers/__init__.py": "",
    })
    assert top_level_names(built_files(project, tmp_path / "work")) == {"sepconv", "helpers"}
