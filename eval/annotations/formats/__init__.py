"""Annotation file formats, one module each, behind one registry (like supervision's formats).

=====================  ==========================================================  =========
format                 shape                                                       family
=====================  ==========================================================  =========
``hcstvg-raw``         ``{video_name: {"st_frame", "bbox", "img_num", ...}}``       hcstvg
                       (v1 ``caption``/``width``/``height``; v2 ``English``/
                       ``img_size=[H, W]``)
``hcstvg-proc``        TubeDETR ``*_proc.json``: ``[{"tube_start_frame",           hcstvg
                       "trajectory", ...}]``
``vidstg-official``    ``[{"vid", "temporal_gt", "used_segment", "questions",      vidstg
                       "captions", ...}]`` + VidOR box files under ``boxes_dir``
``vidstg-tubedetr``    TubeDETR ``{split}.json``: ``{"videos": [...],              vidstg
                       "trajectories": {...}}``
=====================  ==========================================================  =========

A format is an :class:`AnnotationFormat` record (detection signature, precise loader,
optional fast reader) defined in its module; every module of this package is imported and
its records registered (:func:`register_format`), so a new format is one new module; the dataset table (:mod:`tubescope.eval.datasets`) names
the formats each dataset comes in.

Example:
    >>> format_names()
    ('hcstvg-proc', 'hcstvg-raw', 'vidstg-official', 'vidstg-tubedetr')
"""

from __future__ import annotations

import importlib
import pkgutil

from tubescope.eval.annotations.formats import registry
from tubescope.eval.annotations.formats.registry import *  # noqa: F403  (the public names)
from tubescope.eval.annotations.formats.registry import AnnotationFormat, register_format

__all__ = list(registry.__all__)

# A format is one module here: every AnnotationFormat record it defines is registered, in
# module order (detection tries them in that order).
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
    if _info.name == "registry":
        continue
    for _record in vars(importlib.import_module(f"{__name__}.{_info.name}")).values():
        if isinstance(_record, AnnotationFormat):
            register_format(_record)
