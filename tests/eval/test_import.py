"""tubescope.eval imports and runs with torch, supervision, OpenCV and video decoders absent."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

BLOCKED = (
    "torch",
    "torchvision",
    "transformers",
    "supervision",
    "cv2",
    "decord",
    "av",
    "matplotlib",
)

SCRIPT = textwrap.dedent(
    f"""
    import json, sys
    for name in {BLOCKED!r}:
        sys.modules[name] = None  # any import of these now raises ImportError
    import tubescope.eval
    from tubescope import Tube
    from tubescope.eval import GTQuery, evaluate
    gt = [GTQuery("c", "c", "a man", None, "hcstvg", 200, 10.0, 640, 360, 49, 89,
                  frames=range(49, 89), boxes=[[0, 0, 9, 9]] * 40, st_frame=50)]
    tube = Tube(49, 89, frames=[49], boxes=[[0, 0, 9, 9]])
    report = evaluate(gt, {{"c": tube}}, protocol="stcat")
    heavy = sorted(
        m for m in sys.modules if m.split(".")[0] in {BLOCKED!r} and sys.modules[m] is not None
    )
    print(json.dumps({{"result": report.to_dict(), "heavy": heavy}}))
    """
)


def test_eval_imports_without_heavy_dependencies() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["heavy"] == []
    assert out["result"]["m_tIoU"] == 0.975 and out["result"]["protocol"] == "stcat"
