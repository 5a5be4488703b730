"""Test helpers: a deterministic colour-blob detector and tiny tokenizers (nothing downloaded)."""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import supervision as sv

from tubescope.synthetic import PALETTE


class ColourBlobDetector:
    """Finds blobs of the given palette colours: threshold each colour, connected components.

    Boxes are pixel extents (x2, y2 exclusive), like the synthetic ground truth.
    ``drop`` lists ``(frame_index, colour)`` detections to suppress (simulated misses); the
    frame index is read from the call order, so use it with a known stride.
    """

    name = "colour-blobs"

    def __init__(
        self,
        colours: Sequence[str],
        *,
        tolerance: int = 60,
        min_area: int = 30,
        with_masks: bool = False,
    ) -> None:
        self.colours = list(colours)
        self.tolerance = tolerance
        self.min_area = min_area
        self.with_masks = with_masks
        self.calls = 0

    def __call__(self, frame: np.ndarray) -> sv.Detections:
        self.calls += 1
        boxes, scores, class_ids, names, masks = [], [], [], [], []
        image = frame.astype(np.int16)
        for cid, colour in enumerate(self.colours):
            target = np.array(PALETTE[colour], dtype=np.int16)
            hit = (np.abs(image - target) <= self.tolerance).all(axis=2).astype(np.uint8)
            count, labels, stats, _ = cv2.connectedComponentsWithStats(hit, connectivity=8)
            for label in range(1, count):
                left, top, w, h, area = (int(v) for v in stats[label])
                if area < self.min_area:
                    continue
                boxes.append([left, top, left + w, top + h])
                scores.append(1.0)
                class_ids.append(cid)
                names.append(colour)
                masks.append(labels == label)
        if not boxes:
            return sv.Detections.empty()
        return sv.Detections(
            xyxy=np.array(boxes, dtype=np.float64),
            confidence=np.array(scores),
            class_id=np.array(class_ids),
            mask=np.array(masks) if self.with_masks else None,
            data={"class_name": np.array(names, dtype=object)},
        )


def word_level_tokenizer(
    words: Sequence[str],
    *,
    specials: dict[str, int],
    template: str,
    first_word_id: int,
    unk: str,
    pad: str,
    extra: dict[str, str] | None = None,
):
    """A tiny fast tokenizer (WordLevel vocabulary, BERT-style pre-tokenisation)."""
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = dict(specials)
    for i, word in enumerate(words):
        vocab[word] = first_word_id + i
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=unk))
    tok.normalizer = normalizers.Lowercase()
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    used = [name for name in specials if name in template]
    tok.post_processor = processors.TemplateProcessing(
        single=template, special_tokens=[(name, specials[name]) for name in used]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token=unk, pad_token=pad, **(extra or {})
    )


WORDS = ["person", "car", "dog", "red", "a", "man", "circle", "square"]


def bert_like_tokenizer():
    """Grounding DINO's special ids are hard-coded BERT ids: [CLS]=101, [SEP]=102, '.'=1012."""
    return word_level_tokenizer(
        WORDS,
        specials={"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, ".": 1012, "?": 1029},
        template="[CLS] $A [SEP]",
        first_word_id=1030,
        unk="[UNK]",
        pad="[PAD]",
        extra={"cls_token": "[CLS]", "sep_token": "[SEP]"},
    )


def clip_like_tokenizer():
    return word_level_tokenizer(
        WORDS,
        specials={"<pad>": 0, "<unk>": 1, "<bos>": 2, "<eos>": 3, ".": 4},
        template="<bos> $A <eos>",
        first_word_id=5,
        unk="<unk>",
        pad="<pad>",
        extra={"bos_token": "<bos>", "eos_token": "<eos>"},
    )
