"""How long each stage of a verification takes in this process (``hedui_verification_stage_seconds{stage}``).

The pipeline marks where a stage began (``time.perf_counter()``) and calls :func:`observe_stage` where it ends;
the department calls themselves are ``hedui_department_call_seconds`` (connectors/metrics.py). A stage costs two
clock reads and one observation.
"""

from __future__ import annotations

import time
from typing import Final

from prometheus_client import Histogram

__all__ = ["STAGES", "observe_stage"]

# record: the transaction that records a verification's plan (its queries, steps and audit entries);
# store: storing a batch of department outcomes; publish: assessing and storing one report version.
STAGES: Final = ("record", "store", "publish")
_SECONDS = Histogram(
    "hedui_verification_stage_seconds",
    "Time one stage of a verification took in this process: record (the plan's transaction), store (a batch of "
    "department outcomes), publish (assess and store one report version)",
    ["stage"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)


def observe_stage(stage: str, began: float) -> None:
    """A stage that began at ``began`` (``time.perf_counter()``) has ended now."""
    _CHILDREN[stage].observe(time.perf_counter() - began)


_CHILDREN: Final = {stage: _SECONDS.labels(stage) for stage in STAGES}  # every stage's series exists from the start
