"""An independent, plain re-implementation of the official decision path (the oracle).

Written from reading the official repository (zaiquanyang/LLaVA_Next_STVG: ``stvg/`` and its
README; the Qwen/OneVision scripts as its README and docs/method.md describe them), in our own
words, to check tubescope's ``paper`` preset against it. It deliberately shares **no** code
with ``tubescope.engine``: it uses only transformers' model, tokenizer and PIL image-processor
classes, torch, numpy, Pillow and plain JSON. Everything is done the slow, literal way the
official code does it:

* frames: ``int(np.linspace(0, n - 1, F))`` over the proposal frames (``data_utils.py``), each
  squashed to ``R x R`` with ``PIL.Image.resize(..., BICUBIC)`` (``hcstvg.py``), then the
  model's image processor;
* visual tokens: LLaVA (``llava_arch.py``): vision tower -> projector -> 2-D pooling
  (``avg_pool2d(stride)`` for LLaVA-NeXT-Video, bilinear ``interpolate`` to
  ``ceil(S / stride)`` for LLaVA-OneVision), plus one ``image_newline`` after all frames for
  OneVision (``one_token``); Qwen2-VL: every frame processed as an image (the processor
  repeats it into its temporal patch) through the vision tower;
* prompts: the official conversation templates (``vicuna_v1``, ``qwen_1_5``;
  ``tokenizer_image_token`` splits the prompt at the image token) and, for Qwen2-VL, the
  genuine Qwen2-VL chat template with one video entry;
* every question whose attention is read is a full forward with **eager** attention and
  ``output_attentions=True`` (LRA's yes/no passes need no attention and use SDPA, exact in
  float64); the yes/no score is read from the last prompt position's logits, which is what greedy
  ``generate`` returns as ``scores[0]`` (no logits processor changes the first step). Qwen2-VL
  gets plain positions ``0..L-1`` on its three M-RoPE axes, as ``generate(inputs_embeds=...)``
  computes them without ``input_ids`` in transformers 4.51.3;
* the attention map of the grounding token ``token_idx`` over the visual tokens (newline
  column dropped), averaged over heads and the layers (all, or ``[-26:-6]``), and the relative
  map ``A(question) / (A(caption) + 1e-4)`` (``spatial_tuning.py``);
* LRA (``spatial_llm_logit``): a zero ``nn.Parameter`` prompt, ``cur = beta * prompt +
  (1 - beta) * history``, loss ``1 - (s(sub) - s(caption))``, ``history = prompt``,
  ``prompt = prompt - lr * autograd.grad(loss, prompt)``; inference at ``cur`` of the final pair;
* TAS: the frame axis of the visual tokens flipped (the newline token kept last), its own
  prompt, the map flipped back and added;
* spatial choice (``spatial_llm_att``): ``F.interpolate(masks, (g, g), bilinear)``, the track
  with the largest ``max(R * m)``;
* temporal (``hcstvg_eval.evaluation_llava_att``): the action map bilinearly upsampled to the
  masks' resolution, times the binary masks, ``adaptive_max_pool2d``, normalised by
  ``max + 1e-4``, and the greedy window that stops at ``frames_thre + 1`` frames or on an
  exact tie (out of range = -100).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

__all__ = [
    "OfficialModel",
    "OfficialSettings",
    "official_ground",
    "official_lra",
    "track_choice",
    "temporal_window",
    "greedy_window",
    "decode_rle",
    "sample_proposal_frames",
]

CAPTION = "please describe this video"

VICUNA_SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant. "
    "The assistant gives helpful, detailed, and polite answers to the user's questions."
)
QWEN_SYSTEM = "<|im_start|>system\nYou are a helpful assistant."
# the genuine Qwen2-VL chat template (Qwen/Qwen2-VL-2B-Instruct-AWQ chat_template.json)
QWEN2_VL_TEMPLATE_FILE = Path("/work/shared/fixtures/hf/Qwen__Qwen2-VL-2B-Instruct-AWQ/chat_template.json")


@dataclass(frozen=True)
class OfficialSettings:
    """The official run settings of one backbone and dataset (its scripts' flags)."""

    frames: int
    resolution: int
    token_idx: int
    pool_stride: int
    epochs: int = 2  # ttt_epoch
    lr: float = 8.0  # s_lr = t_lr
    beta: float = 0.5
    frames_thre: int = 10
    layer_slice: tuple[int, int] | None = None  # None: all layers; (-26, -6): the base-mode window


def decode_rle(rle: dict[str, Any]) -> np.ndarray:
    """An uncompressed COCO RLE (column-major runs, zeros first) as a ``(h, w)`` uint8 mask."""
    height, width = rle["size"]
    flat = np.zeros(height * width, dtype=np.uint8)
    position, value = 0, 0
    for run in rle["counts"]:
        flat[position : position + run] = value
        position += run
        value = 1 - value
    return flat.reshape((height, width), order="F")


def sample_proposal_frames(proposal_file: dict[str, Any], frames: int) -> tuple[list[int], list[int]]:
    """``(indices into sample_frames, video frame ids)`` the official loader picks."""
    names = proposal_file["sample_frames"]
    ids = [int(name.split(".")[0]) for name in names]
    picked = [int(i) for i in np.linspace(0, len(ids) - 1, num=frames)]
    return picked, [ids[i] for i in picked]


def greedy_window(scores: torch.Tensor, center: int, frames_thre: int) -> np.ndarray:
    """The official temporal loop (``evaluation_llava_att``): a 0/1 mask over the frames."""
    all_frames = scores.shape[0]
    mask = np.zeros(all_frames)
    mask[center] = 1.0
    left_i, right_j = 1, 1
    for _ in range(all_frames - 1):
        left = scores[center - left_i] if center - left_i >= 0 else -100
        right = scores[center + right_j] if center + right_j < all_frames else -100
        if mask.sum() > frames_thre:
            break
        if left > right:
            mask[center - left_i] = 1.0
            left_i += 1
        elif left < right:
            mask[center + right_j] = 1.0
            right_j += 1
        else:
            break
    return mask


class OfficialModel:
    """A tiny checkpoint loaded with its transformers class, eager attention, as the scripts do."""

    def __init__(
        self,
        model_dir: str | Path,
        family: str,
        dtype: torch.dtype = torch.float64,
        decode_steps: tuple[int, int] = (0, 0),
    ) -> None:
        from transformers import AutoTokenizer

        import transformers

        self.family = family
        classes = {
            "llava-next-video": "LlavaNextVideoForConditionalGeneration",
            "llava-onevision": "LlavaOnevisionForConditionalGeneration",
            "qwen2-vl": "Qwen2VLForConditionalGeneration",
        }
        model_class = getattr(transformers, classes[family])
        self.model = model_class.from_pretrained(model_dir, attn_implementation="eager", dtype=dtype)
        self.dtype = dtype
        # generate(max_new_tokens=N) decodes N - 1 more tokens after the prefill (10 in LRA, 5 at
        # inference: (9, 4)); they change no decision, only the cost (bench/engine.py runs them)
        self.decode_steps = decode_steps
        self.decoded = 0
        self.model.eval()
        self.model.requires_grad_(False)
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.preprocessor = json.loads((Path(model_dir) / "preprocessor_config.json").read_text())
        self.config = self.model.config
        self.yes_id = int(self.tokenizer.convert_tokens_to_ids("yes"))
        self.no_id = int(self.tokenizer.convert_tokens_to_ids("no"))
        self.num_layers = int(self.config.get_text_config().num_hidden_layers)

    # ------------------------------------------------------------------ visual tokens
    def video_tokens(self, frames: list[np.ndarray], pool_stride: int) -> tuple[torch.Tensor, int, bool]:
        """``(embeds (1, v_n, D), grid side g, trailing newline?)`` of the resized frames."""
        with torch.no_grad():
            if self.family == "qwen2-vl":
                return self._qwen_tokens(frames)
            return self._llava_tokens(frames, pool_stride)

    def _llava_tokens(self, frames: list[np.ndarray], stride: int) -> tuple[torch.Tensor, int, bool]:
        pre = self.preprocessor
        if self.family == "llava-next-video":
            from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

            processor = CLIPImageProcessorPil(
                size=pre["size"], crop_size=pre["crop_size"], image_mean=pre["image_mean"], image_std=pre["image_std"]
            )
        else:
            from transformers.models.siglip.image_processing_pil_siglip import SiglipImageProcessorPil

            processor = SiglipImageProcessorPil(size=pre["size"], image_mean=pre["image_mean"], image_std=pre["image_std"])
        pixels = torch.tensor(processor(images=frames, return_tensors="np")["pixel_values"]).to(self.dtype)
        tower = self.model.model.vision_tower
        out = tower(pixels, output_hidden_states=True)
        feats = out.hidden_states[self.config.vision_feature_layer]
        if self.config.vision_feature_select_strategy == "default":
            feats = feats[:, 1:]
        feats = self.model.model.multi_modal_projector(feats)  # encode_images: tower -> projector
        num_frames, tokens, dim = feats.shape
        side = int(math.isqrt(tokens))
        grid = feats.view(num_frames, side, side, dim).permute(0, 3, 1, 2)  # get_2dPool
        if self.family == "llava-next-video":
            grid = F.avg_pool2d(grid, stride)
        else:
            scaled = [math.ceil(side / stride), math.ceil(side / stride)]
            grid = F.interpolate(grid, size=scaled, mode="bilinear")
        g = grid.shape[-1]
        flat = grid.permute(0, 2, 3, 1).reshape(num_frames * g * g, dim)
        newline = self.family == "llava-onevision"  # mm_newline_position = one_token
        if newline:
            flat = torch.cat([flat, self.model.model.image_newline[None]], dim=0)
        return flat[None], g, newline

    def _qwen_tokens(self, frames: list[np.ndarray]) -> tuple[torch.Tensor, int, bool]:
        from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import Qwen2VLImageProcessorPil

        pre = self.preprocessor
        processor = Qwen2VLImageProcessorPil(
            min_pixels=pre["min_pixels"], max_pixels=pre["max_pixels"],
            image_mean=pre["image_mean"], image_std=pre["image_std"],
        )
        out = processor(images=frames, return_tensors="np")
        grid_thw = torch.tensor(out["image_grid_thw"])  # one [1, h, w] row per frame
        pixels = torch.tensor(out["pixel_values"]).to(self.dtype)
        feats = self.model.model.get_image_features(pixels, image_grid_thw=grid_thw)
        embeds = torch.cat(list(feats.pooler_output), dim=0)
        g = int(grid_thw[0, 1]) // self.config.vision_config.spatial_merge_size
        return embeds[None], g, False

    # ------------------------------------------------------------------ prompts
    def prompt_ids(self, question: str) -> tuple[list[int], int]:
        """``(ids with one image placeholder, placeholder position)``."""
        tok = self.tokenizer
        if self.family == "qwen2-vl":
            template = json.loads(QWEN2_VL_TEMPLATE_FILE.read_text())["chat_template"]
            messages = [{"role": "user", "content": [{"type": "video"}, {"type": "text", "text": question}]}]
            text = tok.apply_chat_template(messages, chat_template=template, tokenize=False, add_generation_prompt=True)
            ids = tok(text, add_special_tokens=False).input_ids
            pad = tok.convert_tokens_to_ids("<|video_pad|>")
            return ids, ids.index(pad)
        if self.family == "llava-next-video":  # conv_vicuna_v1, SeparatorStyle.TWO
            prompt = VICUNA_SYSTEM + " " + "USER" + ": " + "<image>\n" + question + " " + "ASSISTANT" + ":"
            bos = [tok.bos_token_id]  # the Llama tokenizer prepends BOS to the first chunk
        else:  # conv_qwen (qwen_1_5), SeparatorStyle.CHATML
            prompt = QWEN_SYSTEM + "<|im_end|>" + "\n"
            prompt += "<|im_start|>user" + "\n" + "<image>\n" + question + "<|im_end|>" + "\n"
            prompt += "<|im_start|>assistant" + "\n"
            bos = []
        chunks = [tok(chunk, add_special_tokens=False).input_ids for chunk in prompt.split("<image>")]
        ids = bos + chunks[0] + [-200] + chunks[1]  # tokenizer_image_token
        return ids, len(bos) + len(chunks[0])

    # ------------------------------------------------------------------ one question
    def run(self, visual: torch.Tensor, question: str, *, attentions: bool) -> tuple[torch.Tensor, Any, int, int]:
        """``(last-position logits, attentions or None, image position, prompt length)``."""
        ids, at = self.prompt_ids(question)
        embed = self.model.get_input_embeddings()
        pre = embed(torch.tensor([ids[:at]]))  # the text around the image token, embedded
        post = embed(torch.tensor([ids[at + 1 :]]))
        inputs = torch.cat([pre, visual, post], dim=1)
        length = inputs.shape[1]
        kwargs: dict[str, Any] = {}
        if self.family == "qwen2-vl":
            kwargs["position_ids"] = torch.arange(length).view(1, 1, -1).expand(3, 1, -1)
        out = self.model(
            inputs_embeds=inputs,
            attention_mask=torch.ones(1, length, dtype=torch.long),
            output_attentions=attentions,
            use_cache=max(self.decode_steps) > 0,
            **kwargs,
        )
        steps = self.decode_steps[1] if attentions else self.decode_steps[0]
        if steps:
            self._decode(out, length, attentions, steps)
        return out.logits[0, -1], out.attentions if attentions else None, at, len(ids) - 1

    def _decode(self, out: Any, length: int, attentions: bool, steps: int) -> None:
        """The rest of greedy ``generate``: more tokens with the KV cache (cost only)."""
        cache, token = out.past_key_values, out.logits[0, -1].argmax()
        with torch.no_grad():
            for step in range(steps):
                kwargs: dict[str, Any] = {}
                if self.family == "qwen2-vl":
                    kwargs["position_ids"] = torch.full((3, 1, 1), length + step)
                step_out = self.model(
                    inputs_embeds=self.model.get_input_embeddings()(token.reshape(1, 1)),
                    attention_mask=torch.ones(1, length + step + 1, dtype=torch.long),
                    past_key_values=cache, output_attentions=attentions, use_cache=True, **kwargs,
                )
                cache, token = step_out.past_key_values, step_out.logits[0, -1].argmax()
                self.decoded += 1

    def margin(self, visual: torch.Tensor, question: str) -> torch.Tensor:
        """``z_yes - z_no`` of ``question`` (the LRA passes need no attention weights: they run
        with SDPA, which in float64 keeps float64 softmax where eager's runs in float32)."""
        self.model.set_attn_implementation("sdpa")
        try:
            logits, _, _, _ = self.run(visual, question, attentions=False)
        finally:
            self.model.set_attn_implementation("eager")
        return logits[self.yes_id] - logits[self.no_id]

    def attention_map(
        self, visual: torch.Tensor, question: str, token_idx: int, layer_slice: tuple[int, int] | None,
        frames: int, g: int, newline: bool,
    ) -> torch.Tensor:
        """``(F, g*g)``: the grounding token's attention over the grid tokens (``get_Q_att``)."""
        _, atts, img_idx, _ = self.run(visual, question, attentions=True)
        v_n = visual.shape[1]
        stacked = torch.stack([a[0] for a in atts])  # layers x heads x L x L
        rows = stacked[:, :, img_idx + v_n - 1 :, img_idx : img_idx + v_n]
        if newline:
            rows = rows[:, :, :, :-1]
        per = rows.reshape(stacked.shape[0], stacked.shape[1], -1, frames, g * g)[:, :, token_idx]
        if layer_slice is not None:
            per = per[layer_slice[0] : layer_slice[1]]
        return per.mean(dim=0).mean(dim=0)


# ---------------------------------------------------------------------------- the pipeline
def official_lra(model: OfficialModel, visual: torch.Tensor, questions: list[str], s: OfficialSettings):
    prompt = torch.nn.Parameter(torch.zeros_like(visual))
    history = prompt
    for _ in range(s.epochs):
        cur = s.beta * prompt + (1 - s.beta) * history
        scores = torch.stack([model.margin(visual + cur, q) for q in questions])
        loss = 0.0
        for q_id in range(len(questions[1:])):
            loss = loss + (1.0 - (scores[q_id + 1] - scores[0]))
        history = prompt
        grad = torch.autograd.grad(loss, [prompt], retain_graph=True, allow_unused=False)[0]
        prompt = prompt - s.lr * grad
    return prompt, history


def _relative(model, visual, question, prompt, history, s, frames, g, newline):
    if prompt is None:
        cur = torch.zeros_like(visual)
    else:
        cur = s.beta * prompt + (1 - s.beta) * history
    with torch.no_grad():
        maps = [
            model.attention_map(visual + cur, q, s.token_idx, s.layer_slice, frames, g, newline)
            for q in (question, CAPTION)
        ]
    return maps[0] / (maps[1] + 0.0001), None if prompt is None else cur.detach()[0]


def _reverse(visual: torch.Tensor, frames: int, g: int, newline: bool) -> torch.Tensor:
    grid = visual[0, : frames * g * g].reshape(frames, g * g, -1)
    flipped = torch.flip(grid, dims=[0]).reshape(1, frames * g * g, -1)
    if newline:
        flipped = torch.cat([flipped, visual[:, -1:]], dim=1)
    return flipped


def track_choice(spatial: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """``(P,)`` track scores (``spatial_llm_att``): masks ``(P, F, H, W)`` read bilinearly on
    the ``(F, rows, cols)`` grid of the map, ``max(R * m)`` per track."""
    frames, rows, cols = spatial.shape
    grid_masks = F.interpolate(masks.double(), size=(rows, cols), mode="bilinear", align_corners=False)
    return (spatial.double()[None] * grid_masks).reshape(masks.shape[0], -1).max(dim=-1).values


def temporal_window(
    temporal: torch.Tensor, masks: torch.Tensor, track: int, frames_thre: int
) -> tuple[np.ndarray, tuple[int, int]]:
    """``(normalised frame scores, (first, last))`` (``evaluation_llava_att``): the map
    ``(F, rows, cols)`` upsampled to the masks' size, times the binary masks, max-pooled per
    frame; the chosen track's scores normalised and grown into the greedy window."""
    frames, rows, cols = temporal.shape
    height, width = masks.shape[-2:]
    up = F.interpolate(temporal.double()[None], size=(height, width), mode="bilinear", align_corners=False)
    per_frame = F.adaptive_max_pool2d(masks.double() * up, output_size=(1, 1)).reshape(masks.shape[0], frames)
    _, best_frame = torch.max(per_frame, dim=1)
    chosen = per_frame[track]
    normalised = chosen / (chosen.max() + 0.0001)
    mask = greedy_window(normalised, int(best_frame[track]), frames_thre)
    first = int(np.argmax(mask == 1))
    last = len(mask) - 1 - int(np.argmax(mask[::-1] == 1))
    return normalised.numpy(), (first, last)


@dataclass
class OfficialDecision:
    track: int  # index into dino_sam2_proposals
    window: tuple[int, int]  # inclusive positions into the sampled frames
    sted: tuple[int, int]  # video frame ids of the window ends
    frame_ids: list[int]
    spatial: np.ndarray  # (F, g, g) relative maps: original order,
    spatial_reversed: np.ndarray  # the reversed branch flipped back,
    temporal: np.ndarray  # and the action map
    prompts: dict[str, np.ndarray] = field(default_factory=dict)  # the inference prompts
    track_scores: np.ndarray | None = None
    frame_scores: np.ndarray | None = None


def official_ground(
    model: OfficialModel,
    video: np.ndarray,
    proposal_file: dict[str, Any],
    attribute: str,
    action: str,
    s: OfficialSettings,
    cache: dict[str, Any] | None = None,
) -> OfficialDecision:
    """Ground one query the official way: attribute / action are the decomposed sub-queries.

    ``cache`` keeps the video's frames, visual tokens and masks between queries of the same
    video and settings (the official code recomputes them; they are the same).
    """
    attr_q = f"Is there {attribute.strip('.').strip()} in this video?"
    act_q = f"Is there {action.strip('.').strip()} in this video?"
    cache = {} if cache is None else cache
    if "visual" not in cache:
        picked, frame_ids = sample_proposal_frames(proposal_file, s.frames)
        frames = [
            np.array(Image.fromarray(video[i]).resize((s.resolution, s.resolution), Image.BICUBIC))
            for i in frame_ids
        ]
        cache["visual"] = model.video_tokens(frames, s.pool_stride)
        cache["frame_ids"] = frame_ids
        tracks = [list(t.values()) for t in proposal_file["dino_sam2_proposals"]]
        cache["masks"] = torch.tensor(
            np.stack([np.stack([decode_rle(t[2][i]) for i in picked]) for t in tracks]), dtype=torch.float32
        )  # P x F x H x W
    visual, g, newline = cache["visual"]
    frame_ids, masks = cache["frame_ids"], cache["masks"]
    tracks = proposal_file["dino_sam2_proposals"]
    n = s.frames

    # spatial: LRA + TAS
    prompt, history = official_lra(model, visual, [CAPTION, attr_q], s) if s.epochs > 0 else (None, None)
    rel, cur = _relative(model, visual, attr_q, prompt, history, s, n, g, newline)
    reversed_visual = _reverse(visual, n, g, newline)
    prompt_r, history_r = official_lra(model, reversed_visual, [CAPTION, attr_q], s) if s.epochs > 0 else (None, None)
    rel_r, cur_r = _relative(model, reversed_visual, attr_q, prompt_r, history_r, s, n, g, newline)
    rel_r_back = torch.flip(rel_r, dims=[0])
    assembled = rel + rel_r_back
    track_scores = track_choice(assembled.reshape(n, g, g), masks)
    track = int(torch.argmax(track_scores))

    # temporal: LRA on the action question, scored inside the chosen track's masks
    prompt_t, history_t = official_lra(model, visual, [CAPTION, act_q], s) if s.epochs > 0 else (None, None)
    rel_t, cur_t = _relative(model, visual, act_q, prompt_t, history_t, s, n, g, newline)
    normalised, (first, last) = temporal_window(rel_t.reshape(n, g, g), masks, track, s.frames_thre)
    prompts = {}
    if cur is not None:
        prompts = {"spatial": cur.numpy(), "spatial_reversed": cur_r.numpy(), "temporal": cur_t.numpy()}
    return OfficialDecision(
        track=track,
        window=(first, last),
        sted=(frame_ids[first], frame_ids[last]),
        frame_ids=frame_ids,
        spatial=rel.reshape(n, g, g).numpy(),
        spatial_reversed=rel_r_back.reshape(n, g, g).numpy(),
        temporal=rel_t.reshape(n, g, g).numpy(),
        prompts=prompts,
        track_scores=track_scores.numpy(),
        frame_scores=normalised,
    )
