"""The verification pipeline, one stage per module, in the order the data flows:
plan (who is asked what) → send → tickets → answers → store → publish; signals wake watchers;
run conducts the stages for each verification."""

from verifier.pipeline.plan import Job, Plan
from verifier.pipeline.run import Pipeline
from verifier.pipeline.signals import VerificationSignals

__all__ = ["Job", "Pipeline", "Plan", "VerificationSignals"]
