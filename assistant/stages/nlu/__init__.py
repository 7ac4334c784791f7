"""Intent detection backends."""
