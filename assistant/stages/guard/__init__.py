"""Input guard backends."""
