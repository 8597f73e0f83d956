"""Retention (issue 17): department answers crypto-shredded by destroying their month's data key; the reports still
read, ``hedui audit verify`` still passes (an expired answer is neither checked nor a failure), each destruction an
audit entry."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from audit_tamper import configured, hedui, sandbox, verify
from harness import sandbox_service
from sqlalchemy import text

from verifier.errors import Reason
from verifier.storage import verifications
from verifier.storage.sealing import CellExpired, month_of, run_retention

pytestmark = pytest.mark.integration


async def test_expired_answers_are_gone_and_reports_and_the_log_stay(db_url: str, tmp_path: Path) -> None:
    log = configured(db_url, tmp_path, extra=f'key_dir = "{tmp_path / "master-keys"}"\n')
    async with sandbox_service(log.settings, sandbox()) as (service, request, authorization):
        created = await service.verifications.create(request, [authorization])
        await service.verifications.wait_for_report(created.name, 60.0)
        report = await service.reports.get(f"{created.name}/reports/1")
        vid = created.name.removeprefix("verifications/")
        assert service.sealer is not None
        now = dt.datetime.now(dt.UTC)
        # Nothing is due yet; 13 months on, this month's answers key is past its 12 months (next month's is not).
        assert await run_retention(service.db.write, service.sealer, service.audit, 12, operator="t", client="t") == []
        later = now + dt.timedelta(days=31 * 13)
        destroyed = await run_retention(
            service.db.write, service.sealer, service.audit, 12, operator="t", client="t", at=later
        )
        assert [(k.purpose, k.period) for k in destroyed] == [("answers", month_of(now))]
        # The answers are gone: read back, each says so.
        async with service.db.sessions() as session:
            with pytest.raises(CellExpired) as expired:
                await verifications.results(session, vid)
            wrapped = await session.execute(text("SELECT wrapped FROM data_keys WHERE id = :k"), {"k": destroyed[0].id})
            kinds = (await session.execute(text("SELECT kind FROM audit_entries"))).scalars().all()
        assert expired.value.reason is Reason.ANSWER_EXPIRED and wrapped.scalar_one() is None
        assert kinds.count("DATA_KEY_DESTROYED") == 1
        # The report, sealed under a rows key, still reads.
        assert await service.reports.get(f"{created.name}/reports/1") == report
    code, out = await verify(log)
    assert code == 0 and "audit log intact" in out, out
    code, out = await hedui("retention", "run", "--config", str(log.config))
    assert code == 0 and "nothing destroyed" in out, out
