"""Packaging: the public namespace, lazy imports, and the data model without torch."""

from __future__ import annotations

import subprocess
import sys

import tubescope


def test_public_names_resolve_lazily():
    assert tubescope.Tube.__name__ == "Tube"
    assert tubescope.Video.__name__ == "Video"
    assert issubclass(tubescope.VideoError, tubescope.TubescopeError)
    assert "GroundingResult" in dir(tubescope)


def test_unknown_attribute():
    try:
        tubescope.Nope  # noqa: B018
    except AttributeError as err:
        assert "Nope" in str(err)
    else:
        raise AssertionError("expected AttributeError")


def test_data_model_imports_without_torch_or_supervision():
    code = (
        "import sys\n"
        "for name in ('torch', 'transformers', 'supervision', 'cv2', 'decord'):\n"
        "    sys.modules[name] = None\n"
        "import tubescope\n"
        "from tubescope import Tube, Track, GroundingResult\n"
        "t = Tube(0, 3, frames=[0, 2], boxes=[[0, 0, 2, 2], [2, 2, 4, 4]])\n"
        "print(t.box_at(1).tolist())\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[1.0, 1.0, 3.0, 3.0]"


def test_every_package_folder_is_listed_in_pyproject():
    """A sub-package missing from [tool.setuptools] packages is silently left out of wheels."""
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    config = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    found = set()
    for package, folder in config["package-dir"].items():
        for init in (root / folder).rglob("__init__.py"):
            parts = init.parent.relative_to(root / folder).parts
            found.add(".".join((package, *parts)))
    assert found == listed, f"not listed: {sorted(found - listed)}; listed but missing: {sorted(listed - found)}"


def _imported_top_level_modules() -> dict[str, str]:
    """Top-level modules the package source imports (``import x`` / ``from x import``), with one file each."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    found: dict[str, str] = {}
    for folder in ("sdk", "eval", "cli", "integrations"):
        for path in sorted((root / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    found.setdefault(name.split(".")[0], str(path.relative_to(root)))
    return found


def test_declared_dependencies_are_exactly_the_imported_ones():
    """Every third-party import is a declared dependency and every dependency is imported.

    The ``ray`` extra is checked the same way (imported only for ``--ray``); the ``dev`` extra
    holds test tools, which the package itself never imports.
    """
    import importlib.metadata as md
    import re
    import tomllib
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].strip().lower().replace("_", "-") for r in requirements}

    declared = names(project["dependencies"]) | names(project["optional-dependencies"]["ray"])
    distributions = md.packages_distributions()
    imported: dict[str, str] = {}
    for module, where in _imported_top_level_modules().items():
        if module in sys.stdlib_module_names or module in ("tubescope", "__future__"):
            continue
        dists = distributions.get(module)
        assert dists, f"{where} imports {module!r}, which no installed distribution provides"
        for dist in dists:
            imported[dist.lower().replace("_", "-")] = where
    undeclared = {d: w for d, w in imported.items() if d not in declared}
    unused = declared - set(imported)
    assert not undeclared, f"imported but not declared in pyproject.toml: {undeclared}"
    assert not unused, f"declared in pyproject.toml but never imported: {sorted(unused)}"
