"""The 30-day mood chart (a PNG) and the one-line trend in words that goes with it.

matplotlib is imported only when a chart is drawn (start-up stays fast), always with the Agg backend through the
object API (`Figure`), never pyplot: no display, no global state, safe to run in a worker thread.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta
from statistics import mean
from zoneinfo import ZoneInfo

from bot.store.base import MoodEntry

WIDTH_PX, HEIGHT_PX, DPI = 800, 400, 100
DAYS = 30


def daily_means(entries: Sequence[MoodEntry], zone: ZoneInfo) -> dict[date, float]:
    by_day: dict[date, list[int]] = {}
    for entry in entries:
        by_day.setdefault(entry.at.astimezone(zone).date(), []).append(entry.score)
    return {day: mean(scores) for day, scores in sorted(by_day.items())}


def trend(entries: Sequence[MoodEntry], now: datetime, zone: ZoneInfo) -> str:
    """A trend key for the catalog: "none" (too few), "up", "down" or "steady" (last 7 days vs the rest)."""
    days = daily_means(entries, zone)
    if len(days) < 3:
        return "none"
    recent_start = now.astimezone(zone).date() - timedelta(days=6)
    recent = [v for d, v in days.items() if d >= recent_start]
    earlier = [v for d, v in days.items() if d < recent_start]
    if not recent or not earlier:
        values = list(days.values())
        half = len(values) // 2
        recent, earlier = values[half:], values[:half]
    change = mean(recent) - mean(earlier)
    return "up" if change >= 0.5 else "down" if change <= -0.5 else "steady"


def render(entries: Sequence[MoodEntry], now: datetime, zone: ZoneInfo, *, title: str,
           labels: Sequence[str]) -> bytes:
    """PNG bytes, WIDTH_PX x HEIGHT_PX: one point per day (the day's average), the last DAYS days, 1-5 scale."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    today = now.astimezone(zone).date()
    start = today - timedelta(days=DAYS - 1)
    points = {d: v for d, v in daily_means(entries, zone).items() if start <= d <= today}
    figure = Figure(figsize=(WIDTH_PX / DPI, HEIGHT_PX / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot(1, 1, 1)
    xs = [(d - start).days for d in points]
    axes.axhspan(0.5, 2.5, color="#f3e5e5", zorder=0)
    axes.plot(xs, list(points.values()), color="#3b6ea5", marker="o", linewidth=2, zorder=2)
    axes.set_xlim(-0.5, DAYS - 0.5)
    axes.set_ylim(0.5, 5.5)
    axes.set_yticks([1, 2, 3, 4, 5], list(labels))
    ticks = sorted(range(DAYS - 1, -1, -7))   # counted back from today, so the last tick is today
    axes.set_xticks(ticks, [(start + timedelta(days=t)).strftime("%d %b") for t in ticks])
    axes.grid(axis="y", color="#dddddd")
    axes.set_title(title)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    figure.subplots_adjust(left=0.16, right=0.97, top=0.9, bottom=0.12)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()
