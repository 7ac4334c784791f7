"""Sentiment backends."""
