"""What the records say about the assistant: counts, ratings per intent, flags, and a plot.

A rating is feedback of kind `good` (+1) or `bad` (-1); a correction counts against the intent
the turn was understood as (it was the wrong one), a flag is listed with its comment. An intent
is disliked in the share of its rated turns that were rated bad or corrected.

The plot is drawn with matplotlib's Agg canvas directly (no pyplot, no display, no global
backend switch), so it works on a server without a screen and leaves other plots alone.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from assistant.learning.rows import FeedbackRow, TurnRow

UNKNOWN_INTENT = "(turn not kept)"  # feedback on a turn that has expired or was never recorded
if TYPE_CHECKING:
    from matplotlib.axes import Axes

LEAST_LIKED = 8  # intents shown in the plot and the summary


@dataclass(frozen=True)
class IntentRatings:
    intent: str
    turns: int = 0
    good: int = 0
    bad: int = 0
    corrections: int = 0
    flags: int = 0

    @property
    def rated(self) -> int:
        return self.good + self.bad + self.corrections

    @property
    def disliked(self) -> float:
        """The share of rated turns rated bad or corrected (0 when none was rated)."""
        return (self.bad + self.corrections) / self.rated if self.rated else 0.0


@dataclass(frozen=True)
class Flag:
    conversation_key: str
    turn: int
    at: float
    comment: str
    intent: str


@dataclass(frozen=True)
class DayRatings:
    day: date
    good: int
    bad: int

    @property
    def mean(self) -> float:
        """Mean rating of the day, +1 all good .. -1 all bad."""
        return (self.good - self.bad) / (self.good + self.bad) if self.good + self.bad else 0.0


@dataclass(frozen=True)
class RecordStats:
    conversations: int
    users: int
    turns: int
    safety_fired: int
    first: float | None
    last: float | None
    feedback: dict[str, int]  # by kind
    intents: tuple[IntentRatings, ...]  # by turns, most first
    days: tuple[DayRatings, ...]  # by day, oldest first
    flags: tuple[Flag, ...] = field(default=())

    def least_liked(self, limit: int = LEAST_LIKED) -> list[IntentRatings]:
        rated = [i for i in self.intents if i.rated]
        rated.sort(key=lambda i: (-i.disliked, -(i.bad + i.corrections), i.intent))
        return rated[:limit]


def _day(at: float) -> date:
    return datetime.fromtimestamp(at, UTC).date()


def compute(turns: Sequence[TurnRow], feedback: Sequence[FeedbackRow]) -> RecordStats:
    intent_of = {(t.conversation_key, t.turn): t.intent or "(none)" for t in turns}
    per_intent: dict[str, Counter[str]] = defaultdict(Counter)
    for turn in turns:
        per_intent[turn.intent or "(none)"]["turns"] += 1
    days: dict[date, Counter[str]] = defaultdict(Counter)
    flags = []
    for row in feedback:
        intent = intent_of.get((row.conversation_key, row.turn), UNKNOWN_INTENT)
        column = {"good": "good", "bad": "bad", "correction": "corrections", "flag": "flags"}
        if row.kind in column:
            per_intent[intent][column[row.kind]] += 1
        if row.kind in ("good", "bad"):
            days[_day(row.at)][row.kind] += 1
        if row.kind == "flag":
            flags.append(Flag(row.conversation_key, row.turn, row.at, row.comment, intent))
    intents = sorted(
        (IntentRatings(intent, **counts) for intent, counts in per_intent.items()),
        key=lambda i: (-i.turns, i.intent),
    )
    times = [t.at for t in turns] + [f.at for f in feedback]
    return RecordStats(
        conversations=len({t.conversation_key for t in turns}),
        users=len({t.user_key for t in turns}),
        turns=len(turns),
        safety_fired=sum(t.safety_fired for t in turns),
        first=min(times) if times else None,
        last=max(times) if times else None,
        feedback=dict(Counter(f.kind for f in feedback)),
        intents=tuple(intents),
        days=tuple(DayRatings(d, c["good"], c["bad"]) for d, c in sorted(days.items())),
        flags=tuple(sorted(flags, key=lambda f: f.at)),
    )


def _when(at: float | None) -> str:
    return datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M UTC") if at else "-"


def format_stats(stats: RecordStats) -> list[str]:
    """What `assistant data stats` prints."""
    kinds = ", ".join(f"{k} {n}" for k, n in sorted(stats.feedback.items())) or "none"
    out = [
        f"conversations {stats.conversations}, users {stats.users}, turns {stats.turns} "
        f"({stats.safety_fired} where the guard or filter fired)",
        f"from {_when(stats.first)} to {_when(stats.last)}",
        f"feedback: {kinds}",
        "",
        f"{'intent':<20} {'turns':>6} {'good':>5} {'bad':>5} {'corr':>5} {'flags':>5} "
        f"{'disliked':>9}",
    ]
    for i in stats.intents:
        disliked = f"{i.disliked:.0%}" if i.rated else "-"
        out.append(
            f"{i.intent:<20} {i.turns:>6} {i.good:>5} {i.bad:>5} {i.corrections:>5} "
            f"{i.flags:>5} {disliked:>9}"
        )
    out.append("")
    out.append(f"flags: {len(stats.flags)}")
    for f in stats.flags:
        out.append(f"  {_when(f.at)}  {f.intent}  turn {f.turn}: {f.comment or '(no comment)'}")
    return out


def plot(stats: RecordStats, path: Path) -> Path:
    """A PNG of the ratings over time (good and bad per day, and the day's mean) and of the
    least-liked intents (share rated bad or corrected)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(9, 7.5), layout="constrained")
    FigureCanvasAgg(figure)
    over_time, least = figure.subplots(2, 1, height_ratios=(1, 1))
    _ratings_over_time(over_time, stats.days)
    _least_liked(least, stats.least_liked())
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)
    return path


def _ratings_over_time(axes: Axes, days: Sequence[DayRatings]) -> None:
    axes.set_title("Ratings over time")
    if not days:
        axes.text(0.5, 0.5, "no ratings yet", ha="center", va="center", transform=axes.transAxes)
        axes.set_axis_off()
        return
    from matplotlib.dates import AutoDateLocator, DateFormatter, date2num
    from matplotlib.ticker import MaxNLocator

    x = date2num([d.day for d in days])  # days as numbers, shown as dates by xaxis_date
    axes.bar(x, [d.good for d in days], color="#4c9a2a", label="good")
    axes.bar(x, [-d.bad for d in days], color="#c0392b", label="bad")
    axes.axhline(0, color="black", linewidth=0.8)
    axes.xaxis_date()
    axes.xaxis.set_major_locator(AutoDateLocator(minticks=2, maxticks=10, interval_multiples=True))
    axes.xaxis.set_major_formatter(DateFormatter("%Y-%m-%d"))
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    top = max(max(d.good for d in days), max(d.bad for d in days), 1) * 1.15
    axes.set_ylim(-top, top)
    axes.set_ylabel("ratings per day (bad below 0)")
    mean = axes.twinx()
    mean.plot(x, [d.mean for d in days], color="#1f3b73", marker="o", label="mean rating")
    mean.set_ylim(-1.05, 1.05)
    mean.set_ylabel("mean rating (-1 .. +1)")
    handles = axes.get_legend_handles_labels()
    extra = mean.get_legend_handles_labels()
    axes.legend(
        handles[0] + extra[0],
        handles[1] + extra[1],
        loc="lower left",
        bbox_to_anchor=(0, 1),
        ncol=3,
        frameon=False,
        fontsize=8,
    )
    for label in axes.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")


def _least_liked(axes: Axes, intents: Sequence[IntentRatings]) -> None:
    axes.set_title("Least-liked intents (share of rated turns rated bad or corrected)")
    if not intents:
        axes.text(0.5, 0.5, "no rated intents yet", ha="center", va="center")
        axes.set_axis_off()
        return
    names = [i.intent for i in reversed(intents)]
    shares = [i.disliked for i in reversed(intents)]
    bars = axes.barh(names, shares, color="#c0392b")
    for bar, i in zip(bars, reversed(intents), strict=True):
        axes.text(
            bar.get_width() + 0.01,
            bar.get_y() + bar.get_height() / 2,
            f"{i.bad + i.corrections}/{i.rated}",
            va="center",
            fontsize=8,
        )
    axes.set_xlim(0, 1.1)
    axes.set_xlabel("disliked share")
