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
