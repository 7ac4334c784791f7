"""Prices, kept apart from the actions as projects often do (imported as `actions.menu`)."""

PRICES = {"small": 2.5, "medium": 3.0, "large": 3.5}


def price_of(size: str) -> str:
    return f"{PRICES.get(size, 3.0):.2f}"
