"""The ``tubescope`` command line (click + rich). Entry point: :func:`tubescope.cli.main.main`."""
