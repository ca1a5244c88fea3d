"""Parties' personal data at rest: sealing what is still in clear, and checking the data key at start-up."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from service.cases.models import Party
from service.personal.crypto import PERSONAL_FIELDS, PREFIX, DataCipher
from service.personal.sealing import seal, unseal

party = Party.__table__  # type: ignore[attr-defined]


async def reseal_all(engine: AsyncEngine, cipher: DataCipher, *, only_plaintext: bool) -> int:
    """Encrypt rows still in clear (start-up) or re-encrypt everything under the current key (rotation)."""
    changed = 0
    last_id = 0
    while True:
        async with engine.begin() as conn:
            query = sa.select(party.c.id, *[party.c[f] for f in PERSONAL_FIELDS]).where(party.c.id > last_id)
            if only_plaintext:
                query = query.where(
                    sa.or_(
                        *[
                            sa.and_(
                                party.c[f].is_not(None), party.c[f] != "", party.c[f].not_like(f"{PREFIX}:%")
                            )
                            for f in PERSONAL_FIELDS
                        ]
                    )
                )
            rows = (await conn.execute(query.order_by(party.c.id).limit(500))).all()
            for row in rows:
                plain = unseal(dict(row._mapping), cipher)
                plain.pop("id")
                await conn.execute(sa.update(party).where(party.c.id == row.id).values(**seal(plain, cipher)))
                changed += 1
        if len(rows) < 500:
            return changed
        last_id = rows[-1].id


async def check_key(engine: AsyncEngine, cipher: DataCipher) -> None:
    """Raise DataKeyError, naming the field and key, when the key ring cannot open the personal
    data already stored: the newest and the oldest sealed party are tried (during a rotation they
    are under different keys). A wrong JIEFEN_DATA_KEY is refused here, before the service starts,
    rather than showing as a failed read of every case with parties. Like the start-up's search
    for parties still in clear, the oldest-first probe walks past parties without sealed fields
    (anonymised ones)."""
    sealed = sa.or_(*[party.c[f].like(f"{PREFIX}:%") for f in PERSONAL_FIELDS])
    columns = [party.c[f] for f in PERSONAL_FIELDS]
    async with engine.connect() as conn:
        if not await conn.run_sync(lambda sync: sa.inspect(sync).has_table(party.name)):
            return  # a new database: nothing sealed yet
        rows = [
            (await conn.execute(sa.select(*columns).where(sealed).order_by(order).limit(1))).first()
            for order in (party.c.id.desc(), party.c.id.asc())
        ]
    for row in rows:
        if row is not None:
            unseal(dict(row._mapping), cipher)
