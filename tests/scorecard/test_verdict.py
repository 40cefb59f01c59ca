"""The score and the verdict on hand-made parts: a good average never hides an unmet indicator,
no data is never 100%, a 4/0 is a data problem (issue 17, item 7).

Worked example (the default weights and targets of indicators.toml), a region whose
figures are all perfect except 重要信息登录率 1/44 = 2.3% (target 95%):

    destination: 婚育证明查验率 w3 ×1 + 建档率 w2 ×1 + 重要信息登录率 w2 × (2.27/95)
                 + 协查获反馈率 w1 ×1 + 通报接收率 w1 + 部门报送率 w1 + 及时率 w1
                 = 9.0478 / 11 = 82.3%
    origin:      every indicator met                     = 100%
    overall:     0.6 × 82.3% + 0.4 × 100%                = 89.4%  ≥ 85%, yet 未达标
"""

from __future__ import annotations

import pytest

from exchange_hub.scorecard import explain
from exchange_hub.scorecard.config import default_config
from exchange_hub.scorecard.parts import Part
from exchange_hub.scorecard.schemas import RegionScorecard
from exchange_hub.scorecard.service import evaluate

PERFECT = {
    "certificate_check_rate": Part(30, 30),
    "inflow_registration_rate": Part(10, 10, reported=1),
    "information_submission_rate": Part(44, 44, reported=1),
    "requester_feedback_rate": Part(5, 5),
    "query_feedback_rate": Part(10, 10),
    "not_found_rate": Part(0, 10),
    "timely_feedback_rate": Part(10, 10),
    "certificate_issue_rate": Part(20, 20),
    "outflow_registration_rate": Part(5, 5, reported=1),
    "receipt_rate": Part(5, 5),
    "department_reporting_rate": Part(4, 4),
    "department_on_time_rate": Part(4, 4),
}
ORIGIN_OWN = (
    "query_feedback_rate",
    "not_found_rate",
    "timely_feedback_rate",
    "certificate_issue_rate",
    "outflow_registration_rate",
)


def _card(parts: dict[str, Part]) -> RegionScorecard:
    return evaluate("440305", "南山区", "county", parts, default_config())


def _statuses(card: RegionScorecard) -> dict[str, str]:
    return {i.key: i.status for i in card.indicators}


def test_one_indicator_far_below_its_target_is_not_hidden_by_a_high_average() -> None:
    card = _card({**PERFECT, "information_submission_rate": Part(1, 44, reported=1)})
    destination = (3 + 2 + 2 * (1 / 44 * 100 / 95) + 1 + 1 + 1 + 1) / 11
    assert card.destination_score == pytest.approx(destination)
    assert card.origin_score == pytest.approx(1.0)
    assert card.overall_score == pytest.approx(0.6 * destination + 0.4)
    assert card.overall_score is not None and card.overall_score * 100 > 85  # a high average
    assert card.overall_met is False
    [reason] = card.reasons
    assert (reason.code, reason.key, reason.target) == (
        "indicator_below_target", "information_submission_rate", 95.0,
    )  # fmt: skip
    assert explain.verdict_text(card, "zh") == "未达标：重要信息登录率 2.3% 低于目标 95%"
    assert explain.verdict_text(card, "en") == (
        "Not met: Information submission rate 2.3% is below its target of 95%"
    )


def test_all_targets_met_is_met_and_says_how_many_were_judged() -> None:
    card = _card(PERFECT)
    assert card.overall_met is True and card.overall_score == pytest.approx(1.0)
    assert explain.verdict_text(card, "zh") == (
        "达标：综合得分 100.0% 达到达标线 85%，有比率的 12 项指标均达到目标"
    )


def test_a_lower_is_better_indicator_above_its_limit_and_a_low_score_both_count() -> None:
    parts = {**PERFECT, "not_found_rate": Part(4, 10), "certificate_check_rate": Part(0, 30)}
    card = _card(parts)
    assert card.overall_met is False
    codes = [(r.code, r.key) for r in card.reasons]
    assert codes == [
        ("score_below_target", None),
        ("indicator_below_target", "certificate_check_rate"),
        ("indicator_below_target", "not_found_rate"),
    ]
    text = explain.verdict_text(card, "zh")
    assert "低于达标线 85%" in text and "查无此人率 40.0% 高于上限 5%" in text
    assert "is above its limit of 5%" in explain.verdict_text(card, "en")


def test_a_role_whose_own_indicators_have_no_data_has_no_score_not_100() -> None:
    parts = {key: part for key, part in PERFECT.items() if key not in ORIGIN_OWN}
    card = _card(parts)
    assert all(_statuses(card)[key] == "no_data" for key in ORIGIN_OWN)
    # The shared figures (receipt, department reports) are at 100%; they judge no role alone.
    assert card.origin_score is None
    assert card.destination_score == pytest.approx(1.0)
    assert card.overall_score == pytest.approx(1.0)  # the destination's, on its weight only


def test_a_region_with_no_data_at_all_has_no_score_and_no_verdict() -> None:
    shared_only = {
        "receipt_rate": Part(5, 5),
        "department_reporting_rate": Part(4, 4),
        "department_on_time_rate": Part(4, 4),
    }
    for parts in ({}, shared_only):
        card = _card(parts)
        assert (card.destination_score, card.origin_score, card.overall_score) == (None,) * 3
        assert card.overall_met is None
        assert [r.code for r in card.reasons] == ["no_score"]
        assert explain.verdict_text(card, "zh").startswith("无法评定：")
        assert explain.verdict_text(card, "en").startswith("Not assessed: ")


def test_why_a_rate_is_missing_is_told_apart() -> None:
    parts = {
        **PERFECT,
        "information_submission_rate": Part(4, 0, reported=1),  # 4 notices, 0 births reported
        "inflow_registration_rate": Part(missing=1),  # the police report is overdue
        "outflow_registration_rate": Part(pending=1),  # the police report is not due yet
        "certificate_check_rate": Part(0, 0),
    }
    card = _card(parts)
    statuses = _statuses(card)
    assert statuses["information_submission_rate"] == "inconsistent"
    assert statuses["inflow_registration_rate"] == "no_report"
    assert statuses["outflow_registration_rate"] == "not_due"
    assert statuses["certificate_check_rate"] == "no_data"
    assert all(i.rate is None and i.met is None for i in card.indicators if i.status != "ok")
    labels = {i.key: explain.status_label(i, "zh") for i in card.indicators}
    assert labels["information_submission_rate"] == "数据矛盾"
    assert labels["inflow_registration_rate"] == "无月报"
    assert labels["outflow_registration_rate"] == "未到期"
    assert labels["certificate_check_rate"] == "无数据"
    # The footnote uses the very words of the cells.
    statuses_rule = explain.rules(card, "zh")[-1]
    assert all(word in statuses_rule for word in ("无数据", "无月报", "未到期", "数据矛盾"))
    # Data problems are listed with the verdict; the rest is met, so it is met.
    assert card.overall_met is True
    text = explain.verdict_text(card, "zh")
    assert "另：重要信息登录率 4/0 数据矛盾（分母为 0）" in text
    assert "另：流入人口建档率 无月报" in text
    assert "also: Information submission rate 4/0 inconsistent" in explain.verdict_text(card, "en")
    # Without a score, missing reports add nothing to "no score"; a 4/0 is still told.
    alone = _card({"information_submission_rate": Part(4, 0, reported=1),
                   "inflow_registration_rate": Part(missing=1)})  # fmt: skip
    assert alone.overall_met is None
    assert explain.verdict_text(alone, "zh") == (
        "无法评定：流入地和流出地自身的指标都没有比率，无得分；"
        "另：重要信息登录率 4/0 数据矛盾（分母为 0），请核对部门报表与登记数据"
    )


def test_percentages_never_round_onto_the_target() -> None:
    assert explain.percent(0.94996, against=95) == "94.996%"
    assert explain.percent(0.9449, against=95) == "94.5%"
    assert explain.percent(0.023) == "2.3%"


def test_the_rules_carry_the_weights_and_pass_mark_in_force() -> None:
    card = _card(PERFECT)
    for lang in ("zh", "en"):
        lines = explain.rules(card, lang)
        assert len(lines) == len(explain.RULES)
        assert any("0.6" in line and "0.4" in line for line in lines)
        assert any("85%" in line for line in lines)
        assert not any("{" in line for line in lines)


def test_every_indicator_is_defined_in_both_languages() -> None:
    for lang in ("zh", "en"):
        definitions = explain.definitions(lang)
        assert list(definitions) == list(default_config().keys)
        for item in definitions.values():
            assert item.name and item.formula and item.numerator and item.denominator
            assert item.counts
    assert explain.definitions("zh")["query_feedback_rate"].formula == "已反馈 ÷ 应反馈 × 100%"
    assert explain.definitions("en")["query_feedback_rate"].formula == "answered ÷ due × 100%"
