"""月度通报 as PDF: the bulletin in the shape a provincial office circulates (A4, WeasyPrint).

Nothing here computes a figure: the page is laid out from two finished
bulletins (``exchange_hub.bulletin.build_bulletin``) — the period's and the
one before it, read at the same evaluation time, for the change against the
previous period (环比). It holds a title, the period in Chinese (2026年10月),
a summary paragraph with the four headline rates (numerator/denominator) and
their change, the regions that did worst, one bar chart per rate drawn as
inline SVG, and the ranking tables without the regions that had nothing to
rank. Fonts are the system's Noto CJK (Debian ``fonts-noto-cjk``); the HTML
loads nothing, so WeasyPrint fetches nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from exchange_hub.metrics.exports import DASH
from exchange_hub.metrics.schemas import Bulletin, BulletinTable, Rate
from exchange_hub.periods import parse_period

PDF_MEDIA_TYPE = "application/pdf"
LOCAL_TIME = ZoneInfo("Asia/Shanghai")
CHART_REGIONS = 30
"""A chart shows at most this many regions (the worst ones): a province has about 120 counties."""


@dataclass(frozen=True)
class Indicator:
    """One headline rate: its key in the bulletin's rows, which way is better, its counts."""

    key: str
    title: str
    higher_is_better: bool
    counts: tuple[str, ...]
    activity: str
    """The count that says a region took part at all (its row is hidden when it is 0)."""


INDICATORS = (
    Indicator("feedback_rate", "查询反馈率", True, ("routed", "due", "answered"), "routed"),
    Indicator("timely_rate", "及时反馈率", True, ("due", "answered_on_time"), "routed"),
    Indicator("not_found_rate", "查无此人率", False, ("answered", "not_found"), "routed"),
    Indicator(
        "receipt_rate",
        "通报接收率",
        True,
        ("notifications", "notifications_due", "received"),
        "notifications",
    ),
)
LEVEL_WORDS = {
    "nation": "全国",
    "province": "各省（区、市）",
    "prefecture": "各地市",
    "county": "各县（市、区）",
}
CHINESE_QUARTERS = "一二三四"


# -- words --------------------------------------------------------------------------------
def period_words(label: str) -> str:
    """``2026-10`` → 2026年10月, ``2026-Q4`` → 2026年第四季度, ``2026`` → 2026年,
    ``2026-06/2026-11`` → 2026年6月至11月 (2025年12月至2026年2月 across a year)."""
    period = parse_period(label)
    year, month = period.first.year, period.first.month
    if period.kind == "range":
        last = period.last
        end = f"{last.month}月" if last.year == year else f"{last.year}年{last.month}月"
        return f"{year}年{month}月至{end}"
    if period.kind == "month":
        return f"{year}年{month}月"
    if period.kind == "quarter":
        return f"{year}年第{CHINESE_QUARTERS[month // 3]}季度"
    return f"{year}年"


def title_of(bulletin: Bulletin) -> str:
    """广东省流动人口信息交换工作月度通报 (季度通报, 年度通报 for the longer periods)."""
    kind = parse_period(bulletin.period).kind
    word = {"month": "月度", "quarter": "季度", "year": "年度", "range": "阶段"}[kind]
    return f"{bulletin.name}流动人口信息交换工作{word}通报"


def rate_parts(cell: Any) -> tuple[int, int, float | None]:
    """Numerator, denominator and fraction of a rate cell (a ``Rate`` or its dict)."""
    if isinstance(cell, Rate):
        return cell.numerator, cell.denominator, cell.rate
    if isinstance(cell, dict):
        return int(cell["numerator"]), int(cell["denominator"]), cell.get("rate")
    return 0, 0, None


def percent(fraction: float | None) -> str:
    return DASH if fraction is None else f"{fraction * 100:.1f}%"


def rate_text(cell: Any) -> str:
    """89.2%（901/1010）, or — (无可计算分母) when the denominator is 0 (SPEC §5)."""
    numerator, denominator, fraction = rate_parts(cell)
    if fraction is None:
        return f"{DASH}（分母为0）"
    return f"{percent(fraction)}（{numerator}/{denominator}）"


def change_text(current: float | None, previous: float | None) -> str:
    """The change in percentage points against the previous period: 环比上升1.2个百分点."""
    if current is None or previous is None:
        return "上期无可比数据"
    points = round((current - previous) * 100, 1)
    if points == 0:
        return "环比持平"
    return f"环比{'上升' if points > 0 else '下降'}{abs(points):.1f}个百分点"


def change_cell(current: float | None, previous: float | None) -> str:
    """The same change, short, for a table cell: +1.2 / −0.4 / — ."""
    if current is None or previous is None:
        return DASH
    points = round((current - previous) * 100, 1)
    return "0.0" if points == 0 else f"{points:+.1f}".replace("-", "−")


# -- the figures the page shows -------------------------------------------------------------
def _table(bulletin: Bulletin | None, key: str) -> BulletinTable | None:
    if bulletin is None:
        return None
    return next((t for t in bulletin.tables if t.key == key), None)


def _own_row(bulletin: Bulletin | None) -> dict[str, Any]:
    """The region's own totals as the responder (the summary table's first row)."""
    table = _table(bulletin, "summary")
    return table.rows[0] if table and table.rows else {}


def headline(bulletin: Bulletin, previous: Bulletin | None) -> list[dict[str, Any]]:
    """The four rates of the region itself, with their counts and the change."""
    own, before = _own_row(bulletin), _own_row(previous)
    result = []
    for indicator in INDICATORS:
        cell = own.get(indicator.key)
        earlier = rate_parts(before.get(indicator.key))[2] if before else None
        fraction = rate_parts(cell)[2]
        result.append({
            "title": indicator.title, "text": rate_text(cell), "rate": percent(fraction),
            "change": change_text(fraction, earlier),
            "fraction": "{}/{}".format(*rate_parts(cell)[:2]),
        })  # fmt: skip
    return result


def summary_text(bulletin: Bulletin, previous: Bulletin | None) -> str:
    """The summary paragraph: volumes, then each rate with its counts and its change."""
    own = _own_row(bulletin)
    parts = [
        f"{item['title']}{item['text']}，{item['change']}" for item in headline(bulletin, previous)
    ]
    return (
        f"{period_words(bulletin.period)}，{bulletin.name}作为被查询地共收到查询"
        f"{own.get('routed', 0)}条、应反馈{own.get('due', 0)}条、已反馈{own.get('answered', 0)}条，"
        f"收到通报{own.get('notifications', 0)}条。" + "；".join(parts) + "。"
    )


@dataclass(frozen=True)
class Ranking:
    """One indicator's ranking: the active rows, their change, the worst ones, the chart."""

    indicator: Indicator
    title: str
    columns: list[tuple[str, str]]
    rows: list[dict[str, Any]]
    hidden: int
    worst: list[dict[str, Any]]
    chart: Markup


def rankings(bulletin: Bulletin, previous: Bulletin | None) -> list[Ranking]:
    found = []
    for indicator in INDICATORS:
        table = _table(bulletin, f"rank_{indicator.key}")
        if table is not None:
            earlier = _table(previous, f"rank_{indicator.key}")
            found.append(_ranking(indicator, table, earlier, _own_row(bulletin)))
    return found


def _ranking(
    indicator: Indicator,
    table: BulletinTable,
    earlier: BulletinTable | None,
    own: dict[str, Any],
) -> Ranking:
    titles = {c.key: c.title for c in table.columns}
    before = {
        r["region"]: rate_parts(r.get(indicator.key))[2] for r in (earlier.rows if earlier else [])
    }
    active = [r for r in table.rows if r.get(indicator.activity, 0)]
    rows = []
    for row in active:
        _n, _d, fraction = rate_parts(row.get(indicator.key))
        rows.append({
            "rank": DASH if row.get("rank") is None else row["rank"],
            "name": row.get("name", row["region"]), "region": row["region"],
            "counts": [row.get(key, 0) for key in indicator.counts],
            "rate": percent(fraction), "fraction": fraction,
            "change": change_cell(fraction, before.get(row["region"])),
        })  # fmt: skip
    return Ranking(
        indicator=indicator,
        title=table.title,
        columns=[(key, titles.get(key, key)) for key in indicator.counts],
        rows=rows,
        hidden=len(table.rows) - len(active),
        worst=_worst(rows),
        chart=bar_chart(rows, rate_parts(own.get(indicator.key))[2], own.get("name", "")),
    )


def _worst(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows at the last rank, where at least two regions were ranked and they differ."""
    ranked = [r for r in rows if r["fraction"] is not None]
    if len(ranked) < 2 or ranked[0]["fraction"] == ranked[-1]["fraction"]:
        return []
    last = ranked[-1]["rank"]
    return [r for r in ranked if r["rank"] == last]


def worst_text(ranking: Ranking) -> str:
    """查询反馈率最低：广州市（10.0%）; 查无此人率 ranks lowest first, so its worst is highest."""
    if not ranking.worst:
        return ""
    word = "最低" if ranking.indicator.higher_is_better else "最高"
    names = "、".join(f"{r['name']}（{r['rate']}）" for r in ranking.worst)
    return f"{ranking.indicator.title}{word}：{names}"


# -- the chart ------------------------------------------------------------------------------
BAR_HEIGHT, BAR_GAP, LABEL_WIDTH, PLOT_WIDTH, VALUE_WIDTH = 14, 6, 150, 420, 60


def bar_chart(rows: Sequence[dict[str, Any]], overall: float | None, name: str) -> Markup:
    """A horizontal bar per ranked region (best first), a dashed line at the region's own rate."""
    ranked = [r for r in rows if r["fraction"] is not None][-CHART_REGIONS:]
    if not ranked:
        return Markup("")
    width = LABEL_WIDTH + PLOT_WIDTH + VALUE_WIDTH
    height = len(ranked) * (BAR_HEIGHT + BAR_GAP) + 24
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" font-family="Noto Sans CJK SC" font-size="10">',
        f'<line x1="{LABEL_WIDTH}" y1="0" x2="{LABEL_WIDTH}" y2="{height - 18}" stroke="#444"/>',
    ]
    worst = {r["region"] for r in _worst(rows)}
    for index, row in enumerate(ranked):
        y = index * (BAR_HEIGHT + BAR_GAP) + 2
        length = max(row["fraction"] * PLOT_WIDTH, 0.5)
        colour = "#b3261e" if row["region"] in worst else "#1f5fa8"
        parts.append(
            f'<text x="{LABEL_WIDTH - 6}" y="{y + BAR_HEIGHT - 3}" text-anchor="end">'
            f"{escape(str(row['name']))}</text>"
            f'<rect x="{LABEL_WIDTH}" y="{y}" width="{length:.1f}" height="{BAR_HEIGHT}" '
            f'fill="{colour}"/>'
            f'<text x="{LABEL_WIDTH + length + 4:.1f}" y="{y + BAR_HEIGHT - 3}">'
            f"{row['rate']}</text>"
        )
    if overall is not None:
        x = LABEL_WIDTH + overall * PLOT_WIDTH
        parts.append(
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height - 18}" stroke="#333" '
            f'stroke-dasharray="4 3"/><text x="{x:.1f}" y="{height - 4}" text-anchor="middle">'
            f"{escape(name)}合计 {percent(overall)}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


# -- the document -------------------------------------------------------------------------
@cache
def _environment() -> Environment:
    folder = resources.files("exchange_hub.metrics") / "templates"
    return Environment(
        loader=FileSystemLoader(str(folder)),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def bulletin_html(bulletin: Bulletin, previous: Bulletin | None) -> str:
    """The page as HTML (what WeasyPrint lays out): testable without rendering."""
    found = rankings(bulletin, previous)
    values = {
        "title": title_of(bulletin),
        "period": period_words(bulletin.period),
        "previous_period": period_words(previous.period) if previous else None,
        "bulletin": bulletin,
        "as_of": _local(bulletin.as_of),
        "summary": summary_text(bulletin, previous),
        "headline": headline(bulletin, previous),
        "rankings": found,
        "worst": [text for text in map(worst_text, found) if text],
        "level_words": LEVEL_WORDS.get(bulletin.level, bulletin.level),
    }
    return _environment().get_template("bulletin_pdf.html").render(values)


def _local(moment: datetime) -> str:
    return moment.astimezone(LOCAL_TIME).strftime("%Y年%m月%d日 %H:%M")


def bulletin_pdf(bulletin: Bulletin, previous: Bulletin | None) -> bytes:
    """The printable bulletin (A4) as PDF bytes."""
    # Imported on use: it loads Pango, which no other path needs. The page references no
    # URL; should one slip in, a fetcher that allows no protocol refuses it unfetched.
    from weasyprint import HTML
    from weasyprint.urls import URLFetcher

    document = HTML(
        string=bulletin_html(bulletin, previous), url_fetcher=URLFetcher(allowed_protocols=())
    )
    return document.write_pdf()  # type: ignore[no-any-return]
