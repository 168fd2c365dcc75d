"""Headless engine of whisper-tui: every pipeline stage as plain functions over small dataclasses."""
