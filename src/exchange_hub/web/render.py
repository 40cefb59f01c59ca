"""Turning a page's values into HTML: the Jinja2 environment, formatting, headers and assets.

Pages load nothing from outside the hub (SPEC §7: intranets have no
internet): the CSP below allows only this origin, the chart library is the
``plotly.min.js`` that the ``plotly`` Python package ships, and fonts are the
system's own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import plotly
from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import (
    Environment,
    FileSystemLoader,
    StrictUndefined,
    pass_context,
    select_autoescape,
)
from markupsafe import Markup

from exchange_hub import clock
from exchange_hub.regions import service as regions
from exchange_hub.scope import NATION
from exchange_hub.web.i18n import (
    DEFAULT_LANGUAGE,
    HTML_LANG,
    LANGUAGES,
    pick_language,
    translator,
)
from exchange_hub.web.navigation import nav_items
from exchange_hub.workdays_store import calendar_status

LOCAL_TIME = ZoneInfo("Asia/Shanghai")
LANG_COOKIE = "hub_lang"
MONTHS_OFFERED = 36
"""How far back the month pickers reach (three years of monthly bulletins)."""

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def _web_dir() -> Path:
    return Path(str(resources.files("exchange_hub.web")))


@cache
def assets() -> dict[str, Path]:
    """Files served under ``/console/static/``: ours, and the chart library from its package."""
    found = {p.name: p for p in (_web_dir() / "static").iterdir() if p.is_file()}
    found["plotly.min.js"] = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    return found


def format_rate(value: float | None, digits: int = 1) -> str:
    """A rate (a fraction) as a percentage; a zero denominator (None) is "—" (SPEC §5)."""
    if value is None:
        return "—"
    return f"{value * 100:.{digits}f}%"


def format_number(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.1f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def format_time(value: datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(LOCAL_TIME).strftime("%Y-%m-%d %H:%M")


def format_seconds(value: float | None, lang: str = DEFAULT_LANGUAGE) -> str:
    """A duration the way a clerk reads it: minutes, hours or days, in words of the page."""
    if value is None:
        return "—"
    t = translator(lang)
    if value < 3600:
        return t("unit.minutes", n=f"{value / 60:.0f}")
    if value < 86400 * 2:
        return t("unit.hours", n=f"{value / 3600:.1f}")
    return t("unit.days", n=f"{value / 86400:.1f}")


_PERIOD = re.compile(r"(\d{4})(?:-(\d{2})|-Q([1-4]))?")


def format_period(value: str | None, lang: str = DEFAULT_LANGUAGE) -> str:
    """``2026-11`` → 2026年11月 (or November 2026); quarters and years likewise."""
    return period_words(value, translator(lang)) if value else "—"


def period_words(label: str, t: Callable[..., str]) -> str:
    """A period label (``2026-11``, ``2026-Q4``, ``2026``, ``2026-06/2026-11``) in the
    words of ``t``'s language."""
    first, slash, last = label.partition("/")
    if slash:
        return t("period.range", first=period_words(first, t), last=period_words(last, t))
    found = _PERIOD.fullmatch(label)
    if found is None:
        return label
    year, month, quarter = found.groups()
    if month:
        return t("period.month", year=year, month=int(month), name=t(f"month.{int(month)}"))
    if quarter:
        return t("period.quarter", year=year, quarter=quarter)
    return t("period.year", year=year)


def month_choices(chosen: str, count: int = MONTHS_OFFERED) -> list[str]:
    """The months a period picker offers, newest first: the current one and ``count - 1``
    before it, plus ``chosen`` when it lies outside them (a link may ask for any month)."""
    local = clock.now().astimezone(LOCAL_TIME)
    year, month = local.year, local.month
    months = []
    for _ in range(count):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    if chosen and chosen not in months:
        months.append(chosen)
        months.sort(reverse=True)
    return months


def period_choices(period: str, t: Callable[..., str]) -> list[dict[str, str]]:
    """Suggestions for a period field: the 12 months up to the chosen period's end, the
    ranges of the last 3, 6 and 12 of them, 4 quarters and 2 years (value and words)."""
    months = _months_up_to(period.rpartition("/")[2] if "/" in period else period)
    quarters = sorted({f"{m[:4]}-Q{(int(m[5:]) - 1) // 3 + 1}" for m in months}, reverse=True)
    years = sorted({m[:4] for m in months}, reverse=True)
    ranges = [f"{months[-n]}/{months[-1]}" for n in (3, 6, 12) if len(months) >= n]
    labels = [*reversed(months), *ranges, *quarters[:4], *years[:2]]
    return [{"value": label, "name": period_words(label, t)} for label in labels]


def _months_up_to(label: str, count: int = 12) -> list[str]:
    """``count`` months ending with the last month of ``label`` (a month, quarter or year),
    oldest first, none before 2000."""
    found = _PERIOD.fullmatch(label)
    if found is None:
        return []
    year, month, quarter = int(found[1]), found[2], found[3]
    last = int(month) if month else 3 * int(quarter) if quarter else 12
    months = []
    for _ in range(count):
        if year >= 2000:
            months.append(f"{year:04d}-{last:02d}")
        year, last = (year, last - 1) if last > 1 else (year - 1, 12)
    return list(reversed(months))


@pass_context
def _period_choices(context: Any, period: str) -> list[dict[str, str]]:
    return period_choices(period, translator(context.get("lang", DEFAULT_LANGUAGE)))


@pass_context
def _period_filter(context: Any, value: str | None) -> str:
    return format_period(value, context.get("lang", DEFAULT_LANGUAGE))


@pass_context
def _duration_filter(context: Any, value: float | None) -> str:
    return format_seconds(value, context.get("lang", DEFAULT_LANGUAGE))


def json_script(value: Any) -> Markup:
    """Data for the page's scripts, safe inside ``<script type="application/json">``."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


@cache
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(_web_dir() / "templates")),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        rate=format_rate,
        number=format_number,
        localtime=format_time,
        duration=_duration_filter,
        month=_period_filter,
        json_script=json_script,
    )
    env.globals["nav_items"] = nav_items
    env.globals["month_choices"] = month_choices
    env.globals["period_choices"] = _period_choices
    return env


def request_language(request: Request) -> str:
    return pick_language(request.cookies.get(LANG_COOKIE))


@dataclass
class Page:
    """What every console page hands its template besides its own values."""

    template: str
    title_key: str
    values: dict[str, Any] = field(default_factory=dict)
    status_code: int = 200


def render(request: Request, page: Page, *, account: Any = None) -> HTMLResponse:
    lang = request_language(request)
    t = translator(lang)
    context = {
        "t": t,
        "lang": lang,
        "html_lang": HTML_LANG[lang],
        "languages": LANGUAGES,
        "title": t(page.title_key),
        "account": account,
        "csrf_token": account.row.csrf_token if account is not None else "",
        "path": request.url.path,
        "full_path": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "calendar_banner": _calendar_banner(request, account) if page.status_code < 400 else None,
        "account_region_name": _region_name_of(request, account),
        "region_names": {},
        **page.values,
    }
    html = environment().get_template(page.template).render(context)
    headers = page_headers(request.app.state.hub.settings.oidc_issuer)
    return HTMLResponse(html, status_code=page.status_code, headers=headers)


@cache
def page_headers(issuer: str) -> dict[str, str]:
    """``SECURITY_HEADERS``; with an identity provider, forms may also lead to its origin:
    signing out is a form whose answer redirects to the provider's end-session page, and
    browsers apply ``form-action`` to a form's redirects too."""
    if not issuer:
        return SECURITY_HEADERS
    parts = urlsplit(issuer)
    origin = f"{parts.scheme}://{parts.netloc}"
    policy = SECURITY_HEADERS["Content-Security-Policy"].replace(
        "form-action 'self'", f"form-action 'self' {origin}"
    )
    return {**SECURITY_HEADERS, "Content-Security-Policy": policy}


def _region_name_of(request: Request, account: Any) -> str:
    """The signed-in account's region by name, for the header (the code is its title)."""
    if account is None:
        return ""
    code: str = account.user.region
    with request.app.state.hub.read_sessions() as session:
        names = regions.names_of(session, [code])
    return names.get(code, code)


def _calendar_banner(request: Request, account: Any) -> dict[str, Any] | None:
    """For the nation's admin, who loads it: the holiday arrangement does not cover the
    next 60 days, so deadlines there count weekends only (SPEC §7)."""
    if account is None or (account.user.role, account.user.region) != ("admin", NATION):
        return None
    with request.app.state.hub.read_sessions() as session:
        status = calendar_status(session, clock.today())
    if status.next_days_covered:
        return None
    return {"covered_until": status.covered_until}
