"""Why a household is INCONCLUSIVE (policy.md "Indicative classification", step 1): codes with their wording.

A value type of its own (no rule reads it), so that the figures can carry the reasons and the
renderers word them, in Chinese and in English, from the code alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final, NamedTuple

__all__ = ["INCONCLUSIVE_WORDING", "InconclusiveCause", "ReasonWording"]


class InconclusiveCause(StrEnum):
    """Why a household is INCONCLUSIVE (policy.md "Indicative classification", step 1): the codes reports carry."""

    REQUIRED_SOURCE_INCOMPLETE = "REQUIRED_SOURCE_INCOMPLETE"
    NO_MEMBER_COUNTED = "NO_MEMBER_COUNTED"


class ReasonWording(NamedTuple):
    """A reason's sentence in Chinese and in English."""

    zh: str
    en: str


INCONCLUSIVE_WORDING: Final[Mapping[InconclusiveCause, ReasonWording]] = {
    InconclusiveCause.REQUIRED_SOURCE_INCOMPLETE: ReasonWording(
        "必需的核对部门未反馈、无法查询或因缺少有效授权未查询，数据不完整，不作收入判断。",
        "A department the policy requires did not answer, could not be queried, or was not queried for some member"
        " for lack of a valid authorization: the data is incomplete.",
    ),
    InconclusiveCause.NO_MEMBER_COUNTED: ReasonWording(
        "申报的家庭成员均已死亡或正在服刑，计入家庭人口为 0，无法计算人均收入，不作收入判断。",
        "No declared member is counted (every member is deceased or in custody): the household size is 0 and no"
        " per-capita income can be computed.",
    ),
}
