"""No deprecated calls: the test run fails on a FutureWarning / DeprecationWarning raised by
tubescope's own calls into transformers (pyproject's filterwarnings), and not on warnings that
third-party code raises about its own internals."""

from __future__ import annotations

import warnings

import pytest
import torch
from transformers.utils.deprecation import deprecate_kwarg


def _warn_from(module: str, category: type[Warning]) -> None:
    code = compile("import warnings\nwarnings.warn('old is deprecated', category)", f"<{module}>", "exec")
    exec(code, {"__name__": module, "category": category})


class _Model(torch.nn.Module):
    @deprecate_kwarg("past", version="999.0", new_name="cache")
    def forward(self, x, cache=None):
        return x


def test_the_configured_filters_are_active(pytestconfig):
    filters = pytestconfig.getini("filterwarnings")
    assert "error::FutureWarning:tubescope" in filters
    assert "error::DeprecationWarning:tubescope" in filters


@pytest.mark.parametrize("category", [FutureWarning, DeprecationWarning])
def test_a_deprecation_from_tubescope_code_is_an_error(category):
    with pytest.raises(category, match="deprecated"):
        _warn_from("tubescope.engine.backends.adapter", category)


def test_a_deprecated_argument_passed_to_a_model_forward_is_an_error():
    model = _Model()
    assert model(1, cache=2) == 1  # the current name: fine
    with pytest.raises(FutureWarning, match="`past` is deprecated"):
        model(1, past=2)


def test_third_party_internal_deprecations_do_not_fail_the_run():
    with warnings.catch_warnings(record=True) as caught:
        _warn_from("transformers.modeling_utils", FutureWarning)
    assert [str(w.message) for w in caught] == ["old is deprecated"]


def test_prefill_and_generation_use_no_deprecated_transformers_api(backends):
    """Every prefill (shared prefix, forked cache), gradient and generation path, with every
    deprecation warning turned into an error wherever it comes from."""
    from tests.engine.backends.helpers import QUESTION, random_frames

    for family in ("qwen2.5-vl", "llava-next-video"):
        backend = backends[family]
        visual = backend.encode(random_frames(2, seed=1))
        prompt = torch.zeros_like(visual.embeds, requires_grad=True)
        with warnings.catch_warnings():
            warnings.simplefilter("error", FutureWarning)
            warnings.simplefilter("error", DeprecationWarning)
            outputs = backend.prefill(visual, [QUESTION, "please describe this video"], visual_prompt=prompt)
            sum(backend.margin(o) for o in outputs).backward()
            backend.generate_text("Hello", max_new_tokens=2)
        assert prompt.grad is not None
