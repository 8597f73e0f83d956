"""What a client certificate must be beyond the TLS handshake (issue 13, review S5): an end entity for clientAuth
issued directly by the client CA; and a flood of fresh keys costs the audit log a bounded number of entries."""

from __future__ import annotations

import datetime as dt

from cryptography.x509.oid import ExtendedKeyUsageOID
from made_certificates import issued

from connectors.tls import certificate_authority, issue_certificate, load_certificates
from verifier.access._certificates import client_certificate_problem, validity_problem

CA = certificate_authority("the client CA")


def problem(pem: bytes) -> str | None:
    """What makes ``pem`` no client's of CA."""
    return client_certificate_problem(load_certificates(pem)[0], load_certificates(CA[0]))


def test_only_an_end_entity_for_client_auth_issued_by_the_client_ca_directly_is_a_client() -> None:
    assert problem(issue_certificate(*CA, "case-system")[0]) is None
    assert problem(CA[0]) == "is a CA certificate (CA:TRUE), not a client's"
    minting = issued(CA, ca=True, usages=[ExtendedKeyUsageOID.CLIENT_AUTH])
    assert problem(minting[0]) == "is a CA certificate (CA:TRUE), not a client's"
    assert problem(issued(minting, usages=[ExtendedKeyUsageOID.CLIENT_AUTH])[0]) == (
        "was not issued directly by the client CA"
    )
    assert problem(issued(CA, usages=[ExtendedKeyUsageOID.SERVER_AUTH])[0]) == (
        "is not for client authentication (its extended key usage lacks clientAuth)"
    )
    assert problem(issued(CA)[0]) == "has no extended key usage clientAuth"
    other_ca = certificate_authority("another CA")
    assert problem(issue_certificate(*other_ca, "x")[0]) == "was not issued directly by the client CA"


def test_expired_and_not_yet_valid_certificates_are_named() -> None:
    now = dt.datetime.now(dt.UTC)  # at the test, not at collection: a worker may run it minutes after the import
    expired = load_certificates(issued(CA, usages=[ExtendedKeyUsageOID.CLIENT_AUTH], days=(-30, -1))[0])[0]
    early = load_certificates(issued(CA, usages=[ExtendedKeyUsageOID.CLIENT_AUTH], days=(2, 30))[0])[0]
    assert (validity_problem(expired, now) or "").startswith("expired on ")
    assert (validity_problem(early, now) or "").startswith("is not valid before ")
    assert validity_problem(load_certificates(issue_certificate(*CA, "ok")[0])[0], now) is None
