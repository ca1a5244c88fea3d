"""Demo users and a few hundred realistic cases, so a newcomer sees a living network.

Deterministic: the same seed gives the same towns, disputes, parties and paths through the
lifecycle; only the dates are anchored to the day the demo is seeded. Every case is made through
the real use cases (open_case, apply_transition), so its audit trail is genuine.
"""

from __future__ import annotations

import random
import struct
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from service.attachments.schemas import AttachmentKind
from service.attachments.service import upload
from service.cases import service as cases
from service.cases.models import Case
from service.cases.schemas import CaseCreate, PartyIn, PriorProceedingsIn, TransitionIn
from service.clock import SHANGHAI
from service.config.numbering import load_numbering
from service.context import AppContext
from service.errors import ServiceError
from service.mediators.models import Mediator, MediatorUnit
from service.numbering import service as numbers
from service.numbering.service import Numbering
from service.sessions.schemas import SessionIn, SessionResult
from service.sessions.service import record_session
from service.users.models import User
from service.users.security import hash_password
from workflows.agreement import LABOUR_TYPES
from workflows.lifecycle import Actor, CaseState, Role
from workflows.mediators import Employment
from workflows.numbering import keeps_case_files
from workflows.org import UnitKind
from workflows.vocab import DisputeType, Flag, PartyRole, PriorAuthority, Source


@dataclass(frozen=True)
class DemoUser:
    username: str
    role: Role
    unit_code: str
    display_name: str


DEMO_USERS = [
    DemoUser("dashi.mediator", Role.mediator, "320583106005", "大市社区调解员 王芳"),
    DemoUser("zhouxiang.mediator", Role.mediator, "320583106009", "周巷社区调解员 陈军"),
    DemoUser("wulian.mediator", Role.mediator, "320583100210", "五联村调解员 李强"),
    DemoUser("zhangpu.coordinator", Role.coordinator, "320583106", "张浦镇矛调中心 周敏"),
    DemoUser("yushan.coordinator", Role.coordinator, "320583100", "玉山镇矛调中心 吴刚"),
    DemoUser("city.coordinator", Role.coordinator, "320583", "市矛调中心 郑丽"),
    DemoUser("zhangpu.police", Role.agency_officer, "PS-320583106", "张浦派出所 民警 孙涛"),
    DemoUser("yushan.police", Role.agency_officer, "PS-320583100", "玉山派出所 民警 钱坤"),
    DemoUser("medical.mediator", Role.mediator, "SC-MEDICAL", "医调委调解员 冯洁"),
    DemoUser("petition.officer", Role.agency_officer, "PETITION-320583", "市信访局 接访员 韩梅"),
    DemoUser("procuratorate.officer", Role.agency_officer, "PROC-320583", "市人民检察院 检察官助理 邓超"),
    DemoUser("court.clerk", Role.court_clerk, "COURT-320583-DESK", "诉讼服务中心 书记员 何静"),
    DemoUser("court.clerk2", Role.court_clerk, "COURT-320583-DESK", "诉讼服务中心 书记员 许诺"),
    DemoUser("auditor", Role.auditor, "320583", "审计员"),
    DemoUser("admin", Role.admin, "320583", "系统管理员"),
    # A second administrator: granting coordinator, auditor or admin rights needs two.
    DemoUser("admin2", Role.admin, "320583", "系统管理员（复核）"),
]

users = User.__table__  # type: ignore[attr-defined]
case_table = Case.__table__  # type: ignore[attr-defined]
mediators = Mediator.__table__  # type: ignore[attr-defined]
mediator_units = MediatorUnit.__table__  # type: ignore[attr-defined]

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英建华建国志强海燕玉兰春梅国庆文斌红梅晓东丽萍"

SUMMARIES: dict[DisputeType, list[str]] = {
    DisputeType.NEIGHBOUR: [
        "楼上卫生间漏水致楼下墙面霉变，双方就维修费用争执",
        "邻居在公共楼道堆放杂物，多次协商未果",
        "相邻房屋排水沟堵塞引发积水纠纷",
    ],
    DisputeType.MARRIAGE_FAMILY: [
        "兄弟姐妹就老人赡养费分担发生争执",
        "离婚后子女探视时间安排纠纷",
        "家庭成员就拆迁安置房分配发生矛盾",
    ],
    DisputeType.HOUSING_HOMESTEAD: [
        "宅基地边界界桩位置争议",
        "房屋翻建遮挡邻居采光",
        "农村房屋买卖后过户纠纷",
    ],
    DisputeType.CONTRACT: [
        "装修合同工期延误，业主要求赔偿",
        "二手车买卖合同履行纠纷",
        "厂房租赁合同提前解除押金争议",
    ],
    DisputeType.DAMAGES: [
        "宠物犬咬伤路人，医药费赔偿纠纷",
        "高空坠物砸坏停放车辆",
        "施工噪音导致养殖鱼塘损失",
    ],
    DisputeType.LABOUR_WAGE_ARREARS: [
        "建筑工地拖欠农民工工资",
        "电子厂拖欠季节工加班费",
        "包工头失联，工人讨薪",
    ],
    DisputeType.LABOUR_OTHER: [
        "工伤认定后赔偿金额争议",
        "解除劳动合同经济补偿金纠纷",
        "未签劳动合同二倍工资争议",
    ],
    DisputeType.MEDICAL: ["术后感染，患者家属要求医院赔偿", "门诊误诊延误治疗纠纷"],
    DisputeType.ROAD_TRAFFIC: ["电动自行车与轿车碰擦，医疗费赔偿", "小区内倒车刮擦行人"],
    DisputeType.PROPERTY_MGMT: ["业主拒交物业费，物业停止服务", "小区地下车库渗水，业主与物业纠纷"],
    DisputeType.CONSUMER: ["预付卡健身房关门退费纠纷", "网购家电质量问题退换争议"],
    DisputeType.LAND_ACQUISITION_DEMOLITION: ["征地补偿款分配纠纷", "拆迁过渡费发放争议"],
    DisputeType.VILLAGE_AFFAIRS: ["村集体分红分配争议", "村民对土地流转收益分配有异议"],
    DisputeType.PRODUCTION_BUSINESS: ["合伙经营饭店散伙财产分割纠纷", "供货商货款结算纠纷"],
}

WEIGHTS: dict[DisputeType, int] = {
    DisputeType.NEIGHBOUR: 30,
    DisputeType.MARRIAGE_FAMILY: 18,
    DisputeType.HOUSING_HOMESTEAD: 10,
    DisputeType.CONTRACT: 8,
    DisputeType.DAMAGES: 8,
    DisputeType.LABOUR_WAGE_ARREARS: 6,
    DisputeType.LABOUR_OTHER: 5,
    DisputeType.MEDICAL: 3,
    DisputeType.ROAD_TRAFFIC: 4,
    DisputeType.PROPERTY_MGMT: 5,
    DisputeType.CONSUMER: 4,
    DisputeType.LAND_ACQUISITION_DEMOLITION: 2,
    DisputeType.VILLAGE_AFFAIRS: 3,
    DisputeType.PRODUCTION_BUSINESS: 3,
}

# Where demo cases end up, roughly like a year of real work: most settle and are performed.
PATHS: list[tuple[list[str], int]] = [
    ([], 8),
    (["accept"], 14),
    (["accept", "suspend"], 3),
    (["accept", "settle"], 12),
    (["accept", "settle", "perform"], 34),
    (["accept", "settle", "request_confirmation"], 4),
    (["accept", "terminate"], 6),
    (["accept", "terminate", "refer_to_court"], 5),
    (["accept", "terminate", "refer_to_court", "claim"], 3),
    (["accept", "escalate"], 5),
    (["accept", "terminate", "close"], 4),
    (["withdraw"], 2),
]


def _name(rng: random.Random) -> str:
    """A surname and a one- or two-character given name (王芳, 陈建国)."""
    start = rng.randrange(len(GIVEN) - 1)
    return rng.choice(SURNAMES) + GIVEN[start : start + rng.choice([1, 2])]


def _phone(rng: random.Random) -> str:
    return (
        rng.choice(["138", "139", "150", "151", "158", "177", "186", "189"]) + f"{rng.randrange(10**8):08d}"
    )


def _id_number(rng: random.Random) -> str:
    birth = datetime(1950, 1, 1) + timedelta(days=rng.randrange(365 * 55))
    return f"320583{birth:%Y%m%d}{rng.randrange(1000):03d}{rng.choice('0123456789X')}"


async def seed_users(engine: AsyncEngine, ctx: AppContext, password: str, now: datetime) -> list[DemoUser]:
    """Create the demo logins (and a mediator per station that demo cases need); skip existing ones."""
    password_hash = await hash_password(password)  # one hash for all: argon2 is slow on purpose
    wanted = list(DEMO_USERS)
    for unit in ctx.org.of_kind(UnitKind.village_station, UnitKind.town_centre, UnitKind.sectoral_committee):
        if unit.code not in {u.unit_code for u in DEMO_USERS}:
            wanted.append(DemoUser(f"m.{unit.code.lower()}", Role.mediator, unit.code, f"{unit.name}调解员"))
    async with engine.begin() as conn:
        existing = set((await conn.execute(sa.select(users.c.username))).scalars())
        rows = [
            {
                "username": u.username,
                "display_name": u.display_name,
                "password_hash": password_hash,
                "role": u.role.value,
                "unit_code": u.unit_code,
                "disabled": False,
                "created_at": now,
            }
            for u in wanted
            if u.username not in existing and u.unit_code in ctx.org
        ]
        if rows:
            await conn.execute(sa.insert(users), rows)
    await seed_mediators(engine, ctx, now)
    return DEMO_USERS


async def seed_mediators(engine: AsyncEngine, ctx: AppContext, now: datetime, seed: int = 2026) -> int:
    """The demo roster: every demo mediator's sign-in is a mediator on its unit's roster, and each
    village station and town centre also has a part-time mediator without a sign-in (as most
    stations do). Skipped when the roster has anyone on it; returns how many were added."""
    rng = random.Random(seed)
    async with engine.begin() as conn:
        if (await conn.execute(sa.select(sa.func.count()).select_from(mediators))).scalar_one():
            return 0
        signed_in = (
            await conn.execute(
                sa.select(users.c.id, users.c.display_name, users.c.unit_code).where(
                    users.c.role == Role.mediator.value
                )
            )
        ).all()
        people: list[tuple[dict[str, object], str]] = []
        for user in signed_in:
            unit = ctx.org.find(user.unit_code)
            if unit is None:
                continue
            # "五联村调解员 李强" names its person; the generated station logins get a name here.
            name = user.display_name.split()[-1] if " " in user.display_name else _name(rng)
            specialties = [DisputeType(unit.sector)] if unit.sector else rng.sample(sorted(SUMMARIES), 2)
            people.append(
                (_mediator(name, Employment.full_time, specialties, now, user_id=user.id), unit.code)
            )
        for unit in ctx.org.of_kind(UnitKind.village_station, UnitKind.town_centre):
            people.append(
                (
                    _mediator(_name(rng), Employment.part_time, rng.sample(sorted(SUMMARIES), 1), now),
                    unit.code,
                )
            )
        for row, unit_code in people:
            mediator_id = (
                await conn.execute(sa.insert(mediators).values(row).returning(mediators.c.id))
            ).scalar_one()
            await conn.execute(sa.insert(mediator_units).values(mediator_id=mediator_id, unit_code=unit_code))
    return len(people)


def _mediator(
    name: str,
    employment: Employment,
    specialties: list[DisputeType],
    now: datetime,
    user_id: int | None = None,
) -> dict[str, object]:
    return {
        "name": name,
        "user_id": user_id,
        "employment": employment.value,
        "specialties": [s.value for s in specialties],
        "languages": ["普通话", "昆山话"],
        "qualifications": "",
        "grade": "",
        "active": True,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }


def _actor_at(unit_code: str, user_ids: dict[str, int]) -> Actor:
    """The station's demo login where it has one (signed in: accepting a case makes them its lead
    mediator, so their phone page lists their cases), else a mediator without a login."""
    explicit = next((u for u in DEMO_USERS if u.unit_code == unit_code and u.role == Role.mediator), None)
    if explicit is not None:
        return Actor(explicit.username, Role.mediator, unit_code, user_id=user_ids.get(explicit.username))
    return Actor(f"m.{unit_code.lower()}", Role.mediator, unit_code)


async def seed_cases(
    engine: AsyncEngine, ctx: AppContext, count: int, now: datetime, seed: int = 2026
) -> int:
    """Open ``count`` cases and walk each along a plausible path; returns how many were made."""
    async with engine.connect() as conn:
        if (await conn.execute(sa.select(sa.func.count()).select_from(case_table))).scalar_one():
            return 0
    async with engine.connect() as conn:
        users = User.__table__  # type: ignore[attr-defined]
        user_ids = {
            name: id_ for id_, name in (await conn.execute(sa.select(users.c.id, users.c.username))).all()
        }
    numbering = Numbering(load_numbering(ctx.settings.config_dir / "numbering.yaml", ctx.org), ctx.org)
    rng = random.Random(seed)
    locations = [u for u in ctx.org.of_kind(UnitKind.village_station)]
    locations.sort(key=lambda u: u.code)
    # The stations with a demo login get a larger share, so each login has open cases of its own.
    signed_in = {u.unit_code for u in DEMO_USERS if u.role == Role.mediator}
    locations += [u for u in locations if u.code in signed_in] * 4
    types = list(WEIGHTS)
    made = 0
    for _ in range(count):
        location = rng.choice(locations)
        dispute_type = rng.choices(types, weights=[WEIGHTS[t] for t in types])[0]
        path = rng.choices([p for p, _ in PATHS], weights=[w for _, w in PATHS])[0]
        # Finished cases spread over the past year; open ones are recent, so their legal clocks
        # are still running when the demo starts (a few are overdue, as in real life).
        max_age = 330 if path and path[-1] in FINISHING_STEPS else (4 if not path else 35)
        opened_at = now - timedelta(days=rng.randrange(1, max_age), minutes=rng.randrange(600))
        body = _case_body(rng, dispute_type, location.code)
        registrar = _actor_at(location.code, user_ids)
        case, _ = await cases.open_case(engine, ctx, body, registrar, now=opened_at)
        made += 1
        await _walk(engine, ctx, case.id, path, opened_at, rng, now, user_ids, numbering)
    return made


def _case_body(rng: random.Random, dispute_type: DisputeType, location_code: str) -> CaseCreate:
    small = dispute_type in {DisputeType.NEIGHBOUR, DisputeType.MARRIAGE_FAMILY}
    amount = Decimal(
        rng.choice([500, 1200, 3000, 8000, 15000, 30000] if small else [5000, 20000, 60000, 150000])
    )
    people = (
        rng.choice([2, 2, 2, 3, 4])
        if dispute_type != DisputeType.LABOUR_WAGE_ARREARS
        else rng.choice([3, 8, 15])
    )
    flags: list[Flag] = []
    roll = rng.random()
    if roll < 0.03:
        flags.append(Flag.criminal_risk)
    elif roll < 0.06:
        flags.append(Flag.cross_area)
    parties = [
        PartyIn(name=_name(rng), role=PartyRole.applicant, id_number=_id_number(rng), phone=_phone(rng)),
        PartyIn(name=_name(rng), role=PartyRole.respondent, phone=_phone(rng)),
    ]
    return CaseCreate(
        dispute_type=dispute_type,
        summary=rng.choice(SUMMARIES[dispute_type]),
        location_code=location_code,
        amount_yuan=amount,
        people_involved=people,
        flags=flags,
        source=rng.choice([Source.application, Source.application, Source.self_initiated, Source.police]),
        parties=parties,
        prior_proceedings=PriorProceedingsIn(authority=PriorAuthority.none),
    )


FINISHING_STEPS = {"perform", "close", "withdraw"}


async def _walk(
    engine: AsyncEngine,
    ctx: AppContext,
    case_id: int,
    path: list[str],
    at: datetime,
    rng: random.Random,
    now: datetime,
    user_ids: dict[str, int],
    numbering: Numbering,
) -> None:
    case: cases.CasePublic | cases.SentCase
    case = first = await cases.get_case(engine, ctx, case_id, Actor("system", Role.system, "320583"))
    assert isinstance(first, cases.CasePublic)  # the system sees every case whole
    if first.state == CaseState.registered:
        # Manual triage: the town hub dispatches to the station of the location first.
        hub = ctx.org.get(case.unit_code)
        target = first.location_code if first.location_code != hub.code else None
        if target is None:
            return
        named = next((u for u in DEMO_USERS if u.unit_code == hub.code and u.role == Role.coordinator), None)
        coordinator = Actor(named.username if named else f"m.{hub.code.lower()}", Role.coordinator, hub.code)
        at = min(at + timedelta(hours=rng.randrange(2, 30)), now - timedelta(minutes=30))
        case = await _fire(engine, ctx, case_id, coordinator, at, "dispatch", target_unit=target)
    for step in path:
        at = min(at + timedelta(hours=rng.randrange(4, 24 * 6)), now - timedelta(minutes=len(path)))
        worker = _actor_at(case.unit_code, user_ids)
        clerk = Actor("court.clerk", Role.court_clerk, "COURT-320583-DESK")
        if step == "accept":
            # Both parties agreed to mediation (人民调解法 art. 17), in person on the day it was accepted.
            day = at.astimezone(SHANGHAI).date().isoformat()
            agreed = [{"party_id": p.id, "manner": "in_person", "on": day} for p in first.parties]
            case = await _fire(engine, ctx, case_id, worker, at, "accept", consents=agreed)
        elif step == "suspend":
            case = await _fire(engine, ctx, case_id, worker, at, "suspend", reason="等待伤情鉴定结果")
        elif step == "settle":
            terms = f"被申请人于十五日内一次性支付申请人人民币 {rng.choice([800, 2000, 5000, 12000])} 元，双方再无其他争议。"
            # Labour agreements are always written, signed and sealed (劳动争议调解仲裁法 art. 14).
            labour = case.dispute_type in LABOUR_TYPES
            written = labour or rng.random() < 0.8
            agreement: dict[str, object] = {"form": "written" if written else "oral", "terms": terms}
            if written:
                agreement |= {
                    "facts": first.summary,
                    "performance_manner": "一次性转账",
                    "performance_deadline": (at + timedelta(days=15)).date().isoformat(),
                    "signed_by_parties": True,
                    "signed_by_mediator": True,
                    "sealed": True,
                }
            await _session(
                engine, ctx, case_id, worker, at - timedelta(hours=2), [p.id for p in first.parties]
            )
            case = await _fire(engine, ctx, case_id, worker, at, "settle", agreement=agreement)
            if written:
                await _signed_scan(engine, ctx, case_id, worker, at)
        elif step == "perform":
            case = await _fire(
                engine, ctx, case_id, worker, at, "record_performance", performance="performed"
            )
        elif step == "request_confirmation":
            case = await _fire(
                engine,
                ctx,
                case_id,
                worker,
                at,
                "request_confirmation",
                applicants=[{"party": p.name} for p in first.parties],
                applied_on=at.astimezone(SHANGHAI).date().isoformat(),
                materials=["人民调解协议书", "当事人身份证明"],
            )
        elif step == "terminate":
            reason = rng.choice(["gap_too_wide", "party_refused", "party_unreachable"])
            case = await _fire(engine, ctx, case_id, worker, at, "terminate", termination_reason=reason)
        elif step == "refer_to_court":
            case = await _fire(
                engine, ctx, case_id, worker, at, "refer_to_court", reason="调解不成，当事人同意诉前移送法院"
            )
        elif step == "claim":
            case = await _fire(engine, ctx, case_id, clerk, at, "claim")
        elif step == "escalate":
            case = await _fire(
                engine, ctx, case_id, worker, at, "escalate", reason="涉及多方主体，需上级中心协调"
            )
        elif step == "close":
            case = await _fire(
                engine, ctx, case_id, worker, at, "close", outcome="other_route", reason="引导申请劳动仲裁"
            )
        elif step == "withdraw":
            case = await _fire(engine, ctx, case_id, worker, at, "withdraw", reason="申请人撤回调解申请")
    if case.state == CaseState.closed and keeps_case_files(ctx.org, case.unit_code):
        # The station files the closed case (卷宗) the day after.
        await numbers.give_file_number(
            engine,
            ctx,
            numbering,
            case_id,
            _actor_at(case.unit_code, user_ids),
            now=at + timedelta(days=1),
        )


async def _session(
    engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor, at: datetime, party_ids: list[int]
) -> None:
    """The session at which the parties agreed (调解记录), with every party there."""
    body = SessionIn(
        started_at=at,
        ended_at=at + timedelta(hours=1),
        place="调解室",
        party_ids=party_ids,
        result=SessionResult.agreement,
        proposal="双方协商一致，按协议履行。",
    )
    await record_session(engine, ctx, case_id, body, actor, now=at + timedelta(hours=1))


def _scan_png() -> bytes:
    """A 1×1 grey PNG standing in for the photo of a signed agreement."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00\x80"))
        + chunk(b"IEND", b"")
    )


async def _signed_scan(
    engine: AsyncEngine, ctx: AppContext, case_id: int, actor: Actor, at: datetime
) -> None:
    await upload(
        engine,
        ctx,
        case_id,
        actor,
        kind=AttachmentKind.signed_agreement,
        note="双方签字的调解协议书",
        filename="调解协议书.png",
        data=_scan_png(),
        now=at,
    )


async def _fire(
    engine: AsyncEngine,
    ctx: AppContext,
    case_id: int,
    actor: Actor,
    at: datetime,
    trigger: str,
    **fields: object,
) -> cases.CasePublic | cases.SentCase:
    body = TransitionIn.model_validate({"trigger": trigger, **fields})
    try:
        return await cases.apply_transition(engine, ctx, case_id, body, actor, now=at)
    except ServiceError:
        # A path that does not fit where triage sent the case simply stops there.
        return await cases.get_case(engine, ctx, case_id, Actor("system", Role.system, "320583"))
