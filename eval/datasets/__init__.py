"""The dataset table of :mod:`tubescope.eval` (records, registration, look-up, video files).

See :mod:`tubescope.eval.datasets.table` for the records and docs/evaluation.md for the
datasets themselves. Each family and its datasets are one module of this package (HC-STVG v1/v2,
VidSTG); the records a module defines are registered when the package is imported, so a new
dataset is one new module; nothing here imports numpy, so command-line start-up
stays light.

Example:
    >>> from tubescope.eval.datasets import dataset_names, get_dataset
    >>> [(name, get_dataset(name).window) for name in dataset_names()]
    [('hcstvg-v1', 8), ('hcstvg-v2', 11), ('vidstg', 6)]
"""

from __future__ import annotations

import importlib
import pkgutil

from tubescope.eval.datasets import table
from tubescope.eval.datasets.table import *  # noqa: F403  (the public names)
from tubescope.eval.datasets.table import Dataset, Family, register_dataset, register_family
from tubescope.eval.datasets.videos import VideoFiles

__all__ = [*table.__all__, "VideoFiles"]

# A dataset is one module here: every Family and Dataset record it defines is registered,
# the families first (a dataset names its family), in module order.
_modules = [
    importlib.import_module(f"{__name__}.{info.name}")
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name)
    if info.name not in ("table", "videos")
]
for _kind, _register in ((Family, register_family), (Dataset, register_dataset)):
    for _module in _modules:
        for _record in vars(_module).values():
            if isinstance(_record, _kind):
                _register(_record)
