"""A case's files are in the database, so the backup procedure (scripts/backup.sh, restore.sh)
carries them: uploaded, dumped, restored into a fresh database, and read back byte for byte, with
the upload's event still in an intact audit chain."""

from __future__ import annotations

import hashlib
from pathlib import Path

import httpx
import pytest

from service.demo import seed_users
from service.main import create_app
from tests.api.test_attachments import jpeg_bytes, pdf_bytes
from tests.builders import case_body
from tests.conftest import FIXED_NOW, TEST_PASSWORD, _create_pg_database, _drop_pg_database
from tests.service.test_backup_restore import JIEFEN, ROOT, cli, is_complete, libpq_url, settings_for

pytestmark = pytest.mark.postgres


async def _signed_in(client: httpx.AsyncClient) -> dict[str, str]:
    token = await client.post(
        "/api/v1/auth/token", data={"username": "dashi.mediator", "password": TEST_PASSWORD}
    )
    return {"Authorization": f"Bearer {token.json()['access_token']}"}


async def test_backup_and_restore_keep_a_case_files_bytes_hash_and_event(tmp_path: Path) -> None:
    scan = pdf_bytes(bytes(range(256)) * 3000)  # 768 KB: more than one download slice
    photo = jpeg_bytes()
    created = await _create_pg_database()
    assert created is not None
    source_name, source_url = created
    target_name: str | None = None
    try:
        app = create_app(settings_for(source_url))
        async with app.router.lifespan_context(app):
            await seed_users(app.state.engine, app.state.context, TEST_PASSWORD, FIXED_NOW)
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://t"
            ) as client:
                mediator = await _signed_in(client)
                case = (await client.post("/api/v1/cases", json=case_body(), headers=mediator)).json()
                for name, data, kind in (
                    ("协议书.pdf", scan, "signed_agreement"),
                    ("身份证.jpg", photo, "party_id"),
                ):
                    response = await client.post(
                        f"/api/v1/cases/{case['id']}/attachments",
                        files={"file": (name, data, "application/octet-stream")},
                        data={"kind": kind},
                        headers=mediator,
                    )
                    assert response.status_code == 201, response.text
                before = (
                    await client.get(f"/api/v1/cases/{case['id']}/attachments", headers=mediator)
                ).json()

        dump = tmp_path / "jiefen.dump"
        backup = cli(str(ROOT / "scripts" / "backup.sh"), libpq_url(source_name), str(dump), url=source_url)
        assert backup.returncode == 0, backup.stderr
        assert is_complete(dump)
        created = await _create_pg_database()
        assert created is not None
        target_name, target_url = created
        restore = cli(str(ROOT / "scripts" / "restore.sh"), str(dump), target_url, url=target_url)
        assert restore.returncode == 0, restore.stderr
        verify = cli(JIEFEN, "audit", "verify", url=target_url)

        restored = create_app(settings_for(target_url), migrate_on_start=False)
        async with restored.router.lifespan_context(restored):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=restored), base_url="http://t"
            ) as client:
                mediator = await _signed_in(client)
                after = (await client.get(f"/api/v1/cases/{case['id']}/attachments", headers=mediator)).json()
                contents = [(await client.get(a["content_url"], headers=mediator)).content for a in after]
                events = (await client.get(f"/api/v1/cases/{case['id']}/events", headers=mediator)).json()
    finally:
        await _drop_pg_database(source_name)
        if target_name:
            await _drop_pg_database(target_name)

    assert verify.returncode == 0, verify.stderr
    assert verify.stdout.startswith("intact:")
    assert after == before
    assert contents == [scan, photo]
    assert [hashlib.sha256(c).hexdigest() for c in contents] == [a["sha256"] for a in after]
    assert [e["payload"]["sha256"] for e in events if e["kind"] == "attachment"] == [
        a["sha256"] for a in after
    ]
