"""``[tls]``: the gRPC server's certificate and the CA of its clients' certificates (issue 13, docs/access.md).

Three ways to run, and only these:

- all three files given (``certificate_file``, ``key_file``, ``client_ca_file``): mutual TLS on ``listen``;
- none given: the development CA — ``hedui serve`` creates a CA, a server certificate and an admin client
  certificate under the data directory (``tls/`` beside the database and the keys) and listens on loopback only;
- ``plaintext = true``: no TLS at all, on loopback only, every caller taken for the development client.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from pydantic import BaseModel, ConfigDict, model_validator

__all__ = ["DEVELOPMENT_ORGANISATION", "TlsSettings", "TlsTable"]

# The organisation of the development client (the spec's example county's civil-affairs bureau).
DEVELOPMENT_ORGANISATION: Final = "533401-civil-affairs"


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """How the server is reached: the three files of mutual TLS, else the development CA's directory."""

    certificate_file: Path | None = None
    key_file: Path | None = None
    client_ca_file: Path | None = None
    plaintext: bool = False
    development_dir: Path = Path(".hedui/tls")
    development_organisation: str = DEVELOPMENT_ORGANISATION

    @property
    def configured(self) -> bool:
        """Whether the operator gave the server's certificate, key and client CA."""
        return self.certificate_file is not None


class TlsTable(BaseModel):
    """``[tls]`` in hedui.toml; each key optional (see the module docstring for the three ways)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    certificate_file: str | None = None
    key_file: str | None = None
    client_ca_file: str | None = None
    plaintext: bool = False
    development_organisation: str = DEVELOPMENT_ORGANISATION

    @model_validator(mode="after")
    def _whole(self) -> TlsTable:
        """The three files together or none; plaintext without them."""
        given = [self.certificate_file, self.key_file, self.client_ca_file]
        if any(given) and not all(given):
            raise ValueError("certificate_file, key_file and client_ca_file go together (give all three or none)")
        if self.plaintext and any(given):
            raise ValueError("plaintext = true with certificate files: choose one")
        return self

    def settings(self, base: Path) -> TlsSettings:
        """The table as the server reads it, the development CA under ``base``."""
        return TlsSettings(
            certificate_file=Path(self.certificate_file) if self.certificate_file else None,
            key_file=Path(self.key_file) if self.key_file else None,
            client_ca_file=Path(self.client_ca_file) if self.client_ca_file else None,
            plaintext=self.plaintext,
            development_dir=base / "tls",
            development_organisation=self.development_organisation,
        )
