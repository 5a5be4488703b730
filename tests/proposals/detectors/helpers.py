"""Tiny random-weight Grounding DINO and OWLv2 models (nothing downloaded) and test frames."""

from __future__ import annotations

import numpy as np
import torch

from tests.proposals.helpers import bert_like_tokenizer, clip_like_tokenizer

QUERIES = 12  # Grounding DINO object queries of the tiny model



def tiny_gdino():
    from transformers import GroundingDinoConfig, GroundingDinoForObjectDetection, SwinConfig
    from transformers.models.grounding_dino.image_processing_pil_grounding_dino import (
        GroundingDinoImageProcessorPil,
    )

    torch.manual_seed(0)
    swin = SwinConfig(
        window_size=7,
        embed_dim=8,
        depths=[1, 1, 1, 1],
        num_heads=[1, 1, 1, 1],
        image_size=64,
        out_indices=[2, 3, 4],
    )
    config = GroundingDinoConfig(
        d_model=32,
        encoder_layers=1,
        decoder_layers=2,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=16,
        decoder_ffn_dim=16,
        num_queries=QUERIES,
        num_feature_levels=4,
        encoder_n_points=2,
        decoder_n_points=2,
        backbone_config=swin,
        max_text_len=16,
        text_config={
            "model_type": "bert",
            "hidden_size": 8,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "intermediate_size": 8,
            "max_position_embeddings": 32,
            "vocab_size": 1100,
        },
    )
    model = GroundingDinoForObjectDetection(config).eval()
    processor = GroundingDinoImageProcessorPil(size={"shortest_edge": 64, "longest_edge": 96})
    return model, bert_like_tokenizer(), processor


def tiny_owlv2():
    from transformers import Owlv2Config, Owlv2ForObjectDetection
    from transformers.models.owlv2.image_processing_pil_owlv2 import Owlv2ImageProcessorPil

    torch.manual_seed(0)
    config = Owlv2Config(
        text_config={
            "vocab_size": 64,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 16,
            "pad_token_id": 0,
            "bos_token_id": 2,
            "eos_token_id": 3,
        },
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 64,
            "patch_size": 16,
        },
        projection_dim=16,
    )
    model = Owlv2ForObjectDetection(config).eval()
    processor = Owlv2ImageProcessorPil(size={"height": 64, "width": 64})
    return model, clip_like_tokenizer(), processor


def random_frame(width=80, height=60, seed=0):
    """A random RGB frame."""
    return np.random.default_rng(seed).integers(0, 255, size=(height, width, 3), dtype=np.uint8)
