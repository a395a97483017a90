"""Schedule due times: intervals on the epoch's grid, cron read in the trigger's time zone."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from gateway.spec import ScheduleSpec
from gateway.triggers.schedule import due_after, latest_due


def ms(text: str, zone: str = "UTC") -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=ZoneInfo(zone)).timestamp() * 1000)


def iso(value: int, zone: str = "UTC") -> str:
    return datetime.fromtimestamp(value / 1000, ZoneInfo(zone)).isoformat()


def test_intervals_are_multiples_of_the_interval_so_every_gateway_agrees() -> None:
    spec = ScheduleSpec(every_ms=5000)
    assert due_after(spec, 12_345) == 15_000
    assert due_after(spec, 15_000) == 20_000  # strictly after
    assert latest_due(spec, 19_999) == 15_000
    assert latest_due(spec, 20_000) == 20_000


def test_cron_is_read_in_the_time_zone_across_daylight_saving() -> None:
    spec = ScheduleSpec(cron="0 2 * * *", timezone="Europe/Berlin")
    # 02:00 in Berlin is 01:00 UTC in winter and 00:00 UTC in summer.
    assert iso(due_after(spec, ms("2026-01-10T12:00:00")), "UTC") == "2026-01-11T01:00:00+00:00"
    assert iso(due_after(spec, ms("2026-07-10T12:00:00")), "UTC") == "2026-07-11T00:00:00+00:00"
    after = due_after(spec, ms("2026-12-02T02:00:00", "Europe/Berlin"))
    assert iso(after, "Europe/Berlin") == "2026-12-03T02:00:00+01:00"


def test_the_latest_missed_cron_time_is_at_or_before_now() -> None:
    spec = ScheduleSpec(cron="*/15 * * * *")
    assert iso(latest_due(spec, ms("2026-12-02T10:44:59"))) == "2026-12-02T10:30:00+00:00"
    assert iso(latest_due(spec, ms("2026-12-02T10:45:00"))) == "2026-12-02T10:45:00+00:00"
