"""``[witness_policy]``: the network witnesses the log hands its heads to, and how many must cosign (issue 12).

```toml
[witness_policy]
quorum = 1                      # heads cosigned by fewer are not served as the latest head
timeout_seconds = 5             # one request to a witness
lag_bound_seconds = 300         # readiness fails once no head was cosigned as required for this long

[[witness_policy.witnesses]]
name = "witness-a"
url = "http://witness-a.example:7380"
vkey = "witness-a.example/w1+1234abcd+BA…"   # `hedui witness keygen` prints it (signature type 0x04)
```
"""

from __future__ import annotations

import math
from typing import Annotated, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, model_validator
from pydantic_core import PydanticCustomError

from audit.cosignature import CosignatureError, CosignatureVerifier
from audit.witnessing import WitnessPolicy, WitnessSpec

__all__ = ["WitnessPolicyTable", "WitnessTable"]


def _url(value: str) -> str:
    """An http or https URL with a host."""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise PydanticCustomError("witness_url", "must be an http:// or https:// URL with a host")
    return value


def _vkey(value: str) -> str:
    """A cosigner verifier key of signature type 0x04."""
    try:
        CosignatureVerifier.from_vkey(value)
    except CosignatureError as exc:
        raise PydanticCustomError("witness_vkey", "{why}", {"why": str(exc)}) from None
    return value


def _seconds(value: float) -> float:
    """Finite and positive."""
    if not math.isfinite(value) or value <= 0:
        raise PydanticCustomError("positive", "must be a positive number of seconds")
    return value


class WitnessTable(BaseModel):
    """One ``[[witness_policy.witnesses]]`` entry."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    name: str
    url: Annotated[str, AfterValidator(_url)]
    vkey: Annotated[str, AfterValidator(_vkey)]


class WitnessPolicyTable(BaseModel):
    """``[witness_policy]`` in hedui.toml; without it the log has no network witnesses and needs none."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    witnesses: list[WitnessTable] = []
    quorum: int = 0
    timeout_seconds: Annotated[float, AfterValidator(_seconds)] = 5.0
    lag_bound_seconds: Annotated[float, AfterValidator(_seconds)] = 300.0

    @model_validator(mode="after")
    def _reachable(self) -> Self:
        """A quorum between 0 and the number of witnesses; distinct names."""
        if not 0 <= self.quorum <= len(self.witnesses):
            raise PydanticCustomError("quorum", "quorum must be between 0 and the number of witnesses")
        if len({w.name for w in self.witnesses}) != len(self.witnesses):
            raise PydanticCustomError("witness_names", "two witnesses share a name")
        # tlog-cosignature's signed message does not name the cosigner: one key under two names would let one
        # witness (or anyone relabelling its line) count twice toward the quorum.
        seen: dict[bytes, str] = {}
        for witness in self.witnesses:
            verifier = CosignatureVerifier.from_vkey(witness.vkey)
            if verifier.public_key in seen:
                raise PydanticCustomError(
                    "witness_keys",
                    "witnesses {a} and {b} share one public key ({key}): each witness needs its own key",
                    {"a": seen[verifier.public_key], "b": witness.name, "key": verifier.vkey.split("+", 2)[2]},
                )
            seen[verifier.public_key] = witness.name
        return self

    def policy(self) -> WitnessPolicy:
        """The frozen policy the log follows."""
        return WitnessPolicy(
            tuple(WitnessSpec(w.name, w.url, CosignatureVerifier.from_vkey(w.vkey)) for w in self.witnesses),
            self.quorum,
            self.timeout_seconds,
            self.lag_bound_seconds,
        )
