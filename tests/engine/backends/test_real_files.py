"""Every family proven on the files users load: tiny checkpoints built like real ones
(tests/fixtures/hf, and LLaVA-NeXT-Video's tokenizer.model from the shared fixtures) keep the
real tokenizer, template, special-token ids, preprocessing and vision geometry; our prompts are
token for token what the checkpoint's chat template and transformers' processor produce; the
yes/no ids and grounding tokens are the official code's."""

from __future__ import annotations

import hashlib
import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
from tubescope import preset
from tubescope.engine.backends.llava_next_video import VICUNA_SYSTEM
from tubescope.engine.backends.realfiles import RealFiles, scale_sections
from tubescope.errors import ModelUnavailableError
from tubescope.engine.backends.families import FamilyError, tiny_recipe
from tubescope.testing import save_tiny_model

from tests.engine.backends.helpers import CAPTION, QUESTION, random_frames
from tests.engine.backends.real_files import QWEN2, QWEN25, VENDORED, like

# the official code's answer ids (its run scripts' --yes_id / --no_id) and grounding tokens
# (Qwen3-VL is not in the paper: our paper preset scores its Qwen2 vocabulary's ids and takes
# the Qwen2-VL scripts' token)
OFFICIAL_YES_NO = {
    "qwen2-vl": (9693, 2152),
    "qwen2.5-vl": (9693, 2152),
    "qwen3-vl": (9693, 2152),
    "llava-next-video": (3582, 1217),
}
OFFICIAL_TOKEN = {
    "qwen2-vl": "<|im_start|>",
    "qwen2.5-vl": "<|im_start|>",
    "qwen3-vl": "<|im_start|>",
    "llava-next-video": "▁A",
}
TAIL = {
    "qwen2-vl": ("<|im_end|>", "Ċ", "<|im_start|>", "assistant", "Ċ"),
    "qwen2.5-vl": ("<|im_end|>", "Ċ", "<|im_start|>", "assistant", "Ċ"),
    "qwen3-vl": ("<|im_end|>", "Ċ", "<|im_start|>", "assistant", "Ċ"),
    "llava-next-video": ("▁A", "SS", "IST", "ANT", ":"),
}


def _messages(family: str, question: str, video: bool = True) -> list[dict]:
    """One video and the question, as a user would pass them to the processor."""
    content = ([{"type": "video"}] if video else []) + [{"type": "text", "text": question}]
    messages = [{"role": "user", "content": content}]
    if family == "llava-next-video":  # the vicuna_v1 system prompt of the official code
        messages.insert(0, {"role": "system", "content": [{"type": "text", "text": VICUNA_SYSTEM}]})
    return messages


def qwen3_expanded(backend, text: str, visual, fps: float, indices) -> str:
    """``text`` with its video placeholder expanded by transformers' own
    ``Qwen3VLProcessor.replace_video_token`` (a timestamp and a vision block per temporal
    patch, from the frames' ``VideoMetadata``) and ``ProcessorMixin.get_text_with_replacements``,
    run on a processor without its video processor (which needs torchvision)."""
    from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor
    from transformers.video_utils import VideoMetadata

    processor = object.__new__(Qwen3VLProcessor)
    processor.__dict__.update(
        image_token="<|image_pad|>",
        video_token="<|video_pad|>",
        vision_start_token="<|vision_start|>",
        vision_end_token="<|vision_end|>",
        video_processor=SimpleNamespace(
            merge_size=backend.preprocessor.merge_size,
            temporal_patch_size=backend.preprocessor.temporal_patch_size,
        ),
    )
    metadata = VideoMetadata(
        total_num_frames=int(max(indices)) + 1, fps=fps, frames_indices=[int(i) for i in indices]
    )
    inputs = {"video_grid_thw": visual.extra["video_grid_thw"].cpu(), "video_metadata": [metadata]}
    replacement = processor.replace_video_token(inputs, 0)
    (expanded,), _ = processor.get_text_with_replacements([text], [], [replacement])
    return expanded


def processor_ids(backend, family: str, visual, question: str, fps: float = 2.0, indices=None) -> list[int]:
    """What ``processor.apply_chat_template(messages, tokenize=True, add_generation_prompt=True)``
    gives, without the processor (its video processors need torchvision): the checkpoint's
    template rendered by the tokenizer, the video placeholder repeated as
    transformers/models/<family>/processing_*.py repeats it, the text tokenized with special
    tokens unless the rendered text already starts with BOS (processing_utils.py). Qwen3-VL's
    frame times come from the sampled frame ``indices`` of an ``fps`` video (default: the
    frames 0, 1, ... at the adapter's default ``sample_fps`` of 2)."""
    tok = backend.tokenizer
    text = tok.apply_chat_template(
        _messages(family, question), tokenize=False, add_generation_prompt=True
    )
    if family == "qwen3-vl":
        assert text.count("<|video_pad|>") == 1
        if indices is None:
            indices = range(visual.layout.num_frames)
        expanded = qwen3_expanded(backend, text, visual, fps, indices)
    elif family in ("qwen2-vl", "qwen2.5-vl"):
        # Qwen2VLProcessor / Qwen2_5_VLProcessor.replace_video_token: grid_thw.prod() // merge**2
        merge = backend.preprocessor.merge_size
        count = int(visual.extra["video_grid_thw"][0].prod()) // merge**2
        assert text.count("<|video_pad|>") == 1
        expanded = text.replace("<|video_pad|>", "<|video_pad|>" * count)
    else:
        # LlavaNextVideoProcessor.replace_video_token: (h // patch) * (w // patch) // 4 per frame
        side = backend.image_size
        patch = backend.model.config.vision_config.patch_size
        count = (side // patch) * (side // patch) // 4 * visual.layout.num_frames
        assert text.count("<video>") == 1
        expanded = text.replace("<video>", "<video>" * count)
    add_special = not (tok.bos_token and expanded.startswith(tok.bos_token))
    return list(tok(expanded, add_special_tokens=add_special)["input_ids"])


# ------------------------------------------------------------------------- the vendored files


def _recorded_hashes() -> dict[tuple[str, str], str]:
    table = (VENDORED / "SOURCES.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| (\S+) \| (\S+) \|.*\| `([0-9a-f]{64})` \|$", table, re.MULTILINE)
    return {(folder, name): digest for folder, name, digest in rows}


def test_vendored_files_are_the_recorded_genuine_bytes():
    recorded = _recorded_hashes()
    present = {
        (p.parent.name, p.name) for p in VENDORED.glob("*/*") if p.is_file()
    }
    assert present == set(recorded)  # every vendored file has its provenance row, and back
    for (folder, name), digest in recorded.items():
        data = RealFiles(VENDORED / folder).read_bytes(name.removesuffix(".xz"))
        assert hashlib.sha256(data).hexdigest() == digest, (folder, name)
    licence = (VENDORED / "LICENSE-Apache-2.0").read_text(encoding="utf-8")
    assert "Apache License" in licence and "Version 2.0, January 2004" in licence


def test_real_files_search_order_restriction_and_documented_values(tmp_path):
    real = RealFiles(QWEN2, (QWEN25, ["vocab.json"]), documented={"config.json": {"vocab_size": 3}})
    assert real.origin("tokenizer_config.json") == str(QWEN2 / "tokenizer_config.json")
    assert real.origin("vocab.json") == str(QWEN25 / "vocab.json.xz")
    assert real.origin("merges.txt") is None  # restricted to vocab.json from that folder
    assert real.json("config.json") == {"vocab_size": 3} and real.origin("config.json") == "documented"
    assert real.write(["vocab.json", "config.json", "merges.txt"], tmp_path) == ["vocab.json", "config.json"]
    assert json.loads((tmp_path / "vocab.json").read_text())["yes"] == 9693
    with pytest.raises(ModelUnavailableError, match="no such directory"):
        RealFiles(tmp_path / "missing")
    with pytest.raises(ModelUnavailableError, match="no preprocessor_config.json in"):
        RealFiles(QWEN2).require_json("preprocessor_config.json")


def test_like_refuses_another_familys_files(tmp_path):
    with pytest.raises(FamilyError, match=r"is a 'qwen2_5_vl' checkpoint, not one of family 'qwen2-vl'"):
        save_tiny_model("qwen2-vl", tmp_path, like=[QWEN25])


# ------------------------------------------------------------------------- the tiny checkpoints


def test_checkpoint_keeps_the_real_tokenizer_template_ids_and_geometry(real_family, real_dirs, real_backends):
    family = real_family
    path, backend = real_dirs[family], real_backends[family]
    real = RealFiles.of(like(family), _documented(family))
    real_config = real.require_json("config.json")
    tiny_config = json.loads((path / "config.json").read_text())

    # tokenizer: the real vocabulary, added tokens and chat template
    tok = backend.tokenizer
    config = real.json("tokenizer_config.json")
    for token_id, token in config["added_tokens_decoder"].items():
        assert tok.convert_tokens_to_ids(token["content"]) == int(token_id)
    assert tok.chat_template == real.chat_template()
    vocab = real.json("vocab.json")
    if vocab is not None:  # BPE: every real piece keeps its id
        sample = list(vocab.items())[::997]
        assert all(tok.convert_tokens_to_ids(piece) == i for piece, i in sample)
    for name in ("preprocessor_config.json", "generation_config.json", "chat_template.json"):
        assert json.loads((path / name).read_text()) == real.json(name), name

    # special-token ids and vocabulary size of the real config
    text = tiny_config["text_config"]
    real_text = {**real_config, **(real_config.get("text_config") or {})}
    assert text["vocab_size"] == real_text["vocab_size"] >= len(tok)
    for key in ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id",
                "image_token_index", "video_token_index"):
        if key in real_config:
            assert tiny_config[key] == real_config[key], key
    assert backend.placeholder_id == tok.convert_tokens_to_ids(backend.template.placeholder)

    # vision geometry, small widths and depths
    vision, real_vision = tiny_config["vision_config"], real_config["vision_config"]
    for key in ("patch_size", "spatial_merge_size", "temporal_patch_size", "window_size",
                "tokens_per_second", "image_size"):
        if key in real_vision:
            assert vision[key] == real_vision[key], key
    assert backend.model.config.get_text_config().hidden_size == 64
    if family == "qwen2.5-vl":
        assert real_vision["fullatt_block_indexes"] == [7, 15, 23, 31]
        assert vision["depth"] == 2 and vision["fullatt_block_indexes"] == [1]  # windowed, then full
    if family in ("qwen2-vl", "qwen2.5-vl"):
        sections = backend.model.config.get_text_config().rope_parameters["mrope_section"]
        head = 64 // 4
        assert sum(sections) == head // 2 and sections == scale_sections([16, 24, 24], head // 2)
        assert sections == [2, 3, 3]  # 16:24:24 of a 128 head -> 2:3:3 of a 16 head
    if family == "qwen3-vl":
        text_config = backend.model.config.get_text_config()
        rope = text_config.rope_parameters
        assert real_text["rope_scaling"]["mrope_interleaved"] and rope["mrope_interleaved"]
        assert rope["mrope_section"] == scale_sections([24, 20, 20], 8) == [3, 3, 2]
        assert rope["rope_theta"] == real_text["rope_theta"] == 5000000
        assert text_config.head_dim == 16 and tiny_config["tie_word_embeddings"] is True
        # patch 16, merge 2, temporal patch 2; DeepStack blocks 5, 11, 17 of 24 -> 0, 1 of 2
        assert (vision["patch_size"], vision["spatial_merge_size"], vision["temporal_patch_size"]) == (16, 2, 2)
        assert real_vision["deepstack_visual_indexes"] == [5, 11, 17]
        assert vision["deepstack_visual_indexes"] == [0, 1] and vision["depth"] == 2
        assert vision["num_position_embeddings"] == real_vision["num_position_embeddings"] == 2304
        video = json.loads((path / "video_preprocessor_config.json").read_text())
        assert video == real.json("video_preprocessor_config.json")
        assert (backend.preprocessor.min_pixels, backend.preprocessor.max_pixels) == (4096, 25165824)
        assert backend.preprocessor.image_mean == (0.5, 0.5, 0.5)


def _documented(family):
    return tiny_recipe(family).documented


# ------------------------------------------------------------------------- prompts and ids


def test_prompt_ids_equal_the_checkpoint_template_and_processor(real_family, real_backends):
    backend = real_backends[real_family]
    visual = backend.encode(random_frames(4, 90, 160, seed=3))
    for question in (QUESTION, CAPTION, "Is there the man in the red jacket who sits down in this video?"):
        ours = backend.prompt(question, visual).input_ids.tolist()
        assert ours == processor_ids(backend, real_family, visual, question), question


@pytest.mark.parametrize("num_frames", [4, 8, 20])
def test_qwen3_vl_prompt_ids_with_the_frames_timestamps(real_backends, num_frames):
    """The sampled frames of a 29.97 fps video: their times reach the prompt as the processor
    prints them, one ``<t seconds>`` block per temporal patch, token for token."""
    backend = real_backends["qwen3-vl"]
    fps = 30000 / 1001
    indices = np.linspace(0, 299, num_frames).round().astype(int)
    visual = backend.encode(random_frames(num_frames, 90, 160, seed=num_frames), indices, timestamps=indices / fps)
    assert visual.layout.groups == num_frames // 2
    for question in (QUESTION, CAPTION):
        ours = backend.prompt(question, visual).input_ids.tolist()
        assert ours == processor_ids(backend, "qwen3-vl", visual, question, fps, indices), question
    text = backend.tokenizer.decode(ours)
    assert text.count(" seconds><|vision_start|>") == num_frames // 2
    first = f"<{(indices[0] + indices[1]) / 2 / fps:.1f} seconds>"
    assert text.startswith(f"<|im_start|>user\n<|vision_start|>{first}<|vision_start|><|video_pad|>")


def test_yes_no_ids_are_the_official_ones(real_family, real_backends):
    backend = real_backends[real_family]
    yes, no = OFFICIAL_YES_NO[real_family]
    assert (backend.yes_ids[0], backend.no_ids[0]) == (yes, no)
    assert backend.tokenizer.convert_ids_to_tokens([yes, no]) == ["yes", "no"]


def test_grounding_candidates_are_the_template_tail_and_the_paper_token_is_official(
    real_family, real_backends
):
    backend = real_backends[real_family]
    visual = backend.encode(random_frames(2, 90, 160, seed=4))
    prompt = backend.prompt(QUESTION, visual)
    reference = processor_ids(backend, real_family, visual, QUESTION)
    tail = backend.tokenizer.convert_ids_to_tokens(reference[-len(TAIL[real_family]):])
    assert prompt.candidate_tokens == TAIL[real_family] == tuple(tail)
    offset = preset("paper", real_family).token_offset
    assert backend.tokenizer.convert_ids_to_tokens([reference[offset]]) == [OFFICIAL_TOKEN[real_family]]
    out = backend.prefill(visual, [QUESTION], rows=[offset])[0]
    assert out.row_tokens == (OFFICIAL_TOKEN[real_family],)


def test_generation_prompt_is_the_templates_text_only_turn(real_family, real_backends):
    backend = real_backends[real_family]
    tok = backend.tokenizer
    message = "Split the sentence: The man in red sits down."
    text = tok.apply_chat_template(
        _messages(real_family, message, video=False), tokenize=False, add_generation_prompt=True
    )
    ours = backend.template.text_only(message)
    assert text == ours or text == tok.bos_token + ours
    generated = backend.generate_text(message, max_new_tokens=3)
    assert isinstance(generated, str) and generated == backend.generate_text(message, 3)


def test_real_preprocessing_sets_the_qwen_frame_size(real_backends):
    """The real Qwen2.5-VL files have no video preprocessor config: frames get Qwen's video
    pixel budget (128..768 tokens of 28 x 28), as transformers' video processor does."""
    backend = real_backends["qwen2.5-vl"]
    assert backend.preprocessor.max_pixels == 12845056  # the image budget of the real file
    h, w = backend.frame_size(90, 160)
    assert h % 28 == w % 28 == 0 and 128 * 784 <= h * w <= 768 * 784
    visual = backend.encode(random_frames(2, 90, 160, seed=5))
    assert visual.layout.grid_shape == (1, h // 28, w // 28)
    assert np.isfinite(visual.embeds.numpy()).all()


def test_real_qwen3_vl_preprocessing_is_the_video_processors_clip_budget(real_backends):
    """Qwen3-VL's video budget covers the whole clip (frames x height x width), as
    ``Qwen3VLVideoProcessor.resize`` computes it from the real video preprocessor config."""
    from transformers.models.qwen3_vl.video_processing_qwen3_vl import smart_resize

    backend = real_backends["qwen3-vl"]
    for frames, height, width in ((4, 90, 160), (20, 720, 1280), (64, 1080, 1920), (2, 20, 600)):
        expected = smart_resize(frames, height, width, temporal_factor=2, factor=32,
                                min_pixels=4096, max_pixels=25165824)
        assert backend.frame_size(height, width, frames) == expected, (frames, height, width)
    assert backend.frame_size(720, 1280, 20) == (704, 1280)  # 20 x 704 x 1280 fits the budget
    h, w = backend.frame_size(1080, 1920, 64)
    assert 64 * h * w <= 25165824 and h % 32 == w % 32 == 0
    visual = backend.encode(random_frames(4, 90, 160, seed=5))
    assert visual.layout.grid_shape == (2, 3, 5) and visual.extra["frame_size"] == (96, 160)
