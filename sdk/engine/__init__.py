"""The grounding engine: DSTH, LRA and TAS over a multimodal-LLM backend."""
