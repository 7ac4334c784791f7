"""`assistant.learning.stats`: counts, ratings per intent, flags and the PNG plot, from rows
built as the record store holds them."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import numpy as np
import pytest

from assistant.learning.rows import FeedbackRow, TurnRow
from assistant.learning.stats import UNKNOWN_INTENT, compute, format_stats, plot
from assistant.learning.store import SQLiteRecordStore

DAY = 86400.0
START = datetime(2026, 11, 2, 9, tzinfo=UTC).timestamp()


def _turn(conv: str, turn: int, user: str, at: float, intent: str, **kw: object) -> TurnRow:
    return TurnRow(conv, turn, user, at, f"words {conv} {turn}", "a reply", intent=intent, **kw)  # type: ignore[arg-type]


def _fb(conv: str, turn: int, user: str, kind: str, at: float, **kw: str) -> FeedbackRow:
    return FeedbackRow(conv, turn, user, kind, at, **kw)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def rows() -> tuple[list[TurnRow], list[FeedbackRow]]:
    """Three days, two users, three conversations. The timers are liked, the shopping list is
    not (bad ratings and a correction), the jokes get a flag."""
    turns = [
        _turn("c1", 1, "u1", START, "set_timer"),
        _turn("c1", 2, "u1", START + 60, "show_list"),
        _turn("c1", 3, "u1", START + 120, "tell_joke"),
        _turn("c2", 1, "u2", START + DAY, "show_list"),
        _turn("c2", 2, "u2", START + DAY + 60, "set_timer"),
        _turn("c3", 1, "u1", START + 2 * DAY, "add_to_list", guard={"refused": True}),
        _turn("c3", 2, "u1", START + 2 * DAY + 60, "show_list"),
    ]
    feedback = [
        _fb("c1", 1, "u1", "good", START + 10),
        _fb("c1", 2, "u1", "bad", START + 70, comment="wrong list"),
        _fb("c1", 3, "u1", "flag", START + 130, comment="rude joke"),
        _fb("c2", 1, "u2", "correction", START + DAY + 10, correction="what's on my list"),
        _fb("c2", 2, "u2", "good", START + DAY + 70),
        _fb("c3", 2, "u1", "bad", START + 2 * DAY + 70),
        _fb("c3", 2, "u1", "good", START + 2 * DAY + 80),
        _fb("gone", 4, "u3", "bad", START + 2 * DAY + 90),  # its turn has expired
    ]
    return turns, feedback


def test_counts_ratings_per_intent_and_flags(rows: tuple[list[TurnRow], list[FeedbackRow]]) -> None:
    stats = compute(*rows)
    assert (stats.conversations, stats.users, stats.turns, stats.safety_fired) == (3, 2, 7, 1)
    assert stats.feedback == {"good": 3, "bad": 3, "flag": 1, "correction": 1}
    assert stats.first == START and stats.last == START + 2 * DAY + 90

    by_name = {i.intent: i for i in stats.intents}
    assert stats.intents[0].intent == "show_list"  # most turns first
    show = by_name["show_list"]
    assert (show.turns, show.good, show.bad, show.corrections) == (3, 1, 2, 1)
    assert show.disliked == pytest.approx(3 / 4)
    timer = by_name["set_timer"]
    assert (timer.turns, timer.good, timer.bad, timer.disliked) == (2, 2, 0, 0.0)
    assert by_name["tell_joke"].flags == 1 and by_name["tell_joke"].rated == 0
    assert by_name[UNKNOWN_INTENT].bad == 1 and by_name[UNKNOWN_INTENT].turns == 0

    # Least liked: every bad rating of the expired turn, then the shopping list, then timers;
    # intents never rated are not ranked.
    assert [i.intent for i in stats.least_liked()] == [UNKNOWN_INTENT, "show_list", "set_timer"]

    assert [(d.day, d.good, d.bad) for d in stats.days] == [
        (date(2026, 11, 2), 1, 1),
        (date(2026, 11, 3), 1, 0),
        (date(2026, 11, 4), 1, 2),
    ]
    assert stats.days[2].mean == pytest.approx(-1 / 3)
    assert len(stats.flags) == 1
    assert (stats.flags[0].comment, stats.flags[0].intent) == ("rude joke", "tell_joke")


def test_printed_summary(rows: tuple[list[TurnRow], list[FeedbackRow]]) -> None:
    text = "\n".join(format_stats(compute(*rows)))
    assert "conversations 3, users 2, turns 7 (1 where the guard or filter fired)" in text
    assert "from 2026-11-02 09:00 UTC to 2026-11-04 09:01 UTC" in text
    assert "feedback: bad 3, correction 1, flag 1, good 3" in text
    show = next(line for line in text.splitlines() if line.startswith("show_list"))
    assert show.split() == ["show_list", "3", "1", "2", "1", "0", "75%"]
    assert "flags: 1" in text and "tell_joke  turn 3: rude joke" in text


def _png(path: Path) -> np.ndarray:
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return np.asarray(imread(path))


def _has_colour(image: np.ndarray, hex_colour: str) -> bool:
    target = np.array([int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)])
    return bool((np.abs(image[..., :3] - target).max(axis=-1) < 0.02).any())


def test_plot_draws_ratings_over_time_and_least_liked(
    rows: tuple[list[TurnRow], list[FeedbackRow]], tmp_path: Path
) -> None:
    path = plot(compute(*rows), tmp_path / "plots" / "stats.png")
    image = _png(path)
    assert image.shape[:2] == (750, 900)
    # The good bars (green), the bad bars and disliked shares (red) and the mean line (blue)
    # are all there.
    assert _has_colour(image, "#4c9a2a")
    assert _has_colour(image, "#c0392b")
    assert _has_colour(image, "#1f3b73")


def test_plot_of_no_records_says_so(tmp_path: Path) -> None:
    stats = compute([], [])
    assert stats.turns == 0 and stats.first is None and stats.least_liked() == []
    assert "feedback: none" in "\n".join(format_stats(stats))
    image = _png(plot(stats, tmp_path / "empty.png"))
    assert not _has_colour(image, "#c0392b") and not _has_colour(image, "#4c9a2a")


def test_stats_of_rows_read_back_from_the_record_store(
    rows: tuple[list[TurnRow], list[FeedbackRow]], tmp_path: Path
) -> None:
    """What `assistant data stats` does: the rows as the SQLite store gives them back."""
    turns, feedback = rows
    with SQLiteRecordStore(tmp_path / "records.sqlite") as store:
        for turn in turns:
            store.add_turn(turn)
        for row in feedback:
            store.add_feedback(row)
        stats = compute(store.turns(), store.feedback())
    assert stats == compute(turns, feedback)
    assert plot(stats, tmp_path / "stats.png").stat().st_size > 10_000
