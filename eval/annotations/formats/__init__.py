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
optional fast reader) defined in its module and added with :func:`register_format` (the
built-ins here, in detection order); the dataset table (:mod:`tubescope.eval.datasets`) names
the formats each dataset comes in.

Example:
    >>> format_names()
    ('hcstvg-raw', 'hcstvg-proc', 'vidstg-official', 'vidstg-tubedetr')
"""

from __future__ import annotations

from tubescope.eval.annotations.formats import (
    hcstvg_proc,
    hcstvg_raw,
    registry,
    vidstg_official,
    vidstg_tubedetr,
)
from tubescope.eval.annotations.formats.registry import *  # noqa: F403  (the public names)
from tubescope.eval.annotations.formats.registry import register_format

__all__ = list(registry.__all__)

for _format in (
    hcstvg_raw.HCSTVG_RAW,
    hcstvg_proc.HCSTVG_PROC,
    vidstg_official.VIDSTG_OFFICIAL,
    vidstg_tubedetr.VIDSTG_TUBEDETR,
):
    register_format(_format)
