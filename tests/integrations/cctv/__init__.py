"""Tests of the CCTV integration (tubescope.integrations.cctv and ``tubescope watch``)."""
