"""Textual screens over the headless `core` package."""
