"The package's modules import only downward: no import cycle (imports inside functions included), the core at the bottom, the command line on top."
import ast, pathlib
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "emtheory"

def _modules()->dict:
    "{module name: file} of every module of the package (the generated _modidx aside)."
    mods = {}
    for f in sorted(ROOT.rglob("*.py")):
        if f.name == "_modidx.py": continue
        parts = f.with_suffix("").relative_to(ROOT.parent).parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = f
    return mods

def _imports(mods:dict, name:str)->set:
    "The package modules that module `name` imports anywhere in its text (top level, functions, methods)."
    out = set()
    for node in ast.walk(ast.parse(mods[name].read_text())):
        if isinstance(node, ast.Import): cands = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            pkg = name.split(".") if mods[name].name == "__init__.py" else name.split(".")[:-1]
            base = ".".join((pkg[:len(pkg) - node.level + 1] if node.level else []) + ([node.module] if node.module else []))
            cands = [base] + [f"{base}.{a.name}" for a in node.names]
        else: continue
        out |= {c for c in cands if c in mods and c != name}
    return out

def import_graph()->dict:
    "{module: the package modules it imports}."
    mods = _modules()
    return {m: _imports(mods, m) for m in mods}

def cycles(graph:dict)->list:
    "The strongly connected components with more than one module (Tarjan), each sorted."
    index, low, stack, on, out = {}, {}, [], set(), []
    def visit(v):
        index[v] = low[v] = len(index); stack.append(v); on.add(v)
        for w in graph[v]:
            if w not in index: visit(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1 or v in graph[v]: out.append(sorted(comp))
    for v in graph:
        if v not in index: visit(v)
    return out

def test_cycle_detector_finds_a_planted_cycle():
    "The check can fail: a graph with a cycle through three modules is reported, an acyclic one is not."
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": set()}) == []

def test_no_import_cycle():
    "Every import of every module, in functions too: the package's import graph has no cycle."
    assert cycles(import_graph()) == []

def test_core_at_the_bottom_and_command_line_on_top():
    "The core imports no other module of the package; nothing imports the command line."
    g = import_graph()
    assert g["emtheory.core"] == set()
    assert not [m for m, deps in g.items() if "emtheory.cli" in deps and m != "emtheory.__main__"]

def test_package_exports_every_estimator():
    "from emtheory import GaussianMixtureEM, ...: the package face re-exports the public estimators."
    import emtheory
    from emtheory.estimator import MixtureEstimator
    for name in ("GaussianMixtureEM", "GaussianMixtureMAP", "GaussianMixtureCAVI", "GaussianMixtureMCEM",
                 "ExpFamilyMixtureEM", "ExpFamilyMixtureMAP", "GammaMixtureGEM", "PPCA", "RandomInterceptGLMM", "FactorAnalysisEM", "VAE", "select_mixture"):
        assert hasattr(emtheory, name), name
    assert issubclass(emtheory.GaussianMixtureEM, MixtureEstimator)
