"""Conversation records: consent, ratings and corrections."""
