"""Pages from Jinja2 templates (autoescaped), and the few filters they format times with."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from gateway.console import csrf
from gateway.console.gate import PREFIX
from gateway.console.sessions import Session

__all__ = ["render"]

TEMPLATES = Path(__file__).parent / "templates"


def _moment(value: float | datetime | str | None) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return datetime.fromtimestamp(value, UTC)


def when(value: float | datetime | str | None) -> str:
    """A moment as UTC to the second: '2026-12-01 23:22:15'."""
    moment = _moment(value)
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def span(seconds: float | None) -> str:
    """A length of time for people: '45 s', '12 min 3 s', '5 h 2 min', '3 d 4 h'."""
    if seconds is None:
        return ""
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def since(value: float | None) -> str:
    return "" if value is None else span(time.time() - value)


def micros(value: float | int | None) -> str:
    """A step's duration from microseconds: '850 µs', '12.3 ms', '2.41 s'."""
    if value is None:
        return ""
    if value < 1000:
        return f"{value:.0f} µs"
    if value < 1_000_000:
        return f"{value / 1000:.1f} ms"
    return f"{value / 1_000_000:.2f} s"


_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,  # a template naming a missing value fails its test
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters.update(when=when, span=span, since=since, micros=micros)
_env.globals.update(prefix=PREFIX, csrf_field=csrf.FIELD)


def render(
    request: Request,
    template: str,
    session: Session | None,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    notice = session.notice if session is not None else None
    html = _env.get_template(template).render(
        path=request.url.path,
        session=session,
        csrf=session.csrf if session is not None else "",
        notice=notice,
        **context,
    )
    return HTMLResponse(html, status_code=status, headers=headers)
