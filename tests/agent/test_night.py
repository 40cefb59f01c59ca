"""A night's run of ``exchange-hub-agent`` against a live hub (SQLite, or PostgreSQL when
``HUB_TEST_DATABASE_URL`` is set): three files pushed — an XLSX register, a GBK CSV and an
NDJSON file with bad lines —, the rejected lines laid out for a clerk to fix and drop back,
the inbox and the change feed pulled exactly once, a clerk's answers sent."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from exchange_hub.client import HubClient
from tests.agent.live import County, county_agent, live_hub, run_agent, stored
from tests.exchange.helpers import query_body
from tests.records.test_batch import person_number
from tests.records.test_batch_xlsx import register, workbook
from tests.reliability.harness import HubServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubServer]:
    with live_hub(tmp_path_factory.mktemp("hub")) as hub:
        yield hub


def _outflow(i: int, **person: Any) -> dict[str, Any]:
    return {"kind": "outflow", "person": {"id_number": person_number(i), "name": f"张{i}",
            **person}, "residence_region": "440305", "moved_on": "2026-03-01"}  # fmt: skip


def night_files(outbox: Path) -> None:
    rows = register(20)
    rows[4][3] = "M"  # row 5: the sex disagrees with the ID number
    rows[8][1] = "99" + rows[8][1][2:]  # row 9: no such region in the ID number
    rows[11][0] = "transfer"  # row 12
    (outbox / "register.xlsx").write_bytes(workbook(rows))
    text = "kind,id_number,name,address,birth_date\r\n" + "".join(
        f"outflow,{person_number(100 + i)},王秀英{i},北京市朝阳区{i}号,"
        f"{'1970-01-01' if i == 7 else ''}\r\n"
        for i in range(15)
    )  # line 9 (i = 7): a birth date against the ID number
    (outbox / "county-gbk.csv").write_bytes(text.encode("gbk"))
    lines = [json.dumps(_outflow(200 + i), ensure_ascii=False) for i in range(30)]
    lines[3], lines[10] = "not json", "{}"
    lines[20] = json.dumps({**_outflow(220), "residence_region": "123"})
    (outbox / "system.ndjson").write_text("\n".join(lines) + "\n")


def test_a_nights_run(server: HubServer, tmp_path: Path) -> None:
    county = county_agent(server, tmp_path / "chaoyang")
    other = county_agent(server, tmp_path / "nanshan", region="440305")
    with HubClient(server.url, other.member.api_key) as nanshan:
        query = nanshan.send_message(query_body(to_region="110105",
                                                subject_id=person_number(1)))  # fmt: skip
    night_files(county.outbox)
    first = run_agent(county, "run", "--json")
    assert first.returncode == 1, first.stdout + first.stderr
    assert "推送 3 个文件（收下 58 行，拒收 7 行）" in first.stdout
    assert stored(server) == (58, 0)
    assert sorted(p.name for p in county.outbox.iterdir() if p.is_file()) == []
    _check_rejected_xlsx(county)
    _check_rejected_csv(county)
    _check_rejected_ndjson(county)
    report = json.loads((county.folder / "reports" / "last-run.json").read_text())
    assert report["exit_code"] == 1 and report["push"]["rejected"] == 7
    assert report["pull"]["inbox_items"] == 1

    inbox = _ndjson(county.inbox, "inbox-")
    assert [item["id"] for item in inbox] == [str(query.id)]
    changes = _ndjson(county.inbox, "changes-")
    seqs = [c["seq"] for c in changes]
    assert seqs == sorted(set(seqs)) and len(seqs) >= 58

    _answer(county, str(query.id))
    second = run_agent(county, "run")
    assert second.returncode == 0, second.stdout + second.stderr
    assert "反馈 1 条" in second.stdout and "推送 0 个文件" in second.stdout
    with HubClient(server.url, other.member.api_key) as nanshan:
        answered = nanshan.get_message(query.id)
    assert answered.state == "answered" and answered.needs_feedback is False
    assert answered.feedback is not None and answered.feedback.result == "not_found"
    assert _ndjson(county.inbox, "inbox-") == inbox  # written once
    assert run_agent(county, "pull").returncode == 0  # the answer's own changes, after it
    sheet_book = load_workbook(county.inbox / "待反馈.xlsx", read_only=True)
    assert len(list(sheet_book.worksheets[0].iter_rows(values_only=True))) == 1  # all answered
    sheet_book.close()
    again = [c["seq"] for c in _ndjson(county.inbox, "changes-")]
    assert again[: len(seqs)] == seqs and again == sorted(set(again))  # only new changes added
    with HubClient(server.url, county.member.api_key) as chaoyang:
        feed = [c.seq for items, _ in chaoyang.changes() for c in items]
    assert again == feed  # nothing lost, nothing twice

    _fix_and_drop_back(county)
    third = run_agent(county, "push")
    assert third.returncode == 0, third.stdout + third.stderr
    assert "收下 3 行，拒收 0 行" in third.stdout
    assert stored(server) == (61, 0)  # the fixed rows landed; nothing else changed


def _check_rejected_xlsx(county: County) -> None:
    book = load_workbook(county.sent / "register.rejected.xlsx", read_only=True)
    rows = [list(r) for r in book.worksheets[0].iter_rows(values_only=True)]
    original = register(20)
    assert rows[0] == original[0]
    assert [r[1] for r in rows[1:]] == [original[4][1], "99" + original[8][1][2:], original[11][1]]
    assert [r[0] for r in rows[1:]] == ["outflow", "outflow", "transfer"]
    reasons = [list(r) for r in book.worksheets[1].iter_rows(values_only=True)]
    assert [(r[0], r[1]) for r in reasons[1:]] == [(5, "sex"), (9, "id_number"), (12, "kind")]
    book.close()


def _check_rejected_csv(county: County) -> None:
    text = (county.sent / "county-gbk.rejected.csv").read_bytes().decode("gb18030")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["kind", "id_number", "name", "address", "birth_date"]
    assert rows[1][2] == "王秀英7" and rows[1][4] == "1970-01-01" and len(rows) == 2
    reasons = list(csv.reader(io.StringIO(
        (county.sent / "county-gbk.rejected.reasons.csv").read_text("utf-8-sig"))))  # fmt: skip
    assert [(r[0], r[1]) for r in reasons[1:]] == [("9", "birth_date")]


def _check_rejected_ndjson(county: County) -> None:
    lines = (county.sent / "system.rejected.ndjson").read_text().splitlines()
    assert lines[0] == "not json" and lines[1] == "{}" and '"123"' in lines[2]
    assert len(lines) == 3
    report = json.loads((county.sent / "system.ndjson.report.json").read_text())
    assert [r["line"] for r in report["hub"]["rejected"]] == [4, 11, 21]


def _answer(county: County, message_id: str) -> None:
    """The clerk fills in the sheet ``pull`` wrote and drops it into answers/."""
    book = load_workbook(county.inbox / "待反馈.xlsx")
    sheet = book.worksheets[0]
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0][:2] == ["消息编号", "反馈结果"] and [r[0] for r in rows[1:]] == [message_id]
    assert rows[1][7] == person_number(1)  # the subject's ID number beside it
    sheet.cell(row=2, column=2).value = "查无此人"
    sheet.cell(row=2, column=3).value = "本县无此人户籍"
    book.save(county.answers / "待反馈-已填.xlsx")


def test_a_gbk_csv_of_answers_is_read_too(server: HubServer, tmp_path: Path) -> None:
    county = county_agent(server, tmp_path / "xicheng", region="110102")
    other = county_agent(server, tmp_path / "futian", region="440304")
    with HubClient(server.url, other.member.api_key) as futian:
        query = futian.send_message(query_body(to_region="110102",
                                               subject_id=person_number(400)))  # fmt: skip
    text = f"消息编号,反馈结果,备注\r\n{query.id},查到,在册\r\n,,\r\n"
    (county.answers / "answers.csv").write_bytes(text.encode("gbk"))
    result = run_agent(county, "answer")
    assert result.returncode == 0 and "反馈 1 条" in result.stdout, result.stdout
    with HubClient(server.url, other.member.api_key) as futian:
        assert futian.get_message(query.id).state == "answered"


def _fix_and_drop_back(county: County) -> None:
    """The clerk corrects the three rows of the rejected XLSX and drops it back."""
    book = load_workbook(county.sent / "register.rejected.xlsx")
    sheet = book.worksheets[0]
    sheet.cell(row=2, column=4).value = "F"
    sheet.cell(row=3, column=2).value = register(20)[8][1]
    sheet.cell(row=4, column=1).value = "outflow"
    book.save(county.outbox / "register.fixed.xlsx")


def _ndjson(folder: Path, prefix: str) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(folder.glob(f"{prefix}*.ndjson"))
            for line in path.read_text().splitlines()]  # fmt: skip


def test_answers_a_clerk_got_wrong_come_back_with_the_reason(
    server: HubServer, tmp_path: Path
) -> None:
    county = county_agent(server, tmp_path / "dongcheng", region="110101")
    other = county_agent(server, tmp_path / "tianhe", region="440106")
    with HubClient(server.url, other.member.api_key) as tianhe:
        bodies = [query_body(to_region="110101", subject_id=person_number(300 + i))
                  for i in range(3)]  # fmt: skip
        ids = [str(tianhe.send_message(body).id) for body in bodies]
    rows = [["消息编号", "反馈结果", "差异字段", "登记为", "实为"],
            [ids[0], "信息不符", "name", "张三", "张叁"],   # a mismatch with its difference
            [ids[1], "也许", None, None, None],              # no such result
            ["01a24fc7-46a8-7439-9ef1-9a5059a6bca9", "查到", None, None, None],  # not ours
            [ids[2], "信息不符", None, None, None]]  # a mismatch without a difference  # fmt: skip
    (county.answers / "answers.xlsx").write_bytes(workbook(rows))
    result = run_agent(county, "answer")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "反馈 1 条（已反馈过 0 条，被拒 3 条）" in result.stdout
    refused = list(csv.reader(io.StringIO(
        (county.answers / "sent" / "answers.refused.csv").read_text("utf-8-sig"))))  # fmt: skip
    assert [(r[0], r[1]) for r in refused[1:]] == [("3", "result"), ("4", "message_id"),
                                                   ("5", "differences")]  # fmt: skip
    again = run_agent(county, "answer")  # nothing left in answers/: nothing to do
    assert again.returncode == 0 and "反馈 0 条" in again.stdout
    with HubClient(server.url, other.member.api_key) as tianhe:
        assert tianhe.get_message(ids[0]).feedback.result == "mismatch"  # type: ignore[union-attr]
