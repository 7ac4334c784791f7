"""Tone adjustment backends."""
