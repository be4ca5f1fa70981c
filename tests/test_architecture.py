"""The house keeps its shape: layers import only from below (import-linter contracts in
pyproject.toml), no cycles, models read no files, the pipeline knows no family, function-level
imports only defer heavy dependencies, files and functions stay small, and inference never loads
Lightning."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "synesthesia"
ROOT = SRC.parents[1]
# third-party packages slow to import or needed by one command only: imported where they are used
HEAVY = ("lightning", "matplotlib", "torchmetrics", "tensorboard", "imageio", "imageio_ffmpeg", "soundfile", "tokenizers",
         "scipy", "pyarrow", "webdataset", "fastapi", "gradio", "uvicorn", "playwright", "httpx")
MAX_FILE_LINES, MAX_FUNCTION_LINES = 400, 60


def _modules() -> dict[str, ast.Module]:
    out = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC.parent).with_suffix("")
        name = ".".join(rel.parts[:-1] if rel.name == "__init__" else rel.parts)
        out[name] = ast.parse(path.read_text(), str(path))
    return out


def _imported(node: ast.AST) -> str:
    return node.module if isinstance(node, ast.ImportFrom) else node.names[0].name


def _top_level_imports(tree: ast.Module) -> set[str]:
    return {_imported(n) for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))}


def _heavy_modules(modules: dict[str, ast.Module]) -> set[str]:
    """Our modules that load a heavy dependency when imported (directly or through another)."""
    heavy = {m for m, t in modules.items() if any(i.split(".")[0] in HEAVY for i in _top_level_imports(t))}
    changed = True
    while changed:
        changed = False
        for m, t in modules.items():
            if m not in heavy and any(i in heavy for i in _top_level_imports(t)):
                heavy.add(m)
                changed = True
    return heavy


def test_import_linter_contracts_hold():
    """Every layer imports only from the layers below it, and no package's modules form a cycle."""
    lint = Path(sys.executable).parent / "lint-imports"
    proc = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "2 kept, 0 broken" in proc.stdout


def test_function_level_imports_only_defer_heavy_dependencies():
    modules = _modules()
    heavy = _heavy_modules(modules)
    wrong = []
    for name, tree in modules.items():
        if name.startswith("synesthesia.cli") or name == "synesthesia":
            continue                          # commands load what they run; load() is lazy
        for fn in (n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            for node in (n for n in ast.walk(fn) if isinstance(n, (ast.Import, ast.ImportFrom))):
                target = _imported(node)
                if target.split(".")[0] not in HEAVY and target not in heavy:
                    wrong.append(f"{name}:{node.lineno} imports {target} inside {fn.name}")
    assert not wrong, "\n".join(wrong)


def test_models_read_no_files_and_the_pipeline_knows_no_family():
    modules = _modules()
    readers = {"open", "read_text", "read_bytes", "load_file", "safe_open", "safe_load", "load"}
    for name, tree in modules.items():
        if name.startswith("synesthesia.models"):
            imports = {_imported(n) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))}
            assert not imports & {"synesthesia.runs", "safetensors", "safetensors.torch", "yaml", "json"}, name
            calls = {getattr(n.func, "attr", getattr(n.func, "id", "")) for n in ast.walk(tree) if isinstance(n, ast.Call)}
            assert not calls & readers, (name, calls & readers)
        if name.startswith("synesthesia.pipeline"):
            imports = {_imported(n) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))}
            families = [i for i in imports if i.startswith("synesthesia.models.")]
            assert not families, (name, families)


def test_files_and_functions_stay_small():
    long_files, long_functions = [], []
    for path in SRC.rglob("*.py"):
        lines = path.read_text().count("\n")
        if lines > MAX_FILE_LINES:
            long_files.append(f"{path.relative_to(SRC)}: {lines}")
        for fn in (n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))):
            size = fn.end_lineno - fn.lineno + 1
            if size > MAX_FUNCTION_LINES:
                long_functions.append(f"{path.relative_to(SRC)}:{fn.name}: {size}")
    assert not long_files, long_files
    assert not long_functions, long_functions


@pytest.mark.parametrize("module", ["synesthesia.pipeline", "synesthesia.cli.generate", "synesthesia.runs"])
def test_inference_loads_no_lightning(module):
    code = (f"import sys, {module}\n"
            "import synesthesia.cli as cli; cli.build_parser()\n"
            "bad = [m for m in ('lightning', 'matplotlib', 'tensorboard', 'torchmetrics') if m in sys.modules]\n"
            "print(','.join(bad))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "", f"{module} loads {proc.stdout.strip()}"


def test_a_generate_command_loads_no_lightning(tiny_run, tmp_path):
    """A whole ``synesthesia generate`` (image in, text out), not only its imports: the run is
    loaded, the model runs and a file is written, all without the training stack."""
    import numpy as np
    from PIL import Image

    size = 16
    image = tmp_path / "in.png"
    Image.fromarray(np.full((size, size, 3), 200, dtype=np.uint8)).save(image)
    out = tmp_path / "out"
    code = ("import sys\nfrom synesthesia.cli import main\n"
            f"rc = main(['generate', {str(tiny_run)!r}, '--to', 'text', '--image', {str(image)!r}, '--out', {str(out)!r}])\n"
            "bad = [m for m in ('lightning', 'matplotlib', 'tensorboard', 'torchmetrics') if m in sys.modules]\n"
            "print('RC', rc, 'HEAVY', ','.join(bad))\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    last = proc.stdout.strip().splitlines()[-1]
    assert last == "RC 0 HEAVY", last
    assert list(out.glob("text-*.txt")), "generate wrote no text"
