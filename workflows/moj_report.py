"""The Ministry of Justice people's mediation report (人民调解工作统计报表): every cell defined once.

Each row is a rule over the case *history* — the events a case went through — evaluated for a
window of time (the month, or the year to date), so a figure describes what happened in that
window and never changes when later events arrive: a success in March stays a success in March
whatever the parties do in April. The SQL that gathers the events lives in ``service.moj``; the
rules here are pure and also list the cases behind every cell (the drill-down), so a figure and
its case list cannot disagree.

A row says which events count (``triggers``), in which channel (the section: people's mediation,
administrative, court-connected), where (the unit the case was at when the event happened) and
for which cases (dispute type, source). Per case only its *first* such event in the window
counts, so the organisation-type, type and source breakdowns each add up to their total.

Rows that are not events of a case (committees and mediators: a stock as at the report; the
screening register and major-dispute reports, once they exist) name a ``source`` that
``service.moj`` gathers; adding such a row is one entry in ``ROWS`` (and, for a new kind of fact,
one gatherer in ``service.moj.queries.GATHERERS``). See docs/moj_report.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from workflows.lifecycle import Outcome, Performance, Trigger
from workflows.org import ORG_TYPE_LABELS, Channel, OrgTree, OrgType
from workflows.screening import MajorRisk
from workflows.vocab import DISPUTE_TYPE_LABELS, SOURCE_LABELS, DisputeType, Source


class Column(StrEnum):
    month = "month"  # 本月
    ytd = "ytd"  # 本年累计: 1 January of the month's year to the end of the month


COLUMN_LABELS: dict[Column, tuple[str, str]] = {
    Column.month: ("本月", "This month"),
    Column.ytd: ("本年累计", "Year to date"),
}


class Section(StrEnum):
    people = "people"  # 人民调解: the main report
    administrative = "administrative"  # 行政调解 (派出所, 人社局 …), reported apart
    judicial = "judicial"  # 诉调对接 at the court, reported apart
    organisation = "organisation"  # 组织队伍: committees and mediators


SECTION_LABELS: dict[Section, tuple[str, str]] = {
    Section.people: ("人民调解", "People's mediation"),
    Section.administrative: ("行政调解(另行统计)", "Administrative mediation (reported apart)"),
    Section.judicial: ("诉调对接(另行统计)", "Court-connected mediation (reported apart)"),
    Section.organisation: ("组织队伍", "Committees and mediators"),
}

# The channel whose units' events a section counts (the organisation section counts no events).
SECTION_CHANNEL: dict[Section, Channel] = {
    Section.people: Channel.people,
    Section.administrative: Channel.administrative,
    Section.judicial: Channel.judicial,
}


class Measure(StrEnum):
    cases = "cases"  # 件: distinct cases
    people = "people"  # 人: the people the counted cases involve
    amount = "amount"  # 元: the agreed amounts of the counted events
    rate = "rate"  # a ratio of two other rows of the same column
    stock = "stock"  # a count gathered as it stands (committees, mediators)
    register = "register"  # a figure of the screening register's rounds in the window, not of cases


# --- facts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventFact:
    """One event that may count: a case transition, or a fact about a case kept elsewhere (a crime
    report is ``trigger="crime_report"``). ``unit_code`` is where the case was when it happened."""

    case_id: int
    at: datetime
    trigger: str
    unit_code: str
    amount: Decimal | None = None  # settle: the agreement's amount
    detail: str | None = None  # record_performance: the finding; close: the outcome; delegate: the procedure


@dataclass(frozen=True)
class CaseFact:
    case_id: int
    dispute_type: str
    source: str
    people_involved: int


@dataclass(frozen=True)
class Window:
    """[start, end) in UTC."""

    start: datetime
    end: datetime

    def holds(self, at: datetime) -> bool:
        return self.start <= at < self.end


@dataclass(frozen=True)
class CaseView:
    """What a row may ask about a case, for one window: the type as the report folds it, and the
    source as it stands at the window's end (court-referred once the court delegated it)."""

    fact: CaseFact
    report_type: str
    source: str


# The event sources of the screening and prevention rows (``service.moj.queries.SQL_SOURCES``,
# over ``service.screening.figures``) and their trigger names.
SCREENING = "screening"  # 发现纠纷: a case a screening round registered, when the round was held
SCREENING_FOUND = "screening_found"
PREVENTION = "prevention"  # a reported risk handled: acknowledged and the case closed
PREVENTED: dict[MajorRisk, str] = {
    risk: f"prevented_{risk.value}" for risk in (MajorRisk.crime, MajorRisk.suicide, MajorRisk.group_fight)
}

# FINANCE and VILLAGE_AFFAIRS have no row of their own on the ministry's form: they are 其他.
FOLDED_TYPES: dict[str, str] = {
    DisputeType.FINANCE.value: DisputeType.OTHER.value,
    DisputeType.VILLAGE_AFFAIRS.value: DisputeType.OTHER.value,
}
LABOUR_TYPES = frozenset({DisputeType.LABOUR_WAGE_ARREARS.value, DisputeType.LABOUR_OTHER.value})


def report_type(dispute_type: str) -> str:
    return FOLDED_TYPES.get(dispute_type, dispute_type)


def case_view(fact: CaseFact, delegated_at: Iterable[datetime], window: Window) -> CaseView:
    """A case the court delegated (委托/委派) at any time before the window's end is court-referred,
    whatever its intake source; a delegation after the window does not change the window."""
    by_court = fact.source == Source.court.value or any(at < window.end for at in delegated_at)
    return CaseView(fact, report_type(fact.dispute_type), Source.court.value if by_court else fact.source)


# --- rows -------------------------------------------------------------------------------------


class Dimension(StrEnum):
    """A breakdown of a total row: the rows of one dimension partition the same first events."""

    org_type = "org_type"  # the organisation type of the unit where the event happened
    dispute_type = "dispute_type"  # the case's type as the report folds it
    source = "source"  # the case's source at the window's end


@dataclass(frozen=True)
class Row:
    key: str
    section: Section
    label_zh: str
    label_en: str
    item: str  # the ministry's item this row is (报表项目), in Chinese
    definition_zh: str
    definition_en: str
    measure: Measure = Measure.cases
    triggers: frozenset[str] = frozenset()  # the events that count (Measure cases/people/amount)
    # Only events whose detail (the performance found, the outcome of a close) is one of these.
    details: frozenset[str] = frozenset()
    # A breakdown row: the counted events whose value in ``dimension`` is one of ``values``.
    dimension: Dimension | None = None
    values: frozenset[str] = frozenset()
    rate_of: tuple[str, str] | None = None  # (numerator row, denominator row) for Measure.rate
    source: str = "events"  # where the facts come from: events | a gatherer in service.moj.queries
    level: int = 0  # 0: a row; 1: "of which" under the row above

    @property
    def basis(self) -> Basis | None:
        """The events this row counts from (None for a rate or a stock): rows with the same basis
        share one first-event-per-case selection."""
        if self.measure in (Measure.rate, Measure.stock, Measure.register):
            return None
        return Basis(self.source, self.triggers, SECTION_CHANNEL[self.section], self.details)


@dataclass(frozen=True)
class Basis:
    """Which events a row counts: of ``source`` (case events, or a gatherer's facts), with one of
    ``triggers``, at a unit of ``channel`` (within scope), with a detail in ``details`` (any when
    empty). Per case only the first such event of the window counts (by time, then trigger name)."""

    source: str
    triggers: frozenset[str]
    channel: Channel
    details: frozenset[str] = frozenset()


def _detail_in(*values: str) -> frozenset[str]:
    return frozenset(values)


ACCEPT = frozenset({Trigger.accept.value})
SETTLE = frozenset({Trigger.settle.value})
TERMINATE = frozenset({Trigger.terminate.value})

_ACCEPTED_ZH = "本期内在人民调解组织受理(accept 事件)的案件，每案计一次；登记后未受理、退回、不予受理或在法院队列中的不计"
_ACCEPTED_EN = (
    "Cases accepted by a people's mediation organisation in the period (an accept event), each once; "
    "registered but not accepted, declined, rejected or waiting in the court's queue do not count"
)


_TYPE_EN: dict[str, str] = {
    "MARRIAGE_FAMILY": "Marriage and family",
    "NEIGHBOUR": "Neighbours",
    "HOUSING_HOMESTEAD": "Housing and homestead",
    "CONTRACT": "Contract",
    "PRODUCTION_BUSINESS": "Production and business",
    "DAMAGES": "Damages",
    "FOREST_LAND": "Forest and land",
    "LAND_ACQUISITION_DEMOLITION": "Land acquisition and demolition",
    "ENVIRONMENT": "Environmental pollution",
    "MEDICAL": "Medical",
    "ROAD_TRAFFIC": "Road traffic accident",
    "PROPERTY_MGMT": "Property management",
    "CONSUMER": "Consumer",
    "TOURISM": "Tourism",
    "E_COMMERCE": "E-commerce",
    "OTHER": "Other",
}


def _type_rows() -> list[Row]:
    """The ministry's dispute types in its order; 劳动争议 as a total with 拖欠农民工工资 under it;
    金融 and 村务管理 folded into 其他."""
    rows: list[Row] = []
    for dispute_type in DisputeType:
        code = dispute_type.value
        if code in FOLDED_TYPES or code == DisputeType.LABOUR_OTHER.value:
            continue
        if code == DisputeType.LABOUR_WAGE_ARREARS.value:
            rows.append(
                Row(
                    "type_LABOUR",
                    Section.people,
                    "劳动争议",
                    "Labour disputes",
                    "纠纷类型:劳动争议",
                    "受理的劳动争议案件(拖欠农民工工资与其他劳动争议之和)",
                    "Accepted labour disputes (wage arrears and other labour disputes together)",
                    triggers=ACCEPT,
                    dimension=Dimension.dispute_type,
                    values=LABOUR_TYPES,
                )
            )
            rows.append(
                Row(
                    f"type_{code}",
                    Section.people,
                    "其中:拖欠农民工工资",
                    "of which: wage arrears",
                    "纠纷类型:劳动争议(欠薪)",
                    "受理的劳动争议中拖欠农民工工资的案件",
                    "Accepted labour disputes about unpaid wages of migrant workers",
                    triggers=ACCEPT,
                    dimension=Dimension.dispute_type,
                    values=frozenset({code}),
                    level=1,
                )
            )
            continue
        label = DISPUTE_TYPE_LABELS[dispute_type]
        other = code == DisputeType.OTHER.value
        rows.append(
            Row(
                f"type_{code}",
                Section.people,
                label,
                _TYPE_EN[code],
                f"纠纷类型:{label}",
                f"受理的{label}纠纷" + ("(含金融、村务管理)" if other else ""),
                f"Accepted disputes of type {code}"
                + (" (including FINANCE and VILLAGE_AFFAIRS)" if other else ""),
                triggers=ACCEPT,
                dimension=Dimension.dispute_type,
                values=frozenset({code}),
            )
        )
    return rows


_ORG_TYPE_EN: dict[OrgType, str] = {
    OrgType.village: "Village committees",
    OrgType.community: "Residents' (community) committees",
    OrgType.township: "Township committees",
    OrgType.subdistrict: "Subdistrict committees",
    OrgType.enterprise: "Enterprise and institution committees",
    OrgType.social_group: "Social organisation committees",
    OrgType.sectoral: "Sectoral and professional committees",
    OrgType.other: "Other (city centre)",
}


def _org_rows() -> list[Row]:
    return [
        Row(
            f"org_{org_type.value}",
            Section.people,
            f"{ORG_TYPE_LABELS[org_type]}调委会",
            _ORG_TYPE_EN[org_type],
            f"按组织类型:{ORG_TYPE_LABELS[org_type]}",
            f"受理单位的组织类型(单位配置 org_type)为{ORG_TYPE_LABELS[org_type]}的受理数",
            f"Accepted where the accepting unit's organisation type (org_type) is {org_type.value}",
            triggers=ACCEPT,
            dimension=Dimension.org_type,
            values=frozenset({org_type.value}),
            level=1,
        )
        for org_type in OrgType
    ]


_SOURCE_ROWS = (
    Source.self_initiated,
    Source.application,
    Source.court,
    Source.police,
    Source.petition_office,
    Source.procuratorate,
    Source.other_department,
)
_SOURCE_EN = {
    Source.self_initiated: "Found by screening",
    Source.application: "On application",
    Source.court: "Referred or delegated by the court",
    Source.police: "Referred by the police",
    Source.petition_office: "Referred by the petition office",
    Source.procuratorate: "Referred by the procuratorate",
    Source.other_department: "Referred by another department",
}


def _source_rows() -> list[Row]:
    rows = []
    for source in _SOURCE_ROWS:
        court = source == Source.court
        rows.append(
            Row(
                f"source_{source.value}",
                Section.people,
                "法院委托移送" if court else SOURCE_LABELS[source],
                _SOURCE_EN[source],
                f"纠纷来源:{SOURCE_LABELS[source]}",
                (
                    "受理案件中登记来源为法院，或在期末前任何时候经法院委托/委派调解的"
                    if court
                    else f"受理案件中来源为{SOURCE_LABELS[source]}且期末前未经法院委托的"
                ),
                (
                    "Accepted cases registered as from the court, or delegated by the court at any time "
                    "before the end of the period"
                    if court
                    else f"Accepted cases from source {source.value} not delegated by the court before the period's end"
                ),
                triggers=ACCEPT,
                dimension=Dimension.source,
                values=frozenset({source.value}),
                level=1,
            )
        )
    return rows


_PREVENTION_WORDS: dict[MajorRisk, tuple[str, str, str, str]] = {
    # risk: (row key stem, label zh, the ministry's item stem, label en stem)
    MajorRisk.crime: ("criminal_prevented", "防止民转刑", "防止民间纠纷转化为刑事案件", "Crimes prevented"),
    MajorRisk.suicide: ("suicide_prevented", "防止自杀", "防止可能引起自杀", "Suicides prevented"),
    MajorRisk.group_fight: (
        "group_fight_prevented",
        "防止群体性械斗",
        "防止群体性械斗",
        "Group fights prevented",
    ),
}
_RISK_ZH = {MajorRisk.crime: "民转刑", MajorRisk.suicide: "自杀", MajorRisk.group_fight: "群体性械斗"}
_RISK_EN = {
    MajorRisk.crime: "turning into a crime",
    MajorRisk.suicide: "suicide",
    MajorRisk.group_fight: "a group fight",
}


def _prevention_rows() -> list[Row]:
    """防止民转刑, 防止自杀, 防止群体性械斗, each in cases (件) and people (人), one rule for all
    (``workflows.screening.prevented_at``; local practice, see docs/moj_report.md)."""
    rows: list[Row] = []
    for risk, (key, label, item, label_en) in _PREVENTION_WORDS.items():
        extra_zh = "或民转刑风险报告(crime_report)" if risk == MajorRisk.crime else ""
        extra_en = " or a crime-risk report under the duty to report" if risk == MajorRisk.crime else ""
        triggers = frozenset({PREVENTED[risk]})
        rows.append(
            Row(
                key,
                Section.people,
                f"{label}(件)",
                f"{label_en} (cases)",
                f"{item}:件",
                f"人民调解组织报告了{_RISK_ZH[risk]}风险(重大纠纷报告{extra_zh})、报告已获签收且案件已结案、"
                f"此前无人记录风险已发生的案件；计入签收与结案中较晚者所在的期间，每案一次",
                f"Cases whose risk of {_RISK_EN[risk]} a people's mediation unit reported (a major-dispute "
                f"report{extra_en}), the report acknowledged and the case closed, with nobody having recorded "
                "by then that it happened; counted in the period of the later of acknowledgement and closing, "
                "each once",
                triggers=triggers,
                source=PREVENTION,
            )
        )
        rows.append(
            Row(
                f"{key}_people",
                Section.people,
                f"{label}(人)",
                f"{label_en} (people)",
                f"{item}:人",
                "上一行案件涉及的人数之和",
                "The people involved in the cases of the row above",
                measure=Measure.people,
                triggers=triggers,
                source=PREVENTION,
                level=1,
            )
        )
    return rows


ROWS: tuple[Row, ...] = (
    Row(
        "accepted",
        Section.people,
        "受理调解纠纷",
        "Disputes accepted",
        "调解纠纷数(受理)",
        _ACCEPTED_ZH,
        _ACCEPTED_EN,
        triggers=ACCEPT,
    ),
    *_org_rows(),
    *_type_rows(),
    *_source_rows(),
    Row(
        "settled",
        Section.people,
        "调解成功",
        "Settled",
        "调解成功数",
        "本期内达成调解协议(settle 事件)的案件；此后撤回、协议未获司法确认或被变更，不改变本期数字",
        "Cases that reached an agreement in the period (a settle event), even if later withdrawn, "
        "refused confirmation or amended",
        triggers=SETTLE,
    ),
    Row(
        "terminated",
        Section.people,
        "调解终止",
        "Mediation ended without agreement",
        "调解不成(终止)数",
        "本期内终止调解(terminate 事件)的案件",
        "Cases whose mediation was ended without agreement in the period (a terminate event)",
        triggers=TERMINATE,
    ),
    Row(
        "concluded",
        Section.people,
        "调结",
        "Concluded",
        "调结数",
        "本期内达成协议或终止调解的案件(每案计一次)",
        "Cases that settled or ended without agreement in the period (each once)",
        triggers=SETTLE | TERMINATE,
    ),
    Row(
        "success_rate",
        Section.people,
        "调解成功率",
        "Success rate",
        "调解成功率",
        "调解成功 ÷ 调结(本期达成协议或终止的案件)；不超过100%，无调结案件时不计算",
        "Settled ÷ concluded (settled or ended in the period); never above 100 %, blank when nothing concluded",
        measure=Measure.rate,
        rate_of=("settled", "concluded"),
    ),
    Row(
        "agreed_amount",
        Section.people,
        "协议涉及金额(元)",
        "Agreed amounts (yuan)",
        "协议涉及金额",
        "本期达成的调解协议所载金额之和(协议金额，不是申请金额)",
        "The sum of the amounts in the agreements reached in the period (agreed, not claimed)",
        measure=Measure.amount,
        triggers=SETTLE,
    ),
    Row(
        "confirmation_applied",
        Section.people,
        "申请司法确认",
        "Judicial confirmation applied for",
        "司法确认:申请数",
        "本期内当事人申请司法确认(request_confirmation 事件)的案件",
        "Cases whose parties applied for judicial confirmation in the period",
        triggers=frozenset({Trigger.request_confirmation.value}),
    ),
    Row(
        "confirmation_confirmed",
        Section.people,
        "确认有效",
        "Confirmed",
        "司法确认:确认数",
        "本期内法院裁定确认调解协议有效的案件",
        "Cases whose agreement the court confirmed in the period",
        triggers=frozenset({Trigger.confirm.value}),
        level=1,
    ),
    Row(
        "confirmation_refused",
        Section.people,
        "不予受理或驳回",
        "Not accepted or rejected",
        "司法确认:未确认数",
        "本期内法院对确认申请不予受理或裁定驳回的案件(协议本身仍然有效)",
        "Cases whose application the court did not accept or rejected in the period (the agreement stands)",
        triggers=frozenset({Trigger.refuse_confirmation.value, Trigger.reject_confirmation.value}),
        level=1,
    ),
    Row(
        "performed",
        Section.people,
        "协议履行完毕",
        "Agreements performed",
        "协议履行:已履行",
        "本期内回访记录协议已履行完毕的案件",
        "Cases whose follow-up in the period found the agreement performed",
        triggers=frozenset({Trigger.record_performance.value}),
        details=_detail_in(Performance.performed.value),
    ),
    Row(
        "not_performed",
        Section.people,
        "未履行或部分履行",
        "Not or partly performed",
        "协议履行:未履行",
        "本期内回访记录协议未履行或部分履行的案件",
        "Cases whose follow-up in the period found the agreement not or only partly performed",
        triggers=frozenset({Trigger.record_performance.value}),
        details=_detail_in(Performance.partially.value, Performance.not_performed.value),
    ),
    *_prevention_rows(),
    Row(
        "screening_rounds",
        Section.people,
        "排查次数",
        "Screening rounds",
        "矛盾纠纷排查:次数",
        "本期内人民调解组织开展的排查次数(按排查时间与登记单位)，零报告计入；不是案件数",
        "Screening rounds held in the period by people's mediation units (when held, by the recording "
        "unit), zero reports included; a count of rounds, not of cases",
        measure=Measure.register,
        source="rounds",
    ),
    Row(
        "screening_zero_reports",
        Section.people,
        "其中:零报告",
        "of which: zero reports",
        "矛盾纠纷排查:零报告",
        "上一行中未发现纠纷(零报告)的排查次数",
        "The rounds of the row above that found nothing (zero reports)",
        measure=Measure.register,
        source="zero_reports",
        level=1,
    ),
    Row(
        "disputes_found",
        Section.people,
        "发现纠纷",
        "Disputes found",
        "矛盾纠纷排查:发现纠纷",
        "本期内排查中发现并登记(来源主动排查)的纠纷案件，按排查时间与排查单位计，每案一次",
        "Cases registered (source found by screening) by rounds held in the period by people's mediation "
        "units, counted when the round was held, each once",
        triggers=frozenset({SCREENING_FOUND}),
        source=SCREENING,
    ),
    Row(
        "disputes_prevented",
        Section.people,
        "预防纠纷",
        "Disputes prevented",
        "预防纠纷数",
        "本期排查中当场化解、未登记为案件的纠纷数(按各次排查所报之和)",
        "Disputes resolved on the spot by rounds held in the period, as the rounds counted them (not "
        "registered as cases)",
        measure=Measure.register,
        source="disputes_prevented",
    ),
    Row(
        "admin_accepted",
        Section.administrative,
        "行政调解受理",
        "Administrative mediation: accepted",
        "行政调解(不计入人民调解)",
        "本期内在行政调解渠道单位(派出所、人社局等)受理的案件；不计入人民调解各行",
        "Cases accepted in the period by administrative-channel units (police stations, the labour "
        "bureau …); not counted in the people's mediation rows",
        triggers=ACCEPT,
    ),
    Row(
        "admin_settled",
        Section.administrative,
        "行政调解成功",
        "Administrative mediation: settled",
        "行政调解成功(不计入人民调解)",
        "本期内在行政调解渠道单位达成协议的案件",
        "Cases settled in the period at administrative-channel units",
        triggers=SETTLE,
    ),
    Row(
        "court_delegated",
        Section.judicial,
        "法院委托/委派调解",
        "Delegated by the court",
        "诉调对接:委托委派(不计入人民调解)",
        "本期内法院将案件委托或委派调解组织调解(delegate 事件)的案件数；调解本身计入受理单位所在渠道",
        "Cases the court delegated to a mediation organisation in the period; the mediation itself is "
        "counted in the channel of the unit that accepts it",
        triggers=frozenset({Trigger.delegate.value}),
    ),
    Row(
        "court_statement",
        Section.judicial,
        "法院出具调解书结案",
        "Closed by the court's mediation statement",
        "诉调对接:出具调解书(不计入人民调解)",
        "本期内法院对委托调解达成的协议出具调解书结案的案件",
        "Cases the court closed in the period with a mediation statement on a delegated settlement",
        triggers=frozenset({Trigger.close.value}),
        details=_detail_in(Outcome.mediation_statement.value),
    ),
    Row(
        "committees",
        Section.organisation,
        "人民调解组织(个)",
        "People's mediation committees",
        "人民调解委员会数",
        "范围内人民调解渠道的调委会、调解中心和行业性专业性调委会个数(按当前单位配置)",
        "People's mediation committees, centres and sectoral committees in scope (the current unit configuration)",
        measure=Measure.stock,
        source="committees",
    ),
    Row(
        "mediators_full_time",
        Section.organisation,
        "专职人民调解员(人)",
        "Full-time mediators",
        "人民调解员:专职",
        "名册中在册(active)且服务于范围内人民调解组织的专职调解员人数(报表生成时)",
        "Active full-time mediators on the roster serving a people's mediation unit in scope (as the report is made)",
        measure=Measure.stock,
        source="mediators_full_time",
    ),
    Row(
        "mediators_part_time",
        Section.organisation,
        "兼职人民调解员(人)",
        "Part-time mediators",
        "人民调解员:兼职",
        "名册中在册且服务于范围内人民调解组织的兼职调解员人数(报表生成时)",
        "Active part-time mediators on the roster serving a people's mediation unit in scope (as the report is made)",
        measure=Measure.stock,
        source="mediators_part_time",
    ),
)

ROW_BY_KEY: dict[str, Row] = {row.key: row for row in ROWS}
assert len(ROW_BY_KEY) == len(ROWS), "row keys must be unique"


def cell_key(row: str, column: Column) -> str:
    return f"{row}.{column.value}"


def parse_cell(key: str) -> tuple[Row, Column] | None:
    row, _, column = key.rpartition(".")
    if row not in ROW_BY_KEY or column not in Column.__members__:
        return None
    return ROW_BY_KEY[row], Column(column)


# --- evaluation -------------------------------------------------------------------------------
#
# A row's cell is computed in two steps, each defined once:
#  1. select, per case, the first event of the row's ``Basis`` in the window (``service.moj.queries``
#     does it in SQL, grouped or case by case; ``Evaluation`` below does it in Python over facts);
#  2. ``fold`` those first events into the row's figure: keep the ones whose ``dimension`` value is
#     among the row's ``values`` (``dimension_value``), then count cases, add people or amounts.
# The drill-down narrows step 1 by the same predicate compiled to raw column values
# (``dimension_filter``), so a figure and its case list cannot disagree.


@dataclass
class Tally:
    """One cell's figure and the cases behind it."""

    value: int | Decimal | None
    case_ids: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Counted:
    """First events of one basis that no dimension tells apart: ``cases`` of them, at
    ``unit_code``, of ``dispute_type`` as registered, of ``source`` as the window sees it (court
    once delegated before the window's end), with their people and agreed amount in fen, and, when
    asked for, the case ids (a group of one per case, or the SQL's GROUP BY of many)."""

    unit_code: str
    dispute_type: str
    source: str
    cases: int
    people: int
    amount_fen: int
    case_ids: tuple[int, ...] = ()


def dimension_value(dimension: Dimension, counted: Counted, org: OrgTree) -> str:
    """The value a first event has in ``dimension``: the organisation type of its unit (its
    configured ``org_type``), the case's type as the report folds it, or its source as seen."""
    match dimension:
        case Dimension.org_type:
            unit = org.find(counted.unit_code)
            return unit.org_type.value if unit is not None and unit.org_type is not None else ""
        case Dimension.dispute_type:
            return report_type(counted.dispute_type)
        case Dimension.source:
            return counted.source


def dimension_filter(row: Row, org: OrgTree) -> tuple[Dimension, frozenset[str]] | None:
    """The row's breakdown as raw column values (the drill-down's SQL filter): the unit codes of
    its organisation types, the registered types that fold into its types, or its sources. Built
    by asking ``dimension_value`` of every candidate, so both agree by construction."""
    if row.dimension is None:
        return None
    match row.dimension:
        case Dimension.org_type:
            candidates = [Counted(u.code, "", "", 0, 0, 0) for u in org]
            raw = {c.unit_code for c in candidates if dimension_value(row.dimension, c, org) in row.values}
        case Dimension.dispute_type:
            candidates = [Counted("", t, "", 0, 0, 0) for t in {*(d.value for d in DisputeType), *row.values}]
            raw = {c.dispute_type for c in candidates if dimension_value(row.dimension, c, org) in row.values}
        case Dimension.source:
            raw = set(row.values)
    return row.dimension, frozenset(raw)


def fold(row: Row, counted: Iterable[Counted], org: OrgTree) -> Tally:
    """The row's cell from its basis's first events."""
    kept = [
        c for c in counted if row.dimension is None or dimension_value(row.dimension, c, org) in row.values
    ]
    ids = sorted(i for c in kept for i in c.case_ids)
    match row.measure:
        case Measure.amount:
            fen = sum(c.amount_fen for c in kept)
            return Tally((Decimal(fen) / 100).quantize(Decimal("0.01")), ids)
        case Measure.people:
            return Tally(sum(c.people for c in kept), ids)
        case _:
            return Tally(sum(c.cases for c in kept), ids)


def fen(amount: Decimal | None) -> int:
    """An agreed amount in fen (none: 0), as the SQL rounds it."""
    if amount is None:
        return 0
    return int((amount * 100).quantize(Decimal("1")))


class Evaluation:
    """Step 1 in Python, over facts already gathered (a gatherer's ``EventFact``s; the unit tests).
    ``service.moj.queries.first_events`` is the same selection in SQL."""

    def __init__(
        self,
        events: Iterable[EventFact],
        cases: Mapping[int, CaseFact],
        delegations: Mapping[int, Sequence[datetime]],
        org: OrgTree,
        units: frozenset[str] | None,
        window: Window,
    ) -> None:
        self.cases, self.delegations, self.org, self.window = cases, delegations, org, window
        self._by_trigger: dict[str, list[EventFact]] = {}
        for event in events:
            if window.holds(event.at) and (units is None or event.unit_code in units):
                self._by_trigger.setdefault(event.trigger, []).append(event)
        self._counted: dict[Basis, list[Counted]] = {}

    def counted(self, basis: Basis) -> list[Counted]:
        """Per case, its first event of ``basis`` in the window at a unit of the basis's channel,
        as a group of one."""
        found = self._counted.get(basis)
        if found is not None:
            return found
        first: dict[int, EventFact] = {}
        for trigger in sorted(basis.triggers):
            for event in self._by_trigger.get(trigger, ()):
                unit = self.org.find(event.unit_code)
                if unit is None or unit.channel != basis.channel:
                    continue
                if basis.details and event.detail not in basis.details:
                    continue
                known = first.get(event.case_id)
                if known is None or (event.at, event.trigger) < (known.at, known.trigger):
                    first[event.case_id] = event
        found = []
        for case_id in sorted(first):
            event, fact = first[case_id], self.cases.get(case_id)
            if fact is None:
                continue
            view = case_view(fact, self.delegations.get(case_id, ()), self.window)
            found.append(
                Counted(
                    event.unit_code,
                    fact.dispute_type,
                    view.source,
                    1,
                    fact.people_involved,
                    fen(event.amount),
                    (case_id,),
                )
            )
        self._counted[basis] = found
        return found

    def row(self, row: Row) -> Tally:
        """The cell of an event row (rate and stock rows are computed by the caller)."""
        basis = row.basis
        if basis is None:
            raise ValueError(f"row {row.key} counts no events")
        return fold(row, self.counted(basis), self.org)


def evaluate_row(
    row: Row,
    events: Sequence[EventFact],
    cases: Mapping[int, CaseFact],
    delegations: Mapping[int, Sequence[datetime]],
    org: OrgTree,
    units: frozenset[str] | None,
    window: Window,
) -> Tally:
    """One row's cell on its own (``Evaluation`` evaluates many rows over the same facts)."""
    return Evaluation(events, cases, delegations, org, units, window).row(row)


def rate(numerator: int | Decimal | None, denominator: int | Decimal | None) -> Decimal | None:
    """numerator ÷ denominator to four places; None without a denominator. The denominator rows
    are chosen so that the numerator's cases are among them: never above 1."""
    if not denominator or numerator is None:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(Decimal("0.0001"))
