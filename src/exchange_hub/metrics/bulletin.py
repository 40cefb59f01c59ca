"""每月通报: the exchange sections of the monthly bulletin, and what every section shares.

A bulletin is a list of tables; each comes from a *section builder* that reads
one ``BulletinContext``. This module holds the context, the column and ranking
helpers, and the exchange domain's own builders; the reports and scorecard
domains write theirs with the same helpers. Which builders make up the
bulletin, and in what order, is written in one place: ``exchange_hub.bulletin``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from exchange_hub.metrics import service
from exchange_hub.metrics.definitions import Tally
from exchange_hub.metrics.quality import QualityCounts, quality_by_region
from exchange_hub.metrics.schemas import BulletinColumn, BulletinTable
from exchange_hub.scope import Caller


@dataclass(frozen=True)
class BulletinContext:
    """What every section builder may read: the request and the rolled-up figures of both roles.

    ``responder``: queries and notifications routed to the regions under the
    admin; ``requester``: what those regions sent. Both are summed counts
    (``service.Rollup``), so builders compute rates only at the end.
    """

    session: Session
    caller: Caller
    request: service.Request
    responder: service.Rollup
    requester: service.Rollup
    province_names: dict[str, str]


BULLETIN_LEGS = (("query", "answered"), ("notification", "received"))
"""The latency legs the bulletin shows: to feedback (queries), to receipt (notifications)."""

SectionBuilder = Callable[[BulletinContext], Sequence[BulletinTable]]
"""A section: the context in, its tables out (listed, in order, in ``exchange_hub.bulletin``)."""


def bulletin_context(
    session: Session,
    caller: Caller,
    *,
    region: str,
    period: str,
    level: str | None = None,
    as_of: str | None = None,
    now: datetime | None = None,
) -> BulletinContext:
    """Check the request (scope, period, level) and roll up the figures every section reads."""
    request = service.prepare(
        session, caller, region=region, period=period, level=level,
        role="responder", as_of=as_of, now=now,
    )  # fmt: skip
    return _context(session, caller, request)


def _context(session: Session, caller: Caller, request: service.Request) -> BulletinContext:
    """Responder figures with the matrix and latency; requester figures without either."""
    as_requester = service.Request(
        request.region, request.period, request.as_of, request.level, "requester"
    )
    responder = service.figures_for(
        session, request, matrix_level=matrix_level(request.region.level),
        latency_legs=BULLETIN_LEGS,
    )  # fmt: skip
    requester = service.figures_for(session, as_requester, with_latency=False)
    return BulletinContext(
        session=session, caller=caller, request=request, responder=responder,
        requester=requester, province_names=service.province_names(session),
    )  # fmt: skip


def matrix_level(region_level: str) -> str:
    """The matrix is drawn one level below the admin (a province: its prefectures)."""
    below = {"nation": "province", "province": "prefecture", "prefecture": "county"}
    return below.get(region_level, "county")


# -- columns ------------------------------------------------------------------------------
def column(key: str, title: str, kind: str = "int") -> BulletinColumn:
    return BulletinColumn(key=key, title=title, type=kind)


REGION_COLUMNS = [column("rank", "名次"), column("region", "地区代码", "text"),
                  column("name", "地区名称", "text")]  # fmt: skip
QUERY_COLUMNS = [
    column("routed", "收到查询"), column("due", "应反馈"), column("answered", "已反馈"),
    column("feedback_rate", "查询反馈率", "rate"), column("answered_on_time", "按时反馈"),
    column("timely_rate", "及时反馈率", "rate"), column("not_found", "查无此人"),
    column("not_found_rate", "查无此人率", "rate"), column("overdue", "超期未反馈"),
]  # fmt: skip
NOTIFICATION_COLUMNS = [
    column("notifications", "收到通知"), column("notifications_due", "应接收"),
    column("received", "已接收"), column("receipt_rate", "通知接收率", "rate"),
    column("notifications_overdue", "超期未接收"),
]  # fmt: skip


def rate_cell(numerator: int, denominator: int) -> dict[str, Any]:
    """A rate as in the JSON contract, as a plain dict (cheap: a bulletin holds thousands)."""
    rate = None if denominator == 0 else numerator / denominator
    return {"numerator": numerator, "denominator": denominator, "rate": rate}


def figures_row(code: str, name: str, kinds: dict[str, Tally]) -> dict[str, Any]:
    query, note = kinds.get("query", Tally()), kinds.get("notification", Tally())
    return {
        "region": code, "name": name,
        "routed": query.routed, "due": query.due, "answered": query.answered,
        "feedback_rate": rate_cell(query.answered, query.due),
        "answered_on_time": query.answered_on_time,
        "timely_rate": rate_cell(query.answered_on_time, query.due),
        "not_found": query.not_found, "not_found_rate": rate_cell(query.not_found, query.answered),
        "overdue": query.overdue, "notifications": note.routed,
        "notifications_due": note.receipt_due, "received": note.received,
        "receipt_rate": rate_cell(note.received, note.receipt_due),
        "notifications_overdue": note.receipt_overdue, "volume": query.routed + note.routed,
    }  # fmt: skip


def item_rows(rollup: service.Rollup) -> list[dict[str, Any]]:
    return [figures_row(code, rollup.names.get(code, code), kinds)
            for code, kinds in sorted(rollup.items.items())]  # fmt: skip


def ranked(
    rows: list[dict[str, Any]], key: str, *, descending: bool = True
) -> list[dict[str, Any]]:
    """Competition ranking (1, 2, 2, 4) by ``key``; rows whose rate is "—" come last, unranked."""

    def value(row: dict[str, Any]) -> float | None:
        cell = row[key]
        return cell["rate"] if isinstance(cell, dict) else float(cell)

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
def summary_section(context: BulletinContext) -> list[BulletinTable]:
    region = context.request.region
    roles = (("作为被查询地", context.responder), ("作为查询发起地", context.requester))
    rows = [
        {"role": label, **figures_row(region.code, region.name, rollup.total)}
        for label, rollup in roles
    ]
    columns = [column("role", "角色", "text"), *REGION_COLUMNS[1:], *QUERY_COLUMNS,
               *NOTIFICATION_COLUMNS]  # fmt: skip
    return [BulletinTable(key="summary", title="汇总", columns=columns, rows=rows)]


RANKINGS = (
    ("feedback_rate", "查询反馈率排名", True, QUERY_COLUMNS),
    ("timely_rate", "及时反馈率排名", True, QUERY_COLUMNS),
    ("not_found_rate", "查无此人率排名", False, QUERY_COLUMNS),
    ("receipt_rate", "通知接收率排名", True, NOTIFICATION_COLUMNS),
)


def ranking_sections(context: BulletinContext) -> list[BulletinTable]:
    """Regions ranked by each rate (best first; 查无此人率 lowest first) and by volume."""
    rows = item_rows(context.responder)
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


def latency_section(context: BulletinContext) -> list[BulletinTable]:
    """Hours from submission to feedback (queries) and to receipt (notifications)."""
    columns = [
        *REGION_COLUMNS[1:],
        column("answered_count", "已反馈查询"),
        column("answered_median", "反馈时长中位数(小时)", "number"),
        column("answered_p90", "反馈时长P90(小时)", "number"),
        column("answered_p99", "反馈时长P99(小时)", "number"),
        column("received_count", "已接收通知"),
        column("received_median", "接收时长中位数(小时)", "number"),
        column("received_p90", "接收时长P90(小时)", "number"),
    ]
    rollup, region = context.responder, context.request.region
    entries = [(region.code, region.name, rollup.total_latency)]
    entries += [(code, rollup.names.get(code, code), rollup.latency.get(code, {}))
                for code in sorted(rollup.items)]  # fmt: skip
    rows = []
    for code, name, legs in entries:
        answered = service.leg_latency("answered", legs.get(("query", "answered"), {}))
        received = service.leg_latency("received", legs.get(("notification", "received"), {}))
        rows.append({
            "region": code, "name": name,
            "answered_count": answered.count, "answered_median": _hours(answered.median_seconds),
            "answered_p90": _hours(answered.p90_seconds),
            "answered_p99": _hours(answered.p99_seconds),
            "received_count": received.count, "received_median": _hours(received.median_seconds),
            "received_p90": _hours(received.p90_seconds),
        })  # fmt: skip
    return [BulletinTable(key="latency", title="反馈时效", columns=columns, rows=rows)]


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 3600, 2)


def matrix_section(context: BulletinContext) -> list[BulletinTable]:
    """Origin × destination: each region under the admin against each requesting province."""
    provinces = context.province_names
    names = service.region_names(
        context.session, context.request.region.code,
        matrix_level(context.request.region.level), [],
    )  # fmt: skip
    columns = [column("region", "被查询地代码", "text"), column("name", "被查询地", "text"),
               column("counterpart", "查询发起省代码", "text"),
               column("counterpart_name", "查询发起省", "text"), *QUERY_COLUMNS[:4],
               column("not_found", "查无此人"), column("not_found_rate", "查无此人率", "rate"),
               column("notifications", "收到通知")]  # fmt: skip
    rows = []
    for (code, counterpart), kinds in sorted(context.responder.cells.items()):
        query, note = kinds.get("query", Tally()), kinds.get("notification", Tally())
        rows.append({
            "region": code, "name": names.get(code, code), "counterpart": counterpart,
            "counterpart_name": provinces.get(counterpart, counterpart),
            "routed": query.routed, "due": query.due, "answered": query.answered,
            "feedback_rate": rate_cell(query.answered, query.due), "not_found": query.not_found,
            "not_found_rate": rate_cell(query.not_found, query.answered),
            "notifications": note.routed,
        })  # fmt: skip
    return [BulletinTable(key="matrix", title="来源去向矩阵", columns=columns, rows=rows)]


def requester_section(context: BulletinContext) -> list[BulletinTable]:
    """Queries sent: a high 查无此人率 points at a county routing to the wrong origin."""
    columns = [*REGION_COLUMNS, column("routed", "发出查询"), column("due", "应获反馈"),
               column("answered", "已获反馈"), column("feedback_rate", "获反馈率", "rate"),
               column("not_found", "查无此人"), column("not_found_rate", "查无此人率", "rate"),
               column("overdue", "超期未获反馈")]  # fmt: skip
    rows = item_rows(context.requester)
    table = BulletinTable(key="requester_not_found", title="发起地查无此人率", columns=columns,
                          rows=ranked(rows, "not_found_rate"))  # fmt: skip
    return [table]


def quality_section(context: BulletinContext) -> list[BulletinTable]:
    """数据质量: shares of flagged ID numbers, missing hukou regions and unmatched inflows."""
    request = context.request
    counts = quality_by_region(
        context.session, scope=request.region.code, period=request.period, level=request.level
    )
    columns = [
        *REGION_COLUMNS[1:], column("records", "登记记录"),
        column("id_flagged", "身份证号校验异常"),
        column("id_flagged_rate", "身份证号异常率", "rate"), column("inflows", "流入登记"),
        column("hukou_missing", "缺户籍地"), column("hukou_missing_rate", "缺户籍地率", "rate"),
        column("unmatched_inflows", "未匹配流出"),
        column("unmatched_rate", "流入未匹配率", "rate"),
    ]  # fmt: skip
    total = QualityCounts()
    rows = []
    names = context.responder.names
    for code in sorted(set(names) | set(counts)):
        found = counts.get(code, QualityCounts())
        for field in vars(total):
            setattr(total, field, getattr(total, field) + getattr(found, field))
        rows.append(_quality_row(code, names.get(code, code), found))
    region = request.region
    rows.insert(0, _quality_row(region.code, region.name, total))
    return [BulletinTable(key="data_quality", title="数据质量", columns=columns, rows=rows)]


def _quality_row(code: str, name: str, counts: Any) -> dict[str, Any]:
    return {
        "region": code, "name": name, "records": counts.records,
        "id_flagged": counts.id_flagged,
        "id_flagged_rate": rate_cell(counts.id_flagged, counts.records),
        "inflows": counts.inflows, "hukou_missing": counts.hukou_missing,
        "hukou_missing_rate": rate_cell(counts.hukou_missing, counts.inflows),
        "unmatched_inflows": counts.unmatched_inflows,
        "unmatched_rate": rate_cell(counts.unmatched_inflows, counts.inflows),
    }  # fmt: skip
