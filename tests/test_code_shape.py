"""The shape of the machine room: one owner of the run folder's file names, one fit loop, short
functions, benchmarks with their imports at the top of their modules, a README that lists the
modules there are."""

import ast
import inspect
import re
from pathlib import Path

from paperlib import runfolder
from paperlib.stack import StackedTrainer
from paperlib.train import Trainer

PACKAGE = Path(runfolder.__file__).parent
TOP = PACKAGE.parent
OPTIONAL = {"submitit", "umap", "IPython", "nbconvert", "google", "selenium", "torch.profiler"}


def _sources():
    return [p for p in sorted(PACKAGE.rglob("*.py"))] + [TOP / "run_all.py"]


def _string_literals(tree: ast.AST) -> list[str]:
    """Every string constant but docstrings."""
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef)) and node.body
                  and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)}
    return [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]


def test_every_run_folder_file_name_is_spelled_in_runfolder_only():
    names = set(runfolder.FILES)
    for path in _sources():
        if path.name == "runfolder.py":
            continue
        spelled = {s for s in _string_literals(ast.parse(path.read_text())) for name in names if re.search(rf"(^|/){re.escape(name)}$", s)}
        assert not spelled, f"{path.relative_to(TOP)} spells {spelled}: use paperlib.runfolder"


def test_trainer_and_stack_share_one_loop():
    for cls in (Trainer, StackedTrainer):
        source = inspect.getsource(cls)
        assert "while " not in source and "fit(self" in source, f"{cls.__name__} has a loop of its own"
    assert len(inspect.getsource(Trainer).splitlines()) <= 170


def test_no_library_function_is_long():
    long = []
    for path in _sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef) and node.end_lineno - node.lineno + 1 > 60:
                long.append(f"{path.relative_to(TOP)}:{node.name} ({node.end_lineno - node.lineno + 1} lines)")
    assert not long, long


def test_benchmarks_import_at_the_top_of_their_modules():
    local = []
    for path in sorted((PACKAGE / "bench").glob("*.py")):
        for fn in ast.walk(ast.parse(path.read_text())):
            if isinstance(fn, ast.FunctionDef):
                for node in ast.walk(fn):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        module = node.module if isinstance(node, ast.ImportFrom) else node.names[0].name
                        if not any(module == o or module.startswith(o + ".") for o in OPTIONAL):
                            local.append(f"{path.name}:{fn.name} imports {module}")
    assert not local, local


def test_the_readme_lists_the_modules_there_are():
    readme = (TOP / "README.md").read_text()
    table = readme[readme.index("## What is here"):]
    listed = set(re.findall(r"`paperlib\.([a-z_]+)`", table))
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"} | {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert listed == modules, f"README lists {sorted(listed - modules)} that do not exist and misses {sorted(modules - listed)}"
