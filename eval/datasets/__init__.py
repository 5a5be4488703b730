"""The dataset table of :mod:`tubescope.eval` (records, registration, look-up, video files).

See :mod:`tubescope.eval.datasets.table` for the records and docs/evaluation.md for the
datasets themselves. The built-in families and datasets (HC-STVG v1/v2, VidSTG) are defined in
one module each and registered here; nothing here imports numpy, so command-line start-up
stays light.

Example:
    >>> from tubescope.eval.datasets import dataset_names, get_dataset
    >>> [(name, get_dataset(name).window) for name in dataset_names()]
    [('hcstvg-v1', 8), ('hcstvg-v2', 11), ('vidstg', 6)]
"""

from __future__ import annotations

from tubescope.eval.datasets import hcstvg, table, vidstg
from tubescope.eval.datasets.table import *  # noqa: F403  (the public names)
from tubescope.eval.datasets.table import register_dataset, register_family
from tubescope.eval.datasets.videos import VideoFiles

__all__ = [*table.__all__, "VideoFiles"]

for _family in (hcstvg.HCSTVG, vidstg.VIDSTG):
    register_family(_family)
for _dataset in (hcstvg.HCSTVG_V1, hcstvg.HCSTVG_V2, vidstg.VIDSTG_TEST):
    register_dataset(_dataset)
