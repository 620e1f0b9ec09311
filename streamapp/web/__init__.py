"""The browser page (plain HTML, CSS and JS, no build step); ``STATIC_DIR`` is the folder to serve."""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
