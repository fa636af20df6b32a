"""The stats views write COUNTED's names out (so mypy checks the dicts): they must not
drift apart, or a new figure would be missing from the document and refused by
tests/unit/test_openapi.py only where a test happens to produce it."""

from __future__ import annotations

from common.stats import ranges, rollup


def test_day_figures_list_every_counted_figure_and_nothing_else() -> None:
    gauges = {"inbox_pending", "inbox_oldest_pending_age_seconds", "inbox_leased", "agents"}
    expected = {"day", *rollup.COUNTED, *gauges, "computed_at", "final"}
    assert rollup.DayFiguresView.__required_keys__ == expected


def test_a_range_day_lists_every_counted_figure_and_nothing_else() -> None:
    assert ranges.RangeDay.__required_keys__ == {"day", *rollup.COUNTED, "final"}


def test_csv_columns_are_the_range_day_figures() -> None:
    assert set(ranges.CSV_COLUMNS) == ranges.RangeDay.__required_keys__ - {"final"}
