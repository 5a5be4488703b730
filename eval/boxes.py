"""Box geometry for the evaluator: xywh -> xyxy and element-wise box IoU (vectorised).

Both peer evaluators (TubeDETR ``util/box_ops.py`` and STCAT ``utils/box_utils.py``) use the
numpy port of torchvision's ``box_iou``:

* area = ``(x2 - x1) * (y2 - y1)``: no ``+1`` pixel, no clamping of the coordinates;
* intersection = product of the overlap widths clipped at 0;
* ``iou = inter / (area1 + area2 - inter)``.

:func:`box_iou` computes exactly that, element-wise on aligned rows, with one deliberate
deviation: when the union is 0 (both boxes have zero area and do not overlap, e.g. two
degenerate boxes) the peers compute ``0 / 0 = nan``, which then poisons the mean of the whole
benchmark. We return IoU **0** there instead (a degenerate box localises nothing). Boxes are
validated upstream (finite, ``x1 <= x2``, ``y1 <= y2``), so every IoU lies in [0, 1].

Example:
    >>> import numpy as np
    >>> box_iou(np.array([[0., 0, 10, 10]]), np.array([[5., 0, 15, 10]])).tolist()
    [0.3333333333333333]
    >>> box_iou(np.array([[3., 3, 3, 3]]), np.array([[3., 3, 3, 3]])).tolist()  # nan in the peers
    [0.0]
"""

from __future__ import annotations

import numpy as np

__all__ = ["box_iou", "xywh_to_xyxy"]


def xywh_to_xyxy(boxes: np.ndarray, *, inplace: bool = False) -> np.ndarray:
    """``[x, y, w, h] -> [x, y, x + w, y + h]`` (the peers' conversion: no ``-1``, no clipping).

    ``inplace`` overwrites a float64 ``boxes`` array instead of copying it.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    if inplace:
        boxes[..., 2] += boxes[..., 0]
        boxes[..., 3] += boxes[..., 1]
        return boxes
    out = boxes.copy()
    out[..., 2] = boxes[..., 0] + boxes[..., 2]
    out[..., 3] = boxes[..., 1] + boxes[..., 3]
    return out


def box_iou(boxes1: np.ndarray, boxes2: np.ndarray) -> np.ndarray:
    """IoU of ``boxes1[i]`` with ``boxes2[i]`` for every row ``i`` (shapes ``(n, 4)``, xyxy).

    Same arithmetic as the peers' ``np_box_iou(...)[0][0]``; a zero union gives 0, not nan.
    """
    b1 = np.asarray(boxes1, dtype=np.float64)
    b2 = np.asarray(boxes2, dtype=np.float64)
    area1 = (b1[:, 2] - b1[:, 0]) * (b1[:, 3] - b1[:, 1])
    area2 = (b2[:, 2] - b2[:, 0]) * (b2[:, 3] - b2[:, 1])
    w = np.minimum(b1[:, 2], b2[:, 2]) - np.maximum(b1[:, 0], b2[:, 0])
    h = np.minimum(b1[:, 3], b2[:, 3]) - np.maximum(b1[:, 1], b2[:, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    union = area1 + area2 - inter
    out = np.zeros(len(b1), dtype=np.float64)
    ok = union != 0
    np.divide(inter, union, out=out, where=ok)
    return out
