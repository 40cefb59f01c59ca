"""What every command shares: messages stay on one line (found when a long temporary path
broke ``nothing was loaded`` across two lines of the calendar command's error)."""

from __future__ import annotations

import pytest

from exchange_hub import commands

LONG = "/tmp/" + "deep/" * 40 + "notice.csv: nothing was loaded"


def test_an_error_is_one_line_however_long(capsys: pytest.CaptureFixture[str]) -> None:
    exit_ = commands.fail(LONG)
    assert exit_.exit_code == 1
    assert capsys.readouterr().err == f"error: {LONG}\n"


def test_a_message_is_one_line_however_long(capsys: pytest.CaptureFixture[str]) -> None:
    commands.console.print(LONG)
    assert capsys.readouterr().out == f"{LONG}\n"
