"""The printable bulletin (月度通报 PDF): what it says, over HTTP and from the command line.

The clock is pinned; the bulletin's period is the month before it, and the
previous period (环比) the month before that. Text is read back from the PDF
with poppler's ``pdftotext`` (Debian ``poppler-utils``, installed by .ci/run).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from exchange_hub.metrics import bulletin_pdf
from exchange_hub.periods import parse_period, previous_period
from exchange_hub.workdays import SHANGHAI
from tests.metrics.factories import at

BULLETIN = "/api/v1/bulletin"
# 12 November 2026, 10:00 in Shanghai: the bulletin is October's, compared with September.
PINNED = datetime(2026, 11, 12, 2, 0, tzinfo=UTC)

needs_pdftotext = pytest.mark.skipif(
    shutil.which("pdftotext") is None and not os.environ.get("CI"),
    reason="poppler's pdftotext is not installed (apt-get install poppler-utils)",
)


def _month_of(moment: datetime, back: int) -> str:
    """The Asia/Shanghai month ``back`` months before that of ``moment``."""
    local = moment.astimezone(SHANGHAI)
    year, month = local.year, local.month - back
    while month < 1:
        year, month = year - 1, month + 12
    return f"{year:04d}-{month:02d}"


def _chinese(period: str) -> str:
    return f"{int(period[:4])}年{int(period[5:])}月"


@pytest.fixture
def months(clock) -> tuple[str, str]:
    """(the bulletin's month, the month before), computed from the pinned clock."""
    clock.pin(PINNED)
    return _month_of(PINNED, 1), _month_of(PINNED, 2)


def _queries(to: str, month: str, total: int, answered: int, not_found: int = 0) -> list[dict]:
    sent = at(f"{month}-05 09:00")
    return [
        dict(
            to_region=to,
            submitted_at=sent,
            deadline=sent + timedelta(days=10),
            delivered_at=sent + timedelta(minutes=1),
            answered_at=sent + timedelta(days=1) if i < answered else None,
            feedback_result=("not_found" if i < not_found else "found") if i < answered else None,
        )
        for i in range(total)
    ]


@pytest.fixture
def traffic(insert, months: tuple[str, str]) -> None:
    """This month Nanshan answers 9 of 10 (1 not found), Tianhe 1 of 4; two notifications to
    Nanshan, one received. Last month Nanshan answered 3 of 5. No other county of 44 moved."""
    month, before = months
    notified = at(f"{month}-06 09:00")
    notifications = [
        dict(
            to_region="440305",
            kind="notification",
            subtype="other",
            submitted_at=notified,
            deadline=notified + timedelta(days=10),
            delivered_at=notified + timedelta(minutes=1),
            received_at=notified + timedelta(hours=2) if i == 0 else None,
            needs_feedback=False,
        )
        for i in range(2)
    ]
    insert(
        *_queries("440305", month, 10, 9, not_found=1),
        *_queries("440106", month, 4, 1),
        *_queries("440305", before, 5, 3),
        *notifications,
    )


def _pdf_text(content: bytes, tmp_path: Path) -> str:
    assert content.startswith(b"%PDF-")
    path = tmp_path / "bulletin.pdf"
    path.write_bytes(content)
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


@needs_pdftotext
def test_the_pdf_names_the_province_the_period_and_the_worst_county(
    client, admin_gd, traffic, months, tmp_path
) -> None:
    month, before = months
    response = client.get(
        BULLETIN,
        params={"region": "44", "period": month, "format": "pdf"},
        headers=admin_gd.headers,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == (
        f'attachment; filename="bulletin-440000-{month}.pdf"'
    )
    text = _pdf_text(response.content, tmp_path)
    flat = "".join(text.split())
    assert "广东省流动人口信息交换工作月度通报" in flat
    assert _chinese(month) in flat and f"较{_chinese(before)}" in flat
    assert "查询反馈率71.4%（10/14）" in flat  # 9 + 1 of 10 + 4
    assert "通报接收率50.0%（1/2）" in flat
    assert "查无此人率10.0%（1/10）" in flat
    assert "查询反馈率最低：天河区（25.0%）" in flat
    # Nanshan went from 3/5 (60.0%) to 9/10 (90.0%): +30.0 points, in its ranking row.
    assert "+30.0" in flat
    assert "罗湖区" not in flat  # a county of 44 without any exchange is left out


def test_the_page_draws_a_chart_and_loads_nothing(hub, traffic, months) -> None:
    from exchange_hub.bulletin import read_bulletin
    from exchange_hub.db import transaction
    from tests.metrics.conftest import NATION_ADMIN

    month, before = months
    with transaction(hub.sessions) as session:
        read = read_bulletin(session, NATION_ADMIN, format="pdf", region="44", period=month)
    assert read.previous is not None and read.previous.period == before
    assert read.previous.as_of == read.current.as_of  # 环比 at the same evaluation time
    html = bulletin_pdf.bulletin_html(read.current, read.previous)
    assert html.count("<svg") == 4  # one bar chart per rate
    assert "http" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "南山区" in html and "天河区" in html


def test_a_rate_over_nothing_is_a_dash_and_no_region_is_singled_out(hub, months) -> None:
    from exchange_hub.bulletin import read_bulletin
    from exchange_hub.db import transaction
    from tests.metrics.conftest import NATION_ADMIN

    with transaction(hub.sessions) as session:
        read = read_bulletin(session, NATION_ADMIN, format="pdf", region="44", period=months[0])
    text = bulletin_pdf.summary_text(read.current, read.previous)
    assert "查询反馈率—（分母为0），上期无可比数据" in text
    html = bulletin_pdf.bulletin_html(read.current, read.previous)
    assert "<svg" not in html and "不作通报" in html


@pytest.mark.parametrize(
    ("label", "words", "before"),
    [
        ("2026-10", "2026年10月", "2026-09"),
        ("2027-01", "2027年1月", "2026-12"),
        ("2026-Q1", "2026年第一季度", "2025-Q4"),
        ("2026-Q4", "2026年第四季度", "2026-Q3"),
        ("2026", "2026年", "2025"),
        ("2026-06/2026-11", "2026年6月至11月", "2025-12/2026-05"),
        ("2025-12/2026-02", "2025年12月至2026年2月", "2025-09/2025-11"),
    ],
)
def test_periods_in_chinese_and_the_period_before(label: str, words: str, before: str) -> None:
    assert bulletin_pdf.period_words(label) == words
    earlier = previous_period(parse_period(label))
    assert earlier is not None and earlier.label == before


def test_no_period_before_2000() -> None:
    assert previous_period(parse_period("2000-01")) is None


def test_change_in_points() -> None:
    assert bulletin_pdf.change_text(0.9, 0.6) == "环比上升30.0个百分点"
    assert bulletin_pdf.change_text(0.5, 0.75) == "环比下降25.0个百分点"
    assert bulletin_pdf.change_text(0.5, 0.5) == "环比持平"
    assert bulletin_pdf.change_text(None, 0.5) == "上期无可比数据"


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"region": "44", "period": "2026-10", "format": "docx"}, 422, "format"),
        ({"region": "44", "period": "2026-13", "format": "pdf"}, 422, "period"),
        ({"region": "44", "period": "October", "format": "pdf"}, 422, "period"),
        ({"region": "44", "format": "pdf"}, 422, "period"),
        ({"region": "449999", "period": "2026-10", "format": "pdf"}, 404, "region"),
        ({"region": "110000", "period": "2026-10", "format": "pdf"}, 403, "region"),
    ],
)
def test_bad_input_for_the_pdf_is_a_problem(client, admin_gd, params, status, field) -> None:
    response = client.get(BULLETIN, params=params, headers=admin_gd.headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field


@needs_pdftotext
def test_the_command_writes_a_pdf(hub, traffic, months, tmp_path, monkeypatch) -> None:
    from exchange_hub.cli import app

    monkeypatch.setenv("HUB_DATABASE_URL", hub.settings.resolved_database_url)
    monkeypatch.setenv("HUB_DATA_DIR", str(hub.settings.data_dir))
    out = tmp_path / "out" / "x.pdf"
    result = CliRunner().invoke(
        app, ["bulletin", "--region", "44", "--period", months[0], "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    flat = "".join(_pdf_text(out.read_bytes(), tmp_path).split())
    assert "广东省" in flat and _chinese(months[0]) in flat
