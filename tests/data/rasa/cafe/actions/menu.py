"""The menu, kept apart from the actions as projects often do (imported as `actions.menu`)."""

SIZES = ("small", "medium", "large")
DEFAULT_SIZE = "regular"


def order_line(size: str, drink: str) -> str:
    return f"One {size} {drink}, coming right up."
