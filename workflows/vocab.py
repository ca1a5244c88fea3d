"""Codes the whole product speaks: dispute types, intake sources, flags, risk colours.

The dispute-type codes follow the Ministry of Justice statistics and must stay stable: reports
filed months apart are compared by them.
"""

from __future__ import annotations

from enum import StrEnum


class DisputeType(StrEnum):
    MARRIAGE_FAMILY = "MARRIAGE_FAMILY"
    NEIGHBOUR = "NEIGHBOUR"
    HOUSING_HOMESTEAD = "HOUSING_HOMESTEAD"
    CONTRACT = "CONTRACT"
    PRODUCTION_BUSINESS = "PRODUCTION_BUSINESS"
    DAMAGES = "DAMAGES"
    FOREST_LAND = "FOREST_LAND"
    LAND_ACQUISITION_DEMOLITION = "LAND_ACQUISITION_DEMOLITION"
    ENVIRONMENT = "ENVIRONMENT"
    LABOUR_WAGE_ARREARS = "LABOUR_WAGE_ARREARS"
    LABOUR_OTHER = "LABOUR_OTHER"
    MEDICAL = "MEDICAL"
    ROAD_TRAFFIC = "ROAD_TRAFFIC"
    PROPERTY_MGMT = "PROPERTY_MGMT"
    CONSUMER = "CONSUMER"
    TOURISM = "TOURISM"
    E_COMMERCE = "E_COMMERCE"
    FINANCE = "FINANCE"
    VILLAGE_AFFAIRS = "VILLAGE_AFFAIRS"
    OTHER = "OTHER"


DISPUTE_TYPE_LABELS: dict[DisputeType, str] = {
    DisputeType.MARRIAGE_FAMILY: "婚姻家庭",
    DisputeType.NEIGHBOUR: "邻里",
    DisputeType.HOUSING_HOMESTEAD: "房屋宅基地",
    DisputeType.CONTRACT: "合同",
    DisputeType.PRODUCTION_BUSINESS: "生产经营",
    DisputeType.DAMAGES: "损害赔偿",
    DisputeType.FOREST_LAND: "山林土地",
    DisputeType.LAND_ACQUISITION_DEMOLITION: "征地拆迁",
    DisputeType.ENVIRONMENT: "环境污染",
    DisputeType.LABOUR_WAGE_ARREARS: "拖欠农民工工资",
    DisputeType.LABOUR_OTHER: "其他劳动争议",
    DisputeType.MEDICAL: "医疗",
    DisputeType.ROAD_TRAFFIC: "道路交通事故",
    DisputeType.PROPERTY_MGMT: "物业",
    DisputeType.CONSUMER: "消费",
    DisputeType.TOURISM: "旅游",
    DisputeType.E_COMMERCE: "电子商务",
    DisputeType.FINANCE: "金融",
    DisputeType.VILLAGE_AFFAIRS: "村务管理",
    DisputeType.OTHER: "其他",
}


class Source(StrEnum):
    """How a dispute reached the network (intake source)."""

    self_initiated = "self_initiated"  # 主动排查
    application = "application"  # 依申请
    court = "court"  # 法院移送/委托
    procuratorate = "procuratorate"  # 检察院
    police = "police"  # 公安派出所
    petition_office = "petition_office"  # 信访部门
    other_department = "other_department"  # 其他部门


SOURCE_LABELS: dict[Source, str] = {
    Source.self_initiated: "主动排查",
    Source.application: "依申请",
    Source.court: "法院移送",
    Source.procuratorate: "检察院移送",
    Source.police: "公安移送",
    Source.petition_office: "信访移送",
    Source.other_department: "其他部门移送",
}


class Flag(StrEnum):
    cross_area = "cross_area"  # 跨区域
    criminal_risk = "criminal_risk"  # 民转刑风险
    group_dispute = "group_dispute"  # 群体性
    repeat_petition = "repeat_petition"  # 重复信访
    # Sensitive personal information (PIPL art. 28): the case is seen only by its handling unit
    # and the coordinators above it.
    minor = "minor"  # 涉及未满十四周岁未成年人
    health = "health"  # 医疗健康信息
    financial = "financial"  # 金融账户等财务信息


SENSITIVE_FLAGS = frozenset({Flag.minor, Flag.health, Flag.financial})


FLAG_LABELS: dict[Flag, str] = {
    Flag.cross_area: "跨区域",
    Flag.criminal_risk: "民转刑风险",
    Flag.group_dispute: "群体性纠纷",
    Flag.repeat_petition: "重复信访",
    Flag.minor: "涉未成年人",
    Flag.health: "涉医疗健康信息",
    Flag.financial: "涉金融财务信息",
}


class RiskColour(StrEnum):
    green = "green"
    yellow = "yellow"
    orange = "orange"
    red = "red"


RISK_LABELS: dict[RiskColour, str] = {
    RiskColour.green: "绿色(一般)",
    RiskColour.yellow: "黄色(较大)",
    RiskColour.orange: "橙色(重大)",
    RiskColour.red: "红色(特别重大)",
}


class PartyRole(StrEnum):
    applicant = "applicant"  # 申请人
    respondent = "respondent"  # 被申请人
    third_party = "third_party"  # 第三人


class PartyKind(StrEnum):
    person = "person"
    organisation = "organisation"


class IdType(StrEnum):
    resident_id = "resident_id"  # 居民身份证
    passport = "passport"
    hk_macau_permit = "hk_macau_permit"  # 港澳居民来往内地通行证
    taiwan_permit = "taiwan_permit"  # 台湾居民来往大陆通行证
    foreign_permanent_id = "foreign_permanent_id"  # 外国人永久居留身份证
    uscc = "uscc"  # 统一社会信用代码 (organisations)
    other = "other"


class ReferralKind(StrEnum):
    """Hand-offs between channels (三调联动, 诉调对接); see docs/domain.md, Hand-offs."""

    police = "police"  # 警调对接
    petition = "petition"  # 访调对接
    procuratorate = "procuratorate"  # 检调对接
    court_delegation = "court_delegation"  # 委托调解 (post-filing)
    court_assignment = "court_assignment"  # 委派调解 (pre-filing, legacy)
    administrative = "administrative"  # 行政移送
    sectoral = "sectoral"  # 专业调解移送
    judicial_confirmation = "judicial_confirmation"  # 司法确认


class AgreementForm(StrEnum):
    oral = "oral"
    written = "written"


class CourtProcedure(StrEnum):
    ordinary = "ordinary"  # 普通程序: 15 days
    simplified = "simplified"  # 简易程序: 7 days
    assignment = "assignment"  # 委派调解 (pre-filing, legacy): 30 days


class PriorAuthority(StrEnum):
    """Who had already accepted the matter when it was registered (人民调解工作若干规定 (2002) art. 22)."""

    none = "none"  # 未经其他机关受理
    court = "court"  # 人民法院已受理
    police = "police"  # 公安机关已受理
    petition = "petition"  # 信访部门已受理
    other = "other"  # 其他机关已受理
    unknown = "unknown"  # 登记时未能确认：受理前须补正


PRIOR_AUTHORITY_LABELS: dict[PriorAuthority, str] = {
    PriorAuthority.none: "未经其他机关受理",
    PriorAuthority.court: "人民法院已受理",
    PriorAuthority.police: "公安机关已受理",
    PriorAuthority.petition: "信访部门已受理",
    PriorAuthority.other: "其他机关已受理",
    PriorAuthority.unknown: "尚未确认",
}


class ConsentManner(StrEnum):
    """How a party's consent (or refusal) was given."""

    written = "written"  # 书面
    oral = "oral"  # 口头
    in_person = "in_person"  # 当面
    phone = "phone"  # 电话


CONSENT_MANNER_LABELS: dict[ConsentManner, str] = {
    ConsentManner.written: "书面",
    ConsentManner.oral: "口头",
    ConsentManner.in_person: "当面",
    ConsentManner.phone: "电话",
}


class ConsentDecision(StrEnum):
    given = "given"  # 同意
    refused = "refused"  # 拒绝/不再同意


class LabourMatter(StrEnum):
    """What a labour agreement settles, as far as 劳动争议调解仲裁法 art. 16 (支付令) cares."""

    wages = "wages"  # 拖欠劳动报酬
    medical_costs = "medical_costs"  # 工伤医疗费
    compensation = "compensation"  # 经济补偿或者赔偿金
