"""CCTV sources and batch runners (see the integrations issues)."""
