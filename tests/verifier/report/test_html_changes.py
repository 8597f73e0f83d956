"""verifier.report.html_changes: a recheck's change section — figures before → after in yuan, the categories
that moved, members and warnings that changed (masked, labelled in Chinese, CSS-safe codes); none otherwise."""

from __future__ import annotations

from typing import Any

from assessment_kit import APPLICANT, CHILD, SPOUSE, example_report

from hedui.v1 import report_pb2
from verifier.report.html_changes import changes_view
from verifier.report.html_model import FigureRow


class People:
    """Names members as P(number) and remembers whom it was asked about."""

    def __init__(self) -> None:
        self.asked: list[str | None] = []

    def __call__(self, id_number: str | None) -> str:
        self.asked.append(id_number)
        return f"P({id_number})" if id_number else "全户"


def recheck(**changes: Any) -> report_pb2.Report:
    return report_pb2.Report(changes=report_pb2.ReportChanges(previous_report_id="r-old", **changes))


def test_a_report_that_is_not_a_rechecks_has_no_change_section() -> None:
    people = People()
    assert changes_view(example_report(), people) is None
    assert changes_view(report_pb2.Report(), people) is None
    assert people.asked == []


def test_the_previous_report_is_named_with_its_verification_version_and_date_when_known() -> None:
    bare = changes_view(recheck(), People())
    assert bare is not None and (bare.previous_report_id, bare.previous_report) == ("r-old", "r-old")
    known = changes_view(
        recheck(previous_verification_id="v-old", previous_version=2, previous_application_date="2026-05-01"),
        People(),
    )
    assert known is not None
    assert known.previous_report == "r-old（核对 v-old 第 2 版，申请日期 2026-05-01）"


def test_figures_before_and_after_only_the_categories_that_are_not_zero_on_both_sides() -> None:
    view = changes_view(
        recheck(
            household_size_before=3,
            household_size_after=2,
            income_by_category_before={"wages": 600_000, "pensions": 0, "zzz": 5},
            income_by_category_after={"wages": 1_234_567, "benefits": 0, "aaa": 100},
            annual_income_before_fen=600_005,
            annual_income_after_fen=1_234_667,
            deductions_before_fen=0,
            deductions_after_fen=120_000,
            per_capita_monthly_income_before_fen=16_667,
            per_capita_monthly_income_after_fen=-1,
            financial_assets_before_fen=10_000_000,
            financial_assets_after_fen=0,
            residential_properties_before=1,
            residential_properties_after=2,
        ),
        People(),
    )
    assert view is not None
    assert view.rows == (
        FigureRow("家庭人口（计入）", "3 → 2"),
        FigureRow("工资性收入", "6,000.00 → 12,345.67"),
        # categories hedui does not know follow the known ones, by name, shown by their codes
        FigureRow("aaa", "0.00 → 1.00"),
        FigureRow("zzz", "0.05 → 0.00"),
        FigureRow("家庭年收入 I", "6,000.05 → 12,346.67", total=True),
        FigureRow("刚性支出扣减 D", "0.00 → 1,200.00"),
        FigureRow("扣减后月人均收入", "166.67 → -0.01", total=True),
        FigureRow("家庭金融资产", "100,000.00 → 0.00"),
        FigureRow("住房（套）", "1 → 2"),
    )


def test_categories_follow_the_reports_order() -> None:
    after = {"other": 1, "benefits": 1, "wages": 1, "declared_unverified": 1, "property": 1, "pensions": 1}
    view = changes_view(recheck(income_by_category_after=after | {"business": 1}), People())
    assert view is not None
    labels = [row.label for row in view.rows[1:8]]
    assert labels == [
        "工资性收入",
        "经营净收入",
        "财产净收入",
        "养老金",
        "社会保障待遇",
        "其他收入",
        "申报未核实部分（按申报计入）",
    ]


def test_members_who_joined_left_or_stayed() -> None:
    view = changes_view(
        recheck(
            members_added=[CHILD],
            members_removed=[SPOUSE],
            member_changes=[
                report_pb2.MemberChange(
                    id_number=CHILD,
                    name=f"张小明 {CHILD}",  # free text from outside: a number in it is masked too
                    change="joined",
                    counted_after=True,
                    counted_annual_income_after_fen=360_000,
                    wages_after_fen=360_000,
                ),
                report_pb2.MemberChange(
                    id_number=SPOUSE, name="李秀英", change="left", counted_before=True, wages_before_fen=-50
                ),
                report_pb2.MemberChange(id_number=APPLICANT, name="张建国", change="moved", counted_before=True),
            ],
        ),
        People(),
    )
    assert view is not None
    assert (view.members_added, view.members_removed) == ((f"P({CHILD})",), (f"P({SPOUSE})",))
    joined, left, other = view.member_rows
    assert (joined.member, joined.id_masked, joined.change, joined.counted) == (
        "张小明 533401********0310",
        "533401********0310",
        "新增",
        "否 → 是",
    )
    assert (joined.income, joined.wages) == ("0.00 → 3,600.00", "0.00 → 3,600.00")
    assert (left.change, left.counted, left.wages) == ("减少", "是 → 否", "-0.50 → 0.00")
    assert (other.change, other.counted) == ("moved", "是 → 否")  # an unknown change shows as its code


def test_warnings_that_appeared_or_cleared() -> None:
    people = People()
    view = changes_view(
        recheck(
            warnings_appeared=["VEHICLE_OWNED"],
            warnings_cleared=["INCOME_ABOVE_STANDARD"],
            warning_changes=[
                report_pb2.WarningChange(
                    code="VEHICLE_OWNED",
                    severity="MEDIUM",
                    id_number=APPLICANT,
                    department="vehicles",
                    change="appeared",
                    message_zh=f"成员 {APPLICANT} 名下有车辆",
                ),
                report_pb2.WarningChange(
                    code="INCOME_ABOVE_STANDARD", severity="HIGH", department="computed", change="cleared"
                ),
                report_pb2.WarningChange(code="X", severity='LOW" onload="x()', change="gone;</style>"),
            ],
        ),
        people,
    )
    assert view is not None
    assert (view.warnings_appeared, view.warnings_cleared) == (("VEHICLE_OWNED",), ("INCOME_ABOVE_STANDARD",))
    vehicle, income, odd = view.warning_rows
    assert (vehicle.code, vehicle.severity, vehicle.severity_code, vehicle.change, vehicle.change_code) == (
        "VEHICLE_OWNED",
        "中",
        "MEDIUM",
        "新出现",
        "appeared",
    )
    assert vehicle.member == f"P({APPLICANT})" and vehicle.message_zh == "成员 533401********0118 名下有车辆"
    assert (income.severity, income.change, income.member) == ("高", "已消除", "全户")  # the household's
    assert [bool(n) for n in people.asked] == [True, False, False]  # a household warning names nobody
    # codes that reach a class attribute keep only CSS-safe characters; unknown ones show as they are
    assert (odd.severity_code, odd.change_code) == ("LOW onloadx", "gone/style")
    assert odd.severity == 'LOW" onload="x()'


def test_the_classification_before_and_after_in_chinese_after_empty_when_unknown() -> None:
    view = changes_view(recheck(classification_before="DIBAO", classification_after="MARGINAL"), People())
    assert view is not None and (view.classification_before, view.classification_after) == (
        "符合低保收入条件",
        "低保边缘家庭",
    )
    view = changes_view(recheck(classification_before="DIBAO"), People())
    assert view is not None and view.classification_after == ""
