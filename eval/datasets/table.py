"""The dataset table: one frozen record per benchmark family and per dataset name.

Everything the evaluator (and the dataset runner) knows about a benchmark is read from here:

* a :class:`Family` (``"hcstvg"``, ``"vidstg"``) says how its queries are scored: the frames
  TubeDETR evaluates, the ground truth STCAT builds, which queries STCAT's loader would drop,
  the report categories (VidSTG: declarative / interrogative) and whether queries are
  restricted to a segment of their video;
* a :class:`Dataset` (``"hcstvg-v1"``, ``"hcstvg-v2"``, ``"vidstg"``: the ``--dataset``
  names) names its family, the annotation formats it accepts, the official temporal window of
  the paper's code and the layout of its video folder.

:func:`GTQuery.dataset <tubescope.eval.GTQuery>` holds the *family* name, so one family's
datasets (HC-STVG v1 and v2) share one scoring rule. Adding a benchmark is one
:func:`register_family` (unless it reuses a family) plus one :func:`register_dataset`; see
docs/evaluation.md ("Adding a dataset").

Example:
    >>> from tubescope.eval.datasets import get_dataset, dataset_names
    >>> dataset_names()
    ('hcstvg-v1', 'hcstvg-v2', 'vidstg')
    >>> get_dataset("hcstvg-v2").window, get_dataset("vidstg").family
    (11, 'vidstg')
    >>> get_dataset("hcstvg-v3")
    Traceback (most recent call last):
    ...
    tubescope.eval.datasets.table.DatasetError: unknown dataset 'hcstvg-v3'; choose from hcstvg-v1, hcstvg-v2, vidstg
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tubescope.errors import TubescopeError
from tubescope.registry import Registry

if TYPE_CHECKING:  # the table itself imports nothing heavy (the CLI reads it at start-up)
    import numpy as np

    from tubescope.eval.annotations.record import GTQuery

__all__ = [
    "Dataset",
    "DatasetError",
    "Family",
    "StcatGT",
    "VideoLayout",
    "dataset_names",
    "datasets_of",
    "family_names",
    "get_dataset",
    "get_family",
    "register_dataset",
    "register_family",
    "unregister_dataset",
    "unregister_family",
]


class DatasetError(TubescopeError, ValueError):
    """An unknown dataset or family name, or a conflicting registration (one line)."""




@dataclass(frozen=True)
class StcatGT:
    """The ground truth STCAT builds for one query, in raw frame numbers.

    Attributes:
        end: STCAT's **inclusive** GT end (its ``gt_temp_bound[1]``); its start is always the
            query's ``start``.
        extra_frame: a GT frame STCAT adds outside our half-open span (VidSTG: it reads the
            exclusive ``end_fid`` as inside the tube) and the box it uses there; None when
            there is none.
    """

    end: int
    extra_frame: tuple[int, np.ndarray] | None = None


@dataclass(frozen=True)
class Family:
    """How the queries of one benchmark family are scored and reported.

    Attributes:
        name: the value of :attr:`GTQuery.dataset` (``"hcstvg"``).
        title: for messages and tables (``"HC-STVG"``).
        tubedetr_frames: ``query -> frames``: the candidate frames TubeDETR evaluates (its
            5-fps sample, :mod:`tubescope.eval.sampling`).
        stcat_gt: ``query -> StcatGT``: the GT span STCAT's loader builds.
        stcat_drop: ``query -> reason or None``: why STCAT's loader would drop the query from
            its evaluation (we score it anyway; the report counts these).
        categories: report categories (the :attr:`GTQuery.qtype` values), reported separately
            and never pooled; empty: one set ``"all"``.
        segments: queries are restricted to a ``used_segment`` of their video (VidSTG): a run
            groups them by (video, segment) and samples frames inside the segment only.
        segment_end_inclusive: ``used_segment.end_fid`` is the segment's last frame.
    """

    name: str
    title: str
    tubedetr_frames: Callable[[GTQuery], np.ndarray]
    stcat_gt: Callable[[GTQuery], StcatGT]
    stcat_drop: Callable[[GTQuery], str | None] = field(default=lambda query: None)
    categories: tuple[str, ...] = ()
    segments: bool = False
    segment_end_inclusive: bool = True

    def segment_span(
        self, segment: tuple[int, int] | None, frame_count: int
    ) -> tuple[int, int] | None:
        """The half-open frame span to sample for a query's ``used_segment`` (None: the video).

        Clipped to ``frame_count`` (annotation frame counts can exceed the decoded video by a
        frame or two); None as well when the family has no segments or the segment lies
        outside the video.

        Example:
            >>> from tubescope.eval.datasets import get_family
            >>> get_family("vidstg").segment_span((10, 99), 100)
            (10, 100)
            >>> get_family("hcstvg").segment_span((10, 99), 100) is None
            True
        """
        if not self.segments or segment is None:
            return None
        last = int(segment[1]) + (1 if self.segment_end_inclusive else 0)
        begin, end = int(segment[0]), min(last, frame_count)
        if not 0 <= begin < end:
            return None
        return begin, end


@dataclass(frozen=True)
class VideoLayout:
    """Where the videos of a dataset live under a ``--videos`` folder.

    A video id is looked up as ``<folder>/<id><ext>`` for each of
    :data:`tubescope.formats.VIDEO_EXTENSIONS` (an id that already ends with a video extension
    is tried as given first), then, when ``nested``, as a file of that stem in any
    sub-directory (VidOR ships ``video/<group>/<vid>.mp4``). Two matches are an error.

    Attributes:
        example: the folder as the dataset ships it, for help texts and messages.
        nested: search sub-directories too.
    """

    example: str
    nested: bool = True

    def files(self, root: str | os.PathLike[str]) -> Any:
        """A :class:`~tubescope.eval.datasets.videos.VideoFiles` resolver over ``root``."""
        from tubescope.eval.datasets.videos import VideoFiles

        return VideoFiles(root, self)

    def resolve(self, root: str | os.PathLike[str], video_id: str) -> Path:
        """The file of ``video_id`` under ``root`` (one look-up; use :meth:`files` for many)."""
        return self.files(root).resolve(video_id)


@dataclass(frozen=True)
class Dataset:
    """One ``--dataset`` name.

    Attributes:
        name: ``"hcstvg-v1"``.
        family: its :class:`Family` name (the :attr:`GTQuery.dataset` of its queries).
        title: ``"HC-STVG v1"``.
        split: the split papers report (``"test"``, ``"val"``).
        formats: annotation format names (:mod:`tubescope.eval.annotations.formats`) this
            dataset's files come in.
        window: the official temporal window length (the paper's ``frames_thre + 1``) used by
            ``preset("paper", dataset=...)``.
        videos: the video folder layout.
        paper_lowercase: the paper's loader lower-cases the sentences (``--preset paper``).
        fields: per annotation format, field names that only this dataset's files use: how a
            file is told apart from another dataset of the same format (HC-STVG v1 records
            have ``caption``/``width``/``height``, v2 records ``English``/``img_size``).
    """

    name: str
    family: str
    title: str
    split: str
    formats: tuple[str, ...]
    window: int
    videos: VideoLayout
    paper_lowercase: bool = False
    fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


_FAMILIES: Registry[Family] = Registry("dataset family", DatasetError)
_DATASETS: Registry[Dataset] = Registry("dataset", DatasetError)


def register_family(family: Family) -> Family:
    """Add a :class:`Family` to the table (a second, different one of that name is an error)."""
    return _FAMILIES.add(family.name, family)


def register_dataset(dataset: Dataset) -> Dataset:
    """Add a :class:`Dataset`; its family must be registered first.

    Example:
        >>> from tubescope.eval.datasets import Dataset, get_dataset, register_dataset
        >>> from tubescope.eval.datasets import unregister_dataset
        >>> base = get_dataset("hcstvg-v1")
        >>> _ = register_dataset(Dataset("hcstvg-v1-train", "hcstvg", "HC-STVG v1", "train",
        ...                              base.formats, base.window, base.videos))
        >>> get_dataset("hcstvg-v1-train").split
        'train'
        >>> unregister_dataset("hcstvg-v1-train")
    """
    if dataset.family not in _FAMILIES:
        raise DatasetError(
            f"dataset {dataset.name!r}: unknown family {dataset.family!r}; register it first "
            f"(families: {_FAMILIES.choices()})"
        )
    if not (isinstance(dataset.window, int) and dataset.window >= 1):
        raise DatasetError(f"dataset {dataset.name!r}: window must be a positive integer")
    return _DATASETS.add(dataset.name, dataset)


def unregister_dataset(name: str) -> None:
    """Remove a dataset added by :func:`register_dataset` (tests, plug-ins)."""
    _DATASETS.remove(name)


def unregister_family(name: str) -> None:
    """Remove a family (and every dataset of it)."""
    _FAMILIES.remove(name)
    for dataset in datasets_of(name):
        _DATASETS.remove(dataset.name)


def get_dataset(name: str) -> Dataset:
    """The :class:`Dataset` called ``name``; :class:`DatasetError` lists the choices."""
    return _DATASETS.get(name)


def get_family(name: str) -> Family:
    """The :class:`Family` called ``name``; :class:`DatasetError` lists the choices."""
    return _FAMILIES.get(name)


def dataset_names() -> tuple[str, ...]:
    """The registered ``--dataset`` names, in registration order."""
    return _DATASETS.names()


def family_names() -> tuple[str, ...]:
    """The registered family names (the values :attr:`GTQuery.dataset` may take)."""
    return _FAMILIES.names()


def datasets_of(family: str) -> tuple[Dataset, ...]:
    """The datasets of one family, in registration order."""
    return tuple(d for d in _DATASETS.values() if d.family == family)
