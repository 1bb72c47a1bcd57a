"""The house rules of the code, read from the source: no import cycles, no long files, the boundaries, one writer,
one training run, and the README's map of the tree."""
from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("vae", "pages")
MAX_LINES = 400
SOURCE_SUFFIXES = (".py", ".js", ".css")


def python_files(*folders: str) -> list[Path]:
    return sorted(path for folder in folders for path in (ROOT / folder).rglob("*.py"))


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path) -> set[str]:
    """Every module name an import in ``path`` may load, at any depth (inside functions too), relative ones resolved."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    return imports_in(path.read_text(), package)


def imports_in(source: str, package: str) -> set[str]:
    """The module names the imports of ``source``, a module of ``package``, may load (``from a import b``: a and a.b)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            names |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    return names


def import_graph() -> dict[str, set[str]]:
    """Module -> the project's modules it imports. Edges into the package roots are left out: ``vae`` and
    ``pages`` re-export lazily (vae/__init__.py imports its names only for type checkers)."""
    modules = {module_name(path): path for path in python_files(*PACKAGES)}
    return {name: {other for other in imported_names(path) if other in modules and other != name} - set(PACKAGES)
            for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_loop_through_an_import_inside_a_function():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_imports_inside_functions_and_relative_imports_are_read():
    source = "def late():\n    from vae.io.checkpoints import read_checkpoint\n\nfrom . import schema\nfrom ..data import npz\n"
    assert imports_in(source, "vae.io") >= {"vae.io.checkpoints", "vae.io.schema", "vae.data.npz"}
    assert "vae.io.checkpoints" in imported_names(ROOT / "vae" / "io" / "listing.py")  # inside a function there


def test_no_import_cycles_in_vae_and_pages():
    assert cycles(import_graph()) == []


def test_no_file_in_vae_or_pages_is_over_400_lines():
    lengths = {str(path.relative_to(ROOT)): len(path.read_text().splitlines())
               for folder in PACKAGES for path in (ROOT / folder).rglob("*") if path.suffix in SOURCE_SUFFIXES}
    assert {name: count for name, count in lengths.items() if count > MAX_LINES} == {}
    assert len(lengths) > 50  # the walk found the tree


def importers_of(roots: tuple[str, ...], files: list[Path]) -> list[str]:
    return [str(path.relative_to(ROOT)) for path in files
            if any(name.split(".")[0] in roots for name in imported_names(path))]


def test_vae_never_imports_streamlit():
    assert importers_of(("streamlit",), python_files("vae")) == []


def test_pages_never_import_torch():
    assert importers_of(("torch", "torchvision"), [*python_files("pages"), ROOT / "app.py"]) == []


def test_pages_reach_the_model_side_one_way():
    """Pages and app.py write ``import vae`` and use ``vae.<name>``: no ``from vae... import`` of a module inside."""
    deep = {str(path.relative_to(ROOT)): sorted(name for name in imported_names(path) if name.startswith("vae."))
            for path in [*python_files("pages"), ROOT / "app.py"]}
    assert {path: names for path, names in deep.items() if names} == {}


def test_benchmarks_import_nothing_from_tests():
    assert importers_of(("tests", "conftest"), python_files("benchmarks")) == []


WRITER_CALLS = re.compile(r"\bos\.(replace|rename|fsync)\(|\b(NamedTemporaryFile|mkstemp)\(")


def test_only_vae_files_writes_atomically():
    """One atomic writer (vae/files.py): no other module renames temp files into place or fsyncs them."""
    writers = [str(path.relative_to(ROOT)) for path in python_files(*PACKAGES)
               if WRITER_CALLS.search(path.read_text())]
    assert writers == ["vae/files.py"]


def callers_of(function: str) -> set[str]:
    """The modules of vae and pages that call ``function`` by its name, or as ``vae.<function>`` (other objects'
    methods of the same name, such as scikit-learn's ``fit``, are not it)."""
    found = set()
    for path in python_files(*PACKAGES):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            by_name = isinstance(func, ast.Name) and func.id == function
            by_api = isinstance(func, ast.Attribute) and func.attr == function and getattr(func.value, "id", "") == "vae"
            if by_name or by_api:
                found.add(module_name(path))
    return found


def test_one_training_run_serves_the_command_line_and_the_app():
    assert callers_of("run_training") == {"vae.__main__", "vae.training.worker"}  # the app runs it in a process
    assert callers_of("train_model") == {"vae.training.run"}
    assert callers_of("fit") == {"vae.training.loop"}
    assert callers_of("check_codes") == {"vae.training.run"}  # a useless run is judged in one place


# ---------------------------------------------------------------- the README's "What is where"


def where_rows() -> list[tuple[str, str]]:
    """(first column, second column) of each row of the README's "What is where" table."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## What is where", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|", 1) for line in section.splitlines() if line.startswith("| `")]
    return [(first.strip(), second.strip()) for first, second in rows]


def named_paths() -> set[Path]:
    """Every path the table names: the first column from the project root, the second from the first's folder."""
    paths = set()
    for first, second in where_rows():
        folder = ROOT / re.findall(r"`([^`]+)`", first)[0]
        base = folder if first.endswith("/`") else folder.parent
        paths.add(folder)
        for name in re.findall(r"`([^`]+)`", second):
            if re.fullmatch(r"[\w./-]+\.(py|js|css|svg|sh)|[\w./-]+/", name):
                paths.add(ROOT / name if "/" in name.rstrip("/") else base / name)
    return paths


def test_every_path_the_readme_names_exists():
    missing = sorted(str(path.relative_to(ROOT)) for path in named_paths() if not path.exists())
    assert missing == []


def listed_in_readme(path: Path) -> bool:
    """Whether the README's table must name ``path``: every module, script, style sheet, icon and subfolder
    (a package's __init__.py only for vae itself, the public API)."""
    if path.name == "__init__.py":
        return path.parent == ROOT / "vae"
    return path.suffix in (*SOURCE_SUFFIXES, ".svg") or (path.is_dir() and path.name != "__pycache__")


@pytest.mark.parametrize("folder", ["pages", "pages/common", "vae", "vae/data", "vae/models", "vae/io", "vae/training",
                                    "vae/analysis"])
def test_the_readme_names_every_module_of_each_folder(folder):
    files = {path for path in (ROOT / folder).iterdir() if listed_in_readme(path)}
    assert sorted(str(path.relative_to(ROOT)) for path in files - named_paths()) == []


def tracked_text_files() -> list[Path]:
    """Every file git tracks whose name says it is text (source, scripts, docs, config)."""
    names = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    suffixes = {".py", ".js", ".css", ".md", ".sh", ".toml", ".txt", ".cfg", ".ini", ".yml", ".yaml", ".json"}
    return [ROOT / name for name in names if Path(name).suffix in suffixes or name == ".ci/run"]


def test_no_merge_conflict_markers_are_left():
    """A merge once committed README.md with its conflict markers; none may land again."""
    marker = re.compile(r"^(<{7} |>{7} |={7}$)", re.M)
    left = [str(path.relative_to(ROOT)) for path in tracked_text_files()
            if path.is_file() and marker.search(path.read_text(encoding="utf-8", errors="replace"))]
    assert left == []
