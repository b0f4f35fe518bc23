"""The layout holds: every module imports in a fresh interpreter, the import graph (module-level and
function-level imports alike) has no cycle, and the library (zoo/, deploy/) never imports a script
(train.py, a `__main__` module, benchmarks/)."""
import ast
import subprocess
import sys

from conftest import ROOT

LIBRARY_PACKAGES = ("zoo", "deploy")


def _module_name(path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
    return ".".join(parts)


def _project_modules() -> dict:
    """{module name: path} of the library packages, train.py and benchmarks/."""
    paths = [p for pkg in LIBRARY_PACKAGES + ("benchmarks",) for p in (ROOT / pkg).rglob("*.py")]
    paths += [p for p in ROOT.glob("*.py")]
    return {_module_name(p): p for p in paths if "__pycache__" not in p.parts}


def _is_script(name: str) -> bool:
    return "." not in name and name not in LIBRARY_PACKAGES or name.endswith("__main__") or name.startswith("benchmarks")


def _imports(name: str, path, modules: dict) -> set:
    """Project modules that `name` imports anywhere in its file (resolving `from pkg import submodule`)."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name in modules}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([node.module] if node.module else []))
            for a in node.names:
                if f"{base}.{a.name}" in modules:
                    found.add(f"{base}.{a.name}")
                elif base in modules:
                    found.add(base)
    return found - {name}


def _graph() -> dict:
    modules = _project_modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_import_graph_has_no_cycle():
    graph, state, cycles = _graph(), {}, []

    def visit(node, stack):
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycles.append(" -> ".join(stack[stack.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, stack + [nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_library_never_imports_a_script():
    graph = _graph()
    edges = [f"{a} -> {b}" for a, deps in graph.items() if not _is_script(a) for b in deps if _is_script(b)]
    assert not edges, edges
    assert {"train", "deploy.__main__", "benchmarks.models"} <= {n for n in graph if _is_script(n)}
    assert "zoo.training.run" in graph and not _is_script("zoo.tools.histograms")


def test_every_module_imports_in_a_fresh_interpreter():
    names = sorted(n for n in _project_modules() if not n.startswith("benchmarks") and n != "train")
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\nprint('ok', len(sys.argv) - 1)"
    proc = subprocess.run([sys.executable, "-c", code, "train", *names], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0 and proc.stdout.strip() == f"ok {len(names) + 1}", proc.stderr[-2000:]


def test_command_lines_import_without_tensorflow():
    """`import zoo` and the commands' modules stay light: flags parse and `--help` answers before TensorFlow
    loads (tests/test_cli.py runs each command); TensorFlow comes with the first model, loss or conversion."""
    light = ["zoo", "zoo.cli", "zoo.quiet", "zoo.files", "zoo.training.run", "zoo.training.choices", "deploy.options",
             "train", "predict", "deploy.__main__", "deploy.predict", "deploy.tiling", "deploy.tiling.__main__",
             "zoo.tools.histograms", "zoo.tools.recipes"]
    code = ("import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
            "import train\ntrain.build_parser()\n"
            "print(sorted(m for m in ('tensorflow', 'tf_keras', 'keras') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code, *light], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", (proc.stdout, proc.stderr[-2000:])
