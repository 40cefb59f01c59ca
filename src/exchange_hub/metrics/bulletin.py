"""每月通报: the monthly bulletin that ranks the regions under an admin.

A bulletin is a list of tables; each comes from a *section builder* in
``SECTIONS``. Other domains add their own (department reporting rates, the
scorecard) with ``register_section`` — the exports turn every table into a
CSV block and an XLSX sheet without knowing what it holds.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from exchange_hub.members.scope import Caller
from exchange_hub.metrics import service
from exchange_hub.metrics.figures import load_figures
from exchange_hub.metrics.schemas import (
    Bulletin,
    BulletinColumn,
    BulletinTable,
    ExchangeReport,
    LatencyReport,
    Rate,
    RegionFigures,
)


@dataclass(frozen=True)
class BulletinContext:
    """What every section builder may read: the request and the figures of both roles."""

    session: Session
    caller: Caller
    request: service.Request
    responder: ExchangeReport
    requester: ExchangeReport
    latency: LatencyReport


SectionBuilder = Callable[[BulletinContext], Sequence[BulletinTable]]
SECTIONS: list[SectionBuilder] = []


def register_section(builder: SectionBuilder) -> SectionBuilder:
    """Add a builder (usable as a decorator); tables appear in registration order."""
    if builder not in SECTIONS:
        SECTIONS.append(builder)
    return builder


def build_bulletin(
    session: Session,
    caller: Caller,
    *,
    region: str,
    period: str,
    level: str | None = None,
    as_of: str | None = None,
    now: datetime | None = None,
) -> Bulletin:
    request = service.prepare(
        session, caller, region=region, period=period, level=level,
        role="responder", as_of=as_of, now=now,
    )  # fmt: skip
    context = _context(session, caller, request)
    tables = [table for builder in SECTIONS for table in builder(context)]
    return Bulletin(
        region=request.region.code, name=request.region.name, period=request.period.label,
        as_of=request.as_of, level=request.level, tables=tables,  # type: ignore[arg-type]
    )  # fmt: skip


def _context(session: Session, caller: Caller, request: service.Request) -> BulletinContext:
    reports = {}
    for role in service.ROLES:
        figures = load_figures(
            session, role=role, months=request.period.months,
            scope=request.region.code, as_of=request.as_of,
        )  # fmt: skip
        as_role = service.Request(
            request.region, request.period, request.as_of, request.level, role
        )
        reports[role] = (as_role, figures)
    responder_request, responder_figures = reports["responder"]
    return BulletinContext(
        session=session, caller=caller, request=request,
        responder=service.build_exchange_report(session, responder_request, responder_figures),
        requester=service.build_exchange_report(session, *reports["requester"]),
        latency=service.build_latency_report(session, responder_request, responder_figures),
    )  # fmt: skip


# -- columns ------------------------------------------------------------------------------
def column(key: str, title: str, kind: str = "int") -> BulletinColumn:
    return BulletinColumn(key=key, title=title, type=kind)  # type: ignore[arg-type]


REGION_COLUMNS = [column("rank", "名次"), column("region", "地区代码", "text"),
                  column("name", "地区名称", "text")]  # fmt: skip
QUERY_COLUMNS = [
    column("routed", "收到查询"), column("due", "应反馈"), column("answered", "已反馈"),
    column("feedback_rate", "查询反馈率", "rate"), column("answered_on_time", "按时反馈"),
    column("timely_rate", "及时反馈率", "rate"), column("not_found", "查无此人"),
    column("not_found_rate", "查无此人率", "rate"), column("overdue", "超期未反馈"),
]  # fmt: skip
NOTIFICATION_COLUMNS = [
    column("notifications", "收到通报"), column("notifications_due", "应接收"),
    column("received", "已接收"), column("receipt_rate", "通报接收率", "rate"),
    column("notifications_overdue", "超期未接收"),
]  # fmt: skip


def figures_row(figures: RegionFigures) -> dict[str, Any]:
    query, note = figures.queries, figures.notifications
    return {
        "region": figures.region, "name": figures.name,
        "routed": query.routed, "due": query.due, "answered": query.answered,
        "feedback_rate": query.feedback_rate, "answered_on_time": query.answered_on_time,
        "timely_rate": query.timely_rate, "not_found": query.not_found,
        "not_found_rate": query.not_found_rate, "overdue": query.overdue,
        "notifications": note.routed, "notifications_due": note.due, "received": note.received,
        "receipt_rate": note.receipt_rate, "notifications_overdue": note.overdue,
        "volume": query.routed + note.routed,
    }  # fmt: skip


def ranked(
    rows: list[dict[str, Any]], key: str, *, descending: bool = True
) -> list[dict[str, Any]]:
    """Competition ranking (1, 2, 2, 4) by ``key``; rows whose rate is "—" come last, unranked."""

    def value(row: dict[str, Any]) -> float | None:
        cell = row[key]
        return cell.rate if isinstance(cell, Rate) else float(cell)

    scored = sorted(
        (r for r in rows if value(r) is not None),
        key=lambda r: (-value(r) if descending else value(r), -r["volume"], r["region"]),  # type: ignore[operator]
    )
    result: list[dict[str, Any]] = []
    for position, row in enumerate(scored, start=1):
        same = result and value(result[-1]) == value(row)
        result.append({**row, "rank": result[-1]["rank"] if same else position})
    unscored = sorted((r for r in rows if value(r) is None), key=lambda r: r["region"])
    return result + [{**row, "rank": None} for row in unscored]


# -- the exchange sections ----------------------------------------------------------------
@register_section
def summary_section(context: BulletinContext) -> list[BulletinTable]:
    rows = []
    for label, report in (
        ("作为被查询地", context.responder),
        ("作为查询发起地", context.requester),
    ):
        rows.append({"role": label, **figures_row(report.total)})
    columns = [column("role", "角色", "text"), *REGION_COLUMNS[1:], *QUERY_COLUMNS,
               *NOTIFICATION_COLUMNS]  # fmt: skip
    return [BulletinTable(key="summary", title="汇总", columns=columns, rows=rows)]


RANKINGS = (
    ("feedback_rate", "查询反馈率排名", True, QUERY_COLUMNS),
    ("timely_rate", "及时反馈率排名", True, QUERY_COLUMNS),
    ("not_found_rate", "查无此人率排名", False, QUERY_COLUMNS),
    ("receipt_rate", "通报接收率排名", True, NOTIFICATION_COLUMNS),
)


@register_section
def ranking_sections(context: BulletinContext) -> list[BulletinTable]:
    """Regions ranked by each rate (best first; 查无此人率 lowest first) and by volume."""
    rows = [figures_row(item) for item in context.responder.items]
    tables = [
        BulletinTable(key=f"rank_{key}", title=title, columns=[*REGION_COLUMNS, *columns],
                      rows=ranked(rows, key, descending=descending))
        for key, title, descending, columns in RANKINGS
    ]  # fmt: skip
    volume_columns = [*REGION_COLUMNS, column("volume", "交换总量"), *QUERY_COLUMNS,
                      *NOTIFICATION_COLUMNS]  # fmt: skip
    tables.append(BulletinTable(key="rank_volume", title="交换量排名", columns=volume_columns,
                                rows=ranked(rows, "volume")))  # fmt: skip
    return tables


@register_section
def latency_section(context: BulletinContext) -> list[BulletinTable]:
    """Hours from submission to feedback (queries) and to receipt (notifications)."""
    columns = [
        *REGION_COLUMNS[1:],
        column("answered_count", "已反馈查询"),
        column("answered_median", "反馈时长中位数(小时)", "number"),
        column("answered_p90", "反馈时长P90(小时)", "number"),
        column("answered_p99", "反馈时长P99(小时)", "number"),
        column("received_count", "已接收通报"),
        column("received_median", "接收时长中位数(小时)", "number"),
        column("received_p90", "接收时长P90(小时)", "number"),
    ]
    rows = []
    for item in [context.latency.total, *context.latency.items]:
        answered = next(leg for leg in item.queries if leg.leg == "answered")
        received = next(leg for leg in item.notifications if leg.leg == "received")
        rows.append({
            "region": item.region, "name": item.name,
            "answered_count": answered.count, "answered_median": _hours(answered.median_seconds),
            "answered_p90": _hours(answered.p90_seconds),
            "answered_p99": _hours(answered.p99_seconds),
            "received_count": received.count, "received_median": _hours(received.median_seconds),
            "received_p90": _hours(received.p90_seconds),
        })  # fmt: skip
    return [BulletinTable(key="latency", title="反馈时效", columns=columns, rows=rows)]


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


@register_section
def matrix_section(context: BulletinContext) -> list[BulletinTable]:
    """Origin × destination: each region under the admin against each requesting province."""
    names = {item.region: item.name for item in context.responder.items}
    columns = [column("region", "被查询地代码", "text"), column("name", "被查询地", "text"),
               column("counterpart", "查询发起省代码", "text"),
               column("counterpart_name", "查询发起省", "text"), *QUERY_COLUMNS[:4],
               column("not_found", "查无此人"), column("not_found_rate", "查无此人率", "rate"),
               column("notifications", "收到通报")]  # fmt: skip
    rows = []
    for cell in context.responder.matrix:
        query = cell.queries
        rows.append({
            "region": cell.region, "name": names.get(cell.region, cell.region),
            "counterpart": cell.counterpart, "counterpart_name": cell.counterpart_name,
            "routed": query.routed, "due": query.due, "answered": query.answered,
            "feedback_rate": query.feedback_rate, "not_found": query.not_found,
            "not_found_rate": query.not_found_rate, "notifications": cell.notifications.routed,
        })  # fmt: skip
    return [BulletinTable(key="matrix", title="来源去向矩阵", columns=columns, rows=rows)]


@register_section
def requester_section(context: BulletinContext) -> list[BulletinTable]:
    """Queries sent: a high 查无此人率 points at a county routing to the wrong origin."""
    columns = [*REGION_COLUMNS, column("routed", "发出查询"), column("due", "应获反馈"),
               column("answered", "已获反馈"), column("feedback_rate", "获反馈率", "rate"),
               column("not_found", "查无此人"), column("not_found_rate", "查无此人率", "rate"),
               column("overdue", "超期未获反馈")]  # fmt: skip
    rows = [figures_row(item) for item in context.requester.items]
    table = BulletinTable(key="requester_not_found", title="发起地查无此人率", columns=columns,
                          rows=ranked(rows, "not_found_rate"))  # fmt: skip
    return [table]
