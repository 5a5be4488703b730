"""Independent, straightforward re-implementations of the reference evaluators.

Written from docs/evaluation.md ("Protocols") and the peers' loops (TubeDETR ``hcstvg_eval.py`` /
``vidstg_eval.py``, STCAT ``hcstvg_eval.py`` / ``vidstg_eval.py`` + the GT construction of
``datasets/{hcstvg,vidstg}.py`` + ``engine/evaluate.py: linear_interp``), frame by frame, in
plain Python, from the *raw* annotation dicts and the *peer-format* predictions. Nothing from
``tubescope.eval`` is imported. The documented deviations of our harness are applied (they
replace crashes or nan): a missing video scores 0, a missing frame box scores IoU 0, a zero
union gives IoU 0, a GT frame without a GT box is skipped, STCAT-dropped VidSTG pairs are kept.
"""

from __future__ import annotations

import math


def box_iou(a, b) -> float:
    area_a = (a[2] - a[0]) * (a[3] - a[1])
    area_b = (b[2] - b[0]) * (b[3] - b[1])
    lt_x, lt_y = max(a[0], b[0]), max(a[1], b[1])
    rb_x, rb_y = min(a[2], b[2]), min(a[3], b[3])
    w = rb_x - lt_x
    h = rb_y - lt_y
    w = w if w > 0 else 0.0
    h = h if h > 0 else 0.0
    inter = w * h
    union = area_a + area_b - inter
    if union == 0:
        return 0.0  # the peers: nan
    return inter / union


# ------------------------------------------------------------------------------------ TubeDETR
def tubedetr_frame_ids(
    start_frame: int, end_frame: int, fps: float, target_fps: int = 5, max_len: int = 200
):
    sampling_rate = target_fps / fps
    frame_ids = [start_frame]
    for frame_id in range(start_frame, end_frame):
        if int(frame_ids[-1] * sampling_rate) < int(frame_id * sampling_rate):
            frame_ids.append(frame_id)
    if len(frame_ids) > max_len:
        frame_ids = [frame_ids[(j * len(frame_ids)) // max_len] for j in range(max_len)]
    return frame_ids


def tubedetr_gt_hcstvg(raw: dict) -> dict:
    """TubeDETR's vid2imgids / vid2steds / img2box from an official HC-STVG raw dict."""
    gt = {}
    for video_id, (name, ann) in enumerate(raw.items()):
        frame_count = ann["img_num"]
        video_fps = frame_count / 20
        frame_ids = tubedetr_frame_ids(0, frame_count - 1, video_fps)
        tube_start = ann["st_frame"]
        tube_end = ann["st_frame"] + len(ann["bbox"])
        boxes = {}
        for frame_id in frame_ids:
            if tube_start <= frame_id < tube_end:
                x1, y1, w, h = ann["bbox"][frame_id - tube_start]
                boxes[frame_id] = [x1, y1, x1 + w, y1 + h]
        gt[name] = {
            "frame_ids": frame_ids,
            "sted": [tube_start, tube_end],
            "boxes": boxes,
            "video_id": video_id,
        }
    return gt


def tubedetr_gt_vidstg(split: dict) -> dict:
    """The same from a TubeDETR VidSTG ``{split}.json`` dict (keyed by video_id)."""
    gt = {}
    for video in split["videos"]:
        frame_ids = tubedetr_frame_ids(video["start_frame"], video["end_frame"], video["fps"])
        track = split["trajectories"][video["original_video_id"]][str(video["target_id"])]
        boxes = {}
        for frame_id in frame_ids:
            if (
                video["tube_start_frame"] <= frame_id < video["tube_end_frame"]
                and str(frame_id) in track
            ):
                x1, y1, w, h = track[str(frame_id)]["bbox"]
                boxes[frame_id] = [x1, y1, x1 + w, y1 + h]
        gt[video["video_id"]] = {
            "frame_ids": frame_ids,
            "sted": [video["tube_start_frame"], video["tube_end_frame"]],
            "boxes": boxes,
            "qtype": video["qtype"],
        }
    return gt


def tubedetr_evaluate(gt: dict, frame_preds: dict, video_preds: dict) -> dict:
    """Per-video (tiou, viou, gt_viou).

    frame_preds[(vid, fid)] = [box, ...]; video_preds[vid] = [s, e].
    """
    out = {}
    for vid, g in gt.items():
        if vid not in video_preds:
            out[vid] = (0.0, 0.0, 0.0)
            continue
        gt_sted, pred_sted = g["sted"], video_preds[vid]
        max_start = max(gt_sted[0], pred_sted[0])
        min_end = min(gt_sted[1], pred_sted[1])
        min_start = min(gt_sted[0], pred_sted[0])
        max_end = max(gt_sted[1], pred_sted[1])
        if min_end <= max_start:
            tiou = 0
        else:
            intersection = min_end - max_start
            gt_span = gt_sted[1] - gt_sted[0]
            pred_span = pred_sted[1] - pred_sted[0]
            union = gt_span + pred_span - intersection
            tiou = intersection / union
        union_predgt = [f for f in g["frame_ids"] if min_start <= f < max_end]
        inter_predgt = {f for f in g["frame_ids"] if max_start <= f < min_end}
        viou = 0
        gt_viou = 0
        for frame_id, gt_box in g["boxes"].items():
            pred_boxes = frame_preds.get((vid, frame_id))
            iou = 0.0 if not pred_boxes else box_iou(pred_boxes[0], gt_box)
            if frame_id in inter_predgt:
                viou += iou
            gt_viou += iou
        viou = viou / max(len(union_predgt), 1)
        gt_viou = gt_viou / max(len(g["boxes"]), 1)
        out[vid] = (float(tiou), float(viou), float(gt_viou))
    return out


# --------------------------------------------------------------------------------------- STCAT
def stcat_gt_hcstvg(raw: dict) -> dict:
    """STCAT's anno cache (item per video) from an official HC-STVG raw dict."""
    gt = {}
    for name, ann in raw.items():
        tube_start = ann["st_frame"] - 1
        tube_end = tube_start + len(ann["bbox"]) - 1
        end_fid = ann["img_num"] - 1
        begin = max(0, tube_start)
        end = min(tube_end, end_fid)
        boxes = {}
        for fid in range(begin, end + 1):
            x1, y1, w, h = ann["bbox"][fid - begin]
            boxes[fid] = [x1, y1, x1 + w, y1 + h]
        gt[name] = {"bound": [begin, end], "boxes": boxes}
    return gt


def stcat_gt_vidstg(entries: list, vidor: dict) -> dict:
    """STCAT's VidSTG anno cache, keyed like TubeDETR's video_id (questions, then captions)."""
    gt = {}
    item = 0
    for ann in entries:
        seg_e = ann["used_segment"]["end_fid"]
        trajectories = vidor[ann["vid"]]["trajectories"]
        for sent_type, qtype in (("questions", "interrogative"), ("captions", "declarative")):
            for sentence in ann[sent_type]:
                target = sentence["target_id"]
                start_idx = ann["temporal_gt"]["begin_fid"]
                end_idx = min(ann["temporal_gt"]["end_fid"] + 1, ann["frame_count"])
                target_boxes = []  # (fid, box or None)
                for idx in range(start_idx, end_idx):
                    box = None
                    for obj in trajectories[idx]:
                        if obj["tid"] == target:
                            b = obj["bbox"]
                            box = [b["xmin"], b["ymin"], b["xmax"], b["ymax"]]
                    if (
                        box is None
                        and idx == end_idx - 1
                        and target_boxes
                        and target_boxes[-1][1] is not None
                    ):
                        box = list(target_boxes[-1][1])  # STCAT duplicates the last box
                    target_boxes.append((idx, box))
                begin = ann["temporal_gt"]["begin_fid"]
                end = min(ann["temporal_gt"]["end_fid"], seg_e, ann["frame_count"] - 1)
                boxes = {
                    fid: box for fid, box in target_boxes if begin <= fid <= end and box is not None
                }
                gt[item] = {"bound": [begin, end], "boxes": boxes, "qtype": qtype}
                item += 1
    return gt


def stcat_linear_interp(bbox_dict: dict) -> dict:
    """STCAT engine/evaluate.py linear_interp, on {fid: [box]} (no extrapolation)."""
    frame_ids = sorted(bbox_dict)
    out = {fid: bbox_dict[fid] for fid in frame_ids}
    for idx in range(len(frame_ids) - 1):
        left, right = frame_ids[idx], frame_ids[idx + 1]
        if right - left > 1:
            interval = right - left
            deltas = [(out[right][0][k] - out[left][0][k]) / interval for k in range(4)]
            for step in range(1, interval):
                out[left + step] = [[out[left][0][k] + step * deltas[k] for k in range(4)]]
    return out


def stcat_evaluate(gt: dict, bbox_preds: dict, temp_preds: dict) -> dict:
    """Per-item tiou/viou/gt_viou. bbox_preds[item] = {fid: [box]}; temp_preds[item] = [s, e)."""
    out = {}
    for item, g in gt.items():
        if item not in temp_preds:
            out[item] = (0.0, 0.0, 0.0)
            continue
        gt_sted, pred_sted = g["bound"], temp_preds[item]
        max_start = max(gt_sted[0], pred_sted[0])
        min_end = min(gt_sted[1], pred_sted[1])
        min_start = min(gt_sted[0], pred_sted[0])
        max_end = max(gt_sted[1], pred_sted[1])
        if min_end <= max_start:
            tiou = 0
        else:
            intersection = min_end - max_start
            gt_span = gt_sted[1] - gt_sted[0]
            pred_span = pred_sted[1] - pred_sted[0]
            union = gt_span + pred_span - intersection
            tiou = intersection / union
        union_predgt = set(range(min_start, max_end))
        inter_predgt = set(range(max_start, min_end))
        viou = 0
        gt_viou = 0
        prediction = bbox_preds.get(item, {})
        for fid, gt_box in g["boxes"].items():
            pred = prediction.get(fid)
            iou = 0.0 if pred is None else box_iou(pred[0], gt_box)
            if fid in inter_predgt:
                viou += iou
            gt_viou += iou
        viou = viou / max(len(union_predgt), 1)
        gt_viou = gt_viou / max(len(g["boxes"]), 1)
        out[item] = (float(tiou), float(viou), float(gt_viou))
    return out


def summarize(per_video: dict, keys=None) -> dict:
    keys = list(per_video) if keys is None else keys
    n = len(keys)
    vals = [per_video[k] for k in keys]
    return {
        "m_tIoU": math.fsum(v[0] for v in vals) / n,
        "m_vIoU": math.fsum(v[1] for v in vals) / n,
        "vIoU@0.3": sum(v[1] > 0.3 for v in vals) / n,
        "vIoU@0.5": sum(v[1] > 0.5 for v in vals) / n,
        "gt_vIoU": math.fsum(v[2] for v in vals) / n,
    }
