"""Dialogue state tracking backends."""
