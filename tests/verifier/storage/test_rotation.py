"""``hedui keys rotate-data-key`` (issue 17): new data keys for new writes, every key re-wrapped under the current
master key, and no downtime: a running service reads on, and after the old master key is deleted every report
still reads."""

from __future__ import annotations

from pathlib import Path

import pytest
from audit_tamper import configured, sandbox, verify
from harness import sandbox_service
from sqlalchemy import text

from verifier.service import HeduiService
from verifier.storage.sealing import FileKeyProvider, rotate_data_keys

pytestmark = pytest.mark.integration


async def test_after_a_rotation_every_report_still_reads(db_url: str, tmp_path: Path) -> None:
    master_keys = tmp_path / "master-keys"
    log = configured(db_url, tmp_path, extra=f'key_dir = "{master_keys}"\n')
    async with sandbox_service(log.settings, sandbox()) as (service, request, authorization):
        first = await service.verifications.create(request, [authorization])
        await service.verifications.wait_for_report(first.name, 60.0)
        before = await service.reports.get(f"{first.name}/reports/1")
        old_master = (master_keys / "current").read_text().strip()
        # The command, as another process would run it while this service runs: a new master key, then the rotation.
        async with HeduiService.administering(log.settings) as admin:
            assert admin.sealer is not None
            provider = admin.sealer.provider
            assert isinstance(provider, FileKeyProvider)
            new_master = provider.new_master_key()
            done = await rotate_data_keys(admin.db.write, admin.sealer, admin.audit, operator="test", client="cli")
        assert done.kek_id == new_master != old_master and len(done.new_keys) == 2 and len(done.rewrapped) >= 5
        # The running service reads on, and writes on (under the keys it holds).
        assert await service.reports.get(f"{first.name}/reports/1") == before
        second = await service.verifications.create(request, [authorization])
        await service.verifications.wait_for_report(second.name, 60.0)
    (master_keys / f"{old_master}.key").unlink()  # the old master key destroyed, as the guide says
    async with sandbox_service(log.settings, sandbox()) as (service, request, authorization):
        assert await service.reports.get(f"{first.name}/reports/1") == before
        assert (await service.reports.get(f"{second.name}/reports/1"))["version"] == 1
        third = await service.verifications.create(request, [authorization])
        await service.verifications.wait_for_report(third.name, 60.0)
        assert service.sealer is not None
        async with service.db.sessions() as session:
            body = (
                await session.execute(
                    text("SELECT body_json FROM reports WHERE verification_id = :v"),
                    {"v": third.name.removeprefix("verifications/")},
                )
            ).scalar_one()
            kinds = (await session.execute(text("SELECT kind FROM audit_entries"))).scalars().all()
        assert service.sealer.key_of(body) in done.new_keys  # new writes use the new generation
        assert kinds.count("DATA_KEYS_ROTATED") == 1
    code, out = await verify(log)
    assert code == 0 and "audit log intact" in out, out
