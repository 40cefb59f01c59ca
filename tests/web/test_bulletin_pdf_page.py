"""The console's bulletin page offers the printable PDF, the same file as the API's."""

from __future__ import annotations

from datetime import datetime, timedelta

from fastapi.testclient import TestClient

from exchange_hub.context import HubContext
from exchange_hub.web.pages.common import last_month
from tests.web import factories
from tests.web.helpers import sign_in


def test_the_bulletin_page_links_the_pdf_and_serves_it(
    client: TestClient, hub: HubContext, gd_admin: str, console_day: datetime
) -> None:
    at = factories.last_month_moment()
    answered = factories.send_query(hub, to="440305", at=at, seq="201")
    factories.answer_query(hub, answered, by="440305", at=at + timedelta(days=2))
    sign_in(client, gd_admin)
    period = last_month()
    page = client.get("/console/bulletin")
    link = f"/console/bulletin/download?region=440000&amp;period={period}&amp;format=pdf"
    assert page.status_code == 200 and f'id="download-pdf" href="{link}"' in page.text
    assert "下载 PDF" in page.text
    pdf = client.get(link.replace("&amp;", "&"))
    assert pdf.status_code == 200
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == (
        f'attachment; filename="bulletin-440000-{period}.pdf"'
    )
    assert pdf.headers["cache-control"] == "no-store"
    assert pdf.content.startswith(b"%PDF-")
    bad = client.get("/console/bulletin/download?format=pdf&period=2026-13")
    assert bad.status_code == 422 and "period" in bad.text
