"""Two first submissions of the same report at once: one creates it, the other corrects it."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from exchange_hub.context import HubContext
from exchange_hub.db import transaction
from exchange_hub.models import DepartmentReport, DepartmentReportVersion
from exchange_hub.reports import service
from exchange_hub.reports.catalogue import load_catalogue
from tests.reports.conftest import reporter_caller, shanghai, submit


def test_simultaneous_first_submissions_become_one_report_and_a_correction(
    hub: HubContext,
) -> None:
    first_flushed = threading.Event()
    errors: list[BaseException] = []

    def slow_first() -> None:
        try:
            with transaction(hub.sessions) as session:
                service.submit_report(
                    session, reporter_caller("110105", "police"), department="police",
                    region="110105", period="2026-10", counts={"moved_in": 1}, zero=None,
                    catalogue=load_catalogue(), now=shanghai(2026, 11, 2, 9),
                )  # fmt: skip
                first_flushed.set()
                time.sleep(0.5)  # the second submission now waits on this transaction
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
            first_flushed.set()

    thread = threading.Thread(target=slow_first)
    thread.start()
    assert first_flushed.wait(10)
    second = submit(
        hub, region="110105", department="police", period="2026-10",
        at=shanghai(2026, 11, 2, 9, 0, 1), counts={"moved_in": 2},
    )  # fmt: skip
    thread.join(10)
    assert not errors
    assert second.version == 2 and second.on_time
    with hub.sessions() as session:
        assert len(session.scalars(select(DepartmentReport)).all()) == 1
        versions = session.scalars(
            select(DepartmentReportVersion).order_by(DepartmentReportVersion.version)
        ).all()
    assert [v.counts for v in versions] == [{"moved_in": 1}, {"moved_in": 2}]
