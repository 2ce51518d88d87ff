"""Package layout: ``import sk3dmm`` stays light (no training, no renderer) and sk3dmm's modules
import each other without a cycle."""

import ast
import subprocess
import sys
from pathlib import Path

import sk3dmm

PACKAGE_DIR = Path(sk3dmm.__file__).resolve().parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _statements(body, lazy: bool, top: bool = True):
    """The statements run when the module is imported: not function bodies (lazy imports),
    nor ``if TYPE_CHECKING:`` blocks; class bodies, ``if``/``try``/``with`` blocks are.

    ``lazy``: function bodies too, except a module's ``__getattr__`` (PEP 562 aliases of
    moved names, run only when an old name is asked for).
    """
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            if lazy and not (top and node.name == "__getattr__"):
                yield from _statements(node.body, lazy, top=False)
            continue
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            yield from _statements(node.orelse, lazy, top)
            continue
        yield node
        for field in ("body", "orelse", "finalbody", "handlers"):
            inner = getattr(node, field, None)
            if isinstance(inner, list):
                yield from _statements(inner, lazy, top=False)


def import_graph(lazy: bool = False) -> dict[str, set[str]]:
    """sk3dmm module -> the sk3dmm modules its import runs (module-level imports; with
    ``lazy``, the imports inside its functions too).

    Importing ``a.b.c`` runs ``a`` and ``a.b`` first, so they are edges too, except the
    packages the importing module is inside (already being imported).
    """
    files = {_module_name(p): p for p in PACKAGE_DIR.rglob("*.py")}
    graph = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        package = name if is_package else name.rpartition(".")[0]
        targets = set()
        for node in _statements(ast.parse(path.read_text(), str(path)).body, lazy):
            if isinstance(node, ast.Import):
                targets.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - node.level + 1]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                targets.add(source)
                targets.update(f"{source}.{a.name}" for a in node.names if f"{source}.{a.name}" in files)
        ancestors = {".".join(name.split(".")[:i]) for i in range(1, name.count(".") + 1)}
        if is_package:
            ancestors.add(name)
        edges = set()
        for t in targets:
            if t == "sk3dmm" or t.startswith("sk3dmm."):
                parts = t.split(".")
                edges.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
        graph[name] = {e for e in edges if e in files and e not in ancestors and e != name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node):
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        state[node] = 2
        path.pop()
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_import_sk3dmm_loads_no_training_and_no_renderer():
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "import sk3dmm\n"
        "t = time.perf_counter() - t\n"
        "mods = sorted(m for m in sys.modules if m.startswith('sk3dmm'))\n"
        "print(f'{t:.2f}', len(mods), *mods)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=PACKAGE_DIR.parent
    ).stdout.split()
    seconds, count, modules = float(out[0]), int(out[1]), out[2:]
    print(f"import sk3dmm: {seconds:.2f} s, {count} sk3dmm modules")
    heavy = [m for m in modules if m.split(".")[:2] in (["sk3dmm", "training"], ["sk3dmm", "render"])]
    assert heavy == [], f"import sk3dmm loads {heavy}"


def test_no_import_cycle_between_sk3dmm_modules():
    graph = import_graph()
    assert "sk3dmm.nets._embedded" in graph and "sk3dmm.nets._rnet" in graph["sk3dmm.nets._embedded"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_imports_inside_functions_make_no_cycle_either():
    """Lazy imports included (sk3dmm.nets's __getattr__ aliases left out), no module reaches
    itself: the landmarkers import the one face record (faces/_face.py), not each other."""
    graph = import_graph(lazy=True)
    assert "sk3dmm.training" in graph["sk3dmm.transformers._aggregate"]
    assert "sk3dmm.faces._face" in graph["sk3dmm.faces.landmarkers._face_alignment"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle (imports inside functions included): " + " -> ".join(cycle)


def test_the_graph_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_training_names_in_nets_are_the_training_objects():
    import sk3dmm.nets
    import sk3dmm.training

    for name in ("HybridLoss", "TrainConfig", "render_training_crops", "fine_tune_rnet"):
        assert getattr(sk3dmm.nets, name) is getattr(sk3dmm.training, name)
        assert name in dir(sk3dmm.nets)
    from sk3dmm.nets import HybridLoss

    assert HybridLoss is sk3dmm.training.HybridLoss
    try:
        sk3dmm.nets.no_such_name  # noqa: B018
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("sk3dmm.nets.no_such_name should raise AttributeError")


BENCHMARKS_DIR = Path(__file__).resolve().parents[1] / "benchmarks"


def private_sk3dmm_imports(source: str) -> list[str]:
    """The imports of ``source`` (anywhere in it, function bodies included) that reach into
    sk3dmm's private parts: a module path with a component starting with ``_``, or a
    ``_``-prefixed name imported from an sk3dmm module."""

    def private(path: str) -> bool:
        return any(part.startswith("_") for part in path.split("."))

    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [
                f"import {a.name}" for a in node.names if a.name.split(".")[0] == "sk3dmm" and private(a.name)
            ]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module.split(".")[0] == "sk3dmm":
            names = [a.name for a in node.names]
            if private(node.module) or any(n.startswith("_") for n in names):
                found.append(f"from {node.module} import {', '.join(names)}")
    return found


def test_benchmarks_use_public_api_only():
    """The benchmarks measure what users get: they import only sk3dmm's public names."""
    files = sorted(BENCHMARKS_DIR.glob("*.py"))
    assert files, f"no benchmarks under {BENCHMARKS_DIR}"
    offenders = [
        f"{f.name}:{line}" for f in files for line in private_sk3dmm_imports(f.read_text(encoding="utf-8"))
    ]
    assert offenders == [], "benchmarks import private sk3dmm modules or names: " + "; ".join(offenders)


def test_private_imports_are_seen():
    source = (
        "import sk3dmm.nets._rnet_io\n"
        "from sk3dmm.transformers._reconstruct import photo_crop_spec\n"
        "from sk3dmm.fitting import _camera\n"
        "from sk3dmm import Reconstruct3DMM\n"
        "from _report import write_report\n"
        "import numpy._core\n"
        "def f():\n"
        "    from sk3dmm.pipeline._cache import RESULTS\n"
    )
    assert private_sk3dmm_imports(source) == [
        "import sk3dmm.nets._rnet_io",
        "from sk3dmm.transformers._reconstruct import photo_crop_spec",
        "from sk3dmm.fitting import _camera",
        "from sk3dmm.pipeline._cache import RESULTS",
    ]
