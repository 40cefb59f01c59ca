"""每月通报: the monthly bulletin that ranks the regions under an admin, in one list of sections.

A bulletin is a list of tables; each comes from a *section builder*
(``metrics.bulletin.SectionBuilder``) that reads one ``BulletinContext``. The
builders live in their domains — the exchange rates in metrics, department
reporting in reports, the two-way assessment in scorecard — and this module
is the only place that lists them, in the order their tables appear, so a
table is in the bulletin because it is written here, not because some module
happened to be imported. The API route, the ``bulletin`` command and the
console page all build the bulletin here; ``metrics.exports`` turns any
bulletin into CSV or XLSX without knowing what its tables hold, and
``metrics.bulletin_pdf`` lays it out as the printable PDF beside the previous
period's bulletin (环比). ``read_bulletin`` reads what a format needs inside the
read session; ``bulletin_file`` builds the file after that session closed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from exchange_hub.metrics import bulletin as metrics_bulletin
from exchange_hub.metrics import bulletin_pdf, exports
from exchange_hub.metrics.bulletin import SectionBuilder
from exchange_hub.metrics.schemas import Bulletin
from exchange_hub.periods import parse_period, previous_period
from exchange_hub.reports import bulletin as reports_bulletin
from exchange_hub.scope import Caller
from exchange_hub.scorecard import bulletin as scorecard_bulletin

SECTIONS: tuple[SectionBuilder, ...] = (
    metrics_bulletin.summary_section,
    metrics_bulletin.ranking_sections,
    metrics_bulletin.latency_section,
    metrics_bulletin.matrix_section,
    metrics_bulletin.requester_section,
    metrics_bulletin.quality_section,
    reports_bulletin.reports_section,
    scorecard_bulletin.scorecard_section,
)


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
    """The tables of every section in ``SECTIONS`` order, for ``region`` and ``period``."""
    context = metrics_bulletin.bulletin_context(
        session, caller, region=region, period=period, level=level, as_of=as_of, now=now
    )
    tables = [table for builder in SECTIONS for table in builder(context)]
    request = context.request
    return Bulletin(
        region=request.region.code, name=request.region.name, period=request.period.label,
        as_of=request.as_of, level=request.level, tables=tables,
    )  # fmt: skip


FORMATS = ("json", "csv", "xlsx", "pdf")


@dataclass(frozen=True)
class BulletinRead:
    """What one format of the bulletin is made from: the period's bulletin and, for the
    PDF's 环比, the previous period's, read at the same evaluation time."""

    current: Bulletin
    previous: Bulletin | None = None


def read_bulletin(
    session: Session,
    caller: Caller,
    *,
    format: str,
    region: str,
    period: str,
    level: str | None = None,
    as_of: str | None = None,
    now: datetime | None = None,
) -> BulletinRead:
    """The bulletin for ``format``; the PDF also reads the period before (None before 2000)."""
    current = build_bulletin(
        session, caller, region=region, period=period, level=level, as_of=as_of, now=now
    )
    earlier = previous_period(parse_period(current.period))
    if format != "pdf" or earlier is None:
        return BulletinRead(current)
    previous = build_bulletin(
        session, caller, region=current.region, period=earlier.label, level=current.level,
        as_of=current.as_of.isoformat(), now=now,
    )  # fmt: skip
    return BulletinRead(current, previous)


def bulletin_file(read: BulletinRead, format: str) -> tuple[bytes, str, str]:
    """The bytes, media type and file name of the bulletin as CSV, XLSX or PDF; built
    from finished bulletins, so after the read session closed (reads never write)."""
    bulletin = read.current
    name = f"bulletin-{bulletin.region}-{bulletin.period}.{format}"
    if format == "pdf":
        return bulletin_pdf.bulletin_pdf(bulletin, read.previous), bulletin_pdf.PDF_MEDIA_TYPE, name
    content, media_type = exports.export(bulletin, format)
    return content, media_type, name
