"""``tubescope run`` with the MLLM decomposer keeps each decomposition in ``OUT/decompositions.json``:
a query text is decomposed once, and a run that finds the file generates nothing again."""

from __future__ import annotations

import json
import shutil

import pytest
from tubescope.decompose import DecompositionCache, MLLMDecomposer
from tubescope.engine.backends import load_backend
from tubescope.errors import ValidationError
from tubescope.integrations.runs import run_dataset

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def run(ds, out, backend):
    return run_dataset("hcstvg-v1", ds.annotations, ds.videos, out, model=backend,
                       proposals=ds.proposals, decompositions="mllm", overrides={"num_frames": 4, "lra_steps": 0})  # fmt: skip


def test_mllm_decompositions_are_cached_per_query_text(hcstvg, tiny_model, tmp_path):
    backend = load_backend(tiny_model, device="cpu")
    first = tmp_path / "first"
    run(hcstvg, first, backend)
    generated = backend.reset_counters()["generated_tokens"]
    assert generated > 0
    cache = json.loads((first / "decompositions.json").read_text())
    assert cache["decomposer"] == "mllm" and cache["schema_version"] == 1
    annotations = json.loads(hcstvg.annotations.read_text())
    good = [v for k, v in annotations.items() if not k.startswith(str(hcstvg.corrupt))]
    assert set(cache["queries"]) == {" ".join(a["caption"].split()) for a in good}
    assert all(isinstance(p["raw"], str) and p["source"] == "mllm" for p in cache["queries"].values())

    second = tmp_path / "second"
    second.mkdir()
    shutil.copy(first / "decompositions.json", second / "decompositions.json")
    run(hcstvg, second, backend)
    assert backend.reset_counters()["generated_tokens"] == 0  # every query came from the file
    assert (second / "predictions.jsonl").read_text() == (first / "predictions.jsonl").read_text()


class _Counting:
    def __init__(self) -> None:
        self.calls = 0

    def generate_text(self, prompt: str, max_new_tokens: int = 64) -> str:
        self.calls += 1
        return "Attribute: the cat.\nAction: The cat sleeps."


def test_the_cache_file_refuses_another_decomposer_and_garbage(tmp_path):
    path = tmp_path / "decompositions.json"
    cache = DecompositionCache(MLLMDecomposer(_Counting()), path)
    assert cache.decompose("The cat sleeps.").attribute == "the cat"
    data = json.loads(path.read_text())
    data["decomposer"] = "rules"
    path.write_text(json.dumps(data))
    with pytest.raises(ValidationError, match="holds decompositions of 'rules', not 'mllm'"):
        DecompositionCache(MLLMDecomposer(_Counting()), path)
    path.write_text("{not json")
    with pytest.raises(ValidationError, match="decompositions.json.*not valid JSON"):
        DecompositionCache(MLLMDecomposer(_Counting()), path)
