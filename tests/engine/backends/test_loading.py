"""Loading: tiny checkpoints round-trip, cached hub ids load offline, missing models fail fast."""

from __future__ import annotations

import json
import shutil
import time

import pytest
import torch
from tubescope.engine.backends import Backend, detect_family, load_backend
from tubescope.engine.backends.loading import resolve_device, resolve_dtype
from tubescope.errors import ModelUnavailableError
from tubescope.testing import TINY_FAMILIES, save_tiny_model

from tests.engine.backends.helpers import QUESTION, load_cpu, random_frames

MODEL = "Qwen/Qwen2-VL-2B-Instruct"


def test_round_trip_through_load_backend(tiny_dirs, family):
    backend = load_backend(tiny_dirs[family])
    assert isinstance(backend, Backend)
    assert backend.family == family and backend.model_id == str(tiny_dirs[family])
    device = resolve_device("auto")
    assert backend.num_layers == 2 and backend.device.type == device.type
    assert backend.dtype == resolve_dtype("auto", device)
    assert detect_family(tiny_dirs[family]) == family
    assert (
        not any(p.requires_grad for p in backend.model.parameters()) and not backend.model.training
    )
    out = backend.prefill(backend.encode(random_frames(2)), [QUESTION])[0]
    assert torch.isfinite(out.logits).all()


def test_save_tiny_model_is_deterministic(tmp_path):
    a = load_cpu(save_tiny_model("llava-next-video", tmp_path / "a", seed=3))
    b = load_cpu(save_tiny_model("llava-next-video", tmp_path / "b", seed=3))
    c = load_cpu(save_tiny_model("llava-next-video", tmp_path / "c", seed=4))
    pa, pb, pc = (dict(x.model.named_parameters()) for x in (a, b, c))
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert not all(torch.equal(pa[k], pc[k]) for k in pa)
    with pytest.raises(ValueError, match="not one of"):
        save_tiny_model("gpt-2", tmp_path / "d")


def test_save_tiny_model_sizes(tmp_path):
    backend = load_cpu(
        save_tiny_model(
            "qwen2-vl", tmp_path, num_layers=3, hidden_size=96, num_heads=6, num_kv_heads=3
        )
    )
    assert backend.num_layers == 3 and backend.hidden_size == 96
    assert backend.encode(random_frames(4)).embeds.shape == (32, 96)


def _fake_hub_cache(cache, source, repo_id):
    """Lay out ``source`` as a cached snapshot of ``repo_id`` in a Hugging Face cache."""
    repo = cache / ("models--" + repo_id.replace("/", "--"))
    snapshot = repo / "snapshots" / ("0" * 40)
    shutil.copytree(source, snapshot)
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text("0" * 40)


@pytest.fixture
def empty_cache(tmp_path, monkeypatch):
    cache = tmp_path / "hf_cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return cache


def _check_message(message, cache):
    assert MODEL in message
    assert f"huggingface-cli download {MODEL}" in message
    assert str(cache) in message and "models--Qwen--Qwen2-VL-2B-Instruct" in message
    assert "HF_HUB_OFFLINE=1" in message and "directory" in message
    assert "Tried:" in message


def test_unavailable_offline_raises_fast(empty_cache, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as info:
        load_backend(MODEL)
    assert time.monotonic() - started < 2.0
    _check_message(str(info.value), empty_cache)
    assert "skipped because HF_HUB_OFFLINE=1" in str(info.value)


def test_unavailable_unreachable_hub_raises_fast(empty_cache, monkeypatch):
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as info:
        load_backend(MODEL)
    assert time.monotonic() - started < 4.0
    _check_message(str(info.value), empty_cache)
    assert "http://127.0.0.1:9: unreachable" in str(info.value)


@pytest.mark.parametrize("mode", ["offline", "unreachable"])
def test_cached_hub_id_loads_without_network(tiny_dirs, empty_cache, monkeypatch, mode):
    _fake_hub_cache(empty_cache, tiny_dirs["llava-onevision"], "tubescope/tiny-ov")
    if mode == "offline":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    started = time.monotonic()
    backend = load_backend("tubescope/tiny-ov")
    assert time.monotonic() - started < 4.0
    assert backend.family == "llava-onevision" and backend.model_id == "tubescope/tiny-ov"


def test_bad_paths_and_families(tmp_path, tiny_dirs):
    with pytest.raises(ModelUnavailableError, match="no such model directory"):
        load_backend(str(tmp_path / "missing"))
    with pytest.raises(ModelUnavailableError, match="no config.json"):
        load_backend(tmp_path)
    weird = tmp_path / "weird"
    shutil.copytree(tiny_dirs["qwen2-vl"], weird)
    config = json.loads((weird / "config.json").read_text())
    config["model_type"] = "gpt2"
    (weird / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelUnavailableError, match="'gpt2' is not a supported"):
        load_backend(weird)
    with pytest.raises(TypeError, match="unknown option"):
        load_backend(tiny_dirs["qwen2-vl"], pool_stride=2)
    broken = tmp_path / "broken"
    shutil.copytree(tiny_dirs["qwen2-vl"], broken)
    (broken / "model.safetensors").unlink()
    with pytest.raises(ModelUnavailableError, match="incomplete"):
        load_backend(broken)


def test_forced_family_and_dtype(tiny_dirs):
    backend = load_cpu(tiny_dirs["qwen2.5-vl"], family="qwen2.5-vl", dtype="bfloat16")
    assert backend.dtype == torch.bfloat16
    visual = backend.encode(random_frames(2))
    assert visual.embeds.dtype == torch.bfloat16
    out = backend.prefill(visual, [QUESTION])[0]
    assert out.logits.dtype == torch.float32 and out.attention.dtype == torch.float32
    with pytest.raises(ValueError, match="not one of"):
        load_backend(tiny_dirs["qwen2.5-vl"], family="qwen9-vl")


def test_device_and_dtype_resolution():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    assert resolve_dtype(torch.float16, torch.device("cpu")) == torch.float16
    with pytest.raises(ValueError, match="dtype 'int8'"):
        resolve_dtype("int8", torch.device("cpu"))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="CUDA is not available"):
            resolve_device("cuda")


def test_tiny_families_cover_every_adapter():
    from tubescope.engine.backends.loading import adapter_classes

    assert set(TINY_FAMILIES) == set(adapter_classes())
