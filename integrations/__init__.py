"""Integrations built on the tubescope SDK.

- :mod:`tubescope.integrations.cctv`: standing natural-language queries on CCTV sources (RTSP,
  HTTP(S)/HLS, video files, NVR export folders) with events, annotated clips and
  ``tubescope watch``.
- :mod:`tubescope.integrations.runs`: batch runners (see that package).
"""
