"""``resolve_device`` / ``resolve_dtype`` on values this machine cannot use: one-line
tubescope errors (still ``ValueError``) naming the value and what is available."""

from __future__ import annotations

import pytest
import torch

from tubescope.engine.backends.loading import resolve_device, resolve_dtype
from tubescope.errors import ValidationError


@pytest.mark.parametrize(
    ("device", "needle"),
    [
        ("tpu", "not a device name torch knows"),
        ("gpu0", "not a device name torch knows"),
        ("meta", "cannot load a model on 'meta'"),
        (f"cuda:{torch.cuda.device_count() + 3}", "CUDA"),
    ],
)
def test_unusable_devices_name_the_value_and_the_available_ones(device, needle):
    with pytest.raises(ValidationError) as caught:
        resolve_device(device)
    message = str(caught.value)
    assert message.startswith(f"device {device!r}: ") and needle in message
    assert "available here: auto, cpu" in message and "\n" not in message
    assert isinstance(caught.value, ValueError)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_on_a_cpu_machine():
    with pytest.raises(ValidationError, match=r"device 'cuda': requested but CUDA is not available .*available here: auto, cpu$"):
        resolve_device("cuda")


def test_unknown_dtype_lists_the_names():
    with pytest.raises(ValidationError) as caught:
        resolve_dtype("int8", torch.device("cpu"))
    message = str(caught.value)
    assert message.startswith("dtype 'int8': ") and "float32, bfloat16 or float16" in message


def test_usable_values_still_resolve():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_dtype(" FP16 ", torch.device("cpu")) == torch.float16
