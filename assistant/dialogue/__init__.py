"""Dialogue: event-sourced trackers, their stores, forms and custom actions."""
