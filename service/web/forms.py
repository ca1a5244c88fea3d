"""Each lifecycle action as a small HTML form: only the fields that action takes.

The fields and which of them are required come from the API's own per-trigger models
(``TRIGGER_FIELDS``), so a page can never ask for less or more than the API accepts; this module
only says how each field is shown (text, list, choice of units) and maps form names to the API's
JSON paths and back (for naming errors next to the field that caused them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from service.cases.schemas import TRIGGER_FIELDS
from workflows.agreement import Art355
from workflows.lifecycle import TransitionContext, Trigger, target_choices
from workflows.org import Unit
from workflows.referrals import HAND_OFF_KINDS, REQUIRED_PAYLOAD
from workflows.vocab import ReferralKind

PAYLOAD_FIELDS = sorted({name for kind in HAND_OFF_KINDS for name in REQUIRED_PAYLOAD[ReferralKind(kind)]})


@dataclass(frozen=True)
class FormField:
    name: str  # the HTML form name
    path: tuple[str, ...]  # where it goes in the API body
    label: str  # catalogue key
    # text | textarea | number | date | select | lines | units | courts | checks (one box per member
    # of the vocabulary) | check (one yes/no box) | applicants (one line per applying party)
    widget: str
    vocabulary: str | None = None  # for select: a catalogue vocabulary
    required: bool = False
    choices: tuple[str, ...] | None = None  # restrict a vocabulary to these members


# The parties' consent (accept, 警调/访调/检调 hand-off, delegation): one choice of manner per party
# and the day, drawn by the page from the case's parties; errors on any consent land here.
CONSENT = FormField("consent_on", ("consents",), "act.consents", "consent")


def _reason(required: bool) -> FormField:
    return FormField("reason", ("reason",), "act.reason", "textarea", required=required)


_SPECS: dict[Trigger, list[FormField]] = {
    Trigger.dispatch: [FormField("target_unit", ("target_unit",), "act.target_unit", "units")],
    Trigger.accept: [CONSENT],
    Trigger.hand_off: [
        FormField(
            "referral_kind",
            ("referral_kind",),
            "act.referral_kind",
            "select",
            vocabulary="referral_kind",
            choices=tuple(k.value for k in ReferralKind if k in HAND_OFF_KINDS),
        ),
        FormField("target_unit", ("target_unit",), "act.target_unit", "units"),
        *[FormField(name, ("referral_payload", name), f"act.{name}", "text") for name in PAYLOAD_FIELDS],
        CONSENT,
    ],
    Trigger.settle: [
        FormField("agreement_form", ("agreement", "form"), "act.agreement_form", "select", "agreement_form"),
        FormField("agreement_terms", ("agreement", "terms"), "act.agreement_terms", "textarea"),
        FormField("agreement_amount", ("agreement", "amount_yuan"), "act.agreement_amount", "number"),
        FormField(
            "performance_manner", ("agreement", "performance_manner"), "act.performance_manner", "text"
        ),
        FormField(
            "performance_deadline", ("agreement", "performance_deadline"), "act.performance_deadline", "date"
        ),
        FormField("signatories", ("agreement", "signatories"), "act.signatories", "lines"),
        FormField("agreement_facts", ("agreement", "facts"), "act.agreement_facts", "textarea"),
        FormField("signed_by_parties", ("agreement", "signed_by_parties"), "act.signed_by_parties", "check"),
        FormField(
            "signed_by_mediator", ("agreement", "signed_by_mediator"), "act.signed_by_mediator", "check"
        ),
        FormField("sealed", ("agreement", "sealed"), "act.sealed", "check"),
        FormField("touches", ("agreement", "touches"), "act.touches", "checks", vocabulary="art355"),
    ],
    Trigger.request_confirmation: [
        FormField("applicants", ("applicants",), "act.applicants", "applicants"),
        FormField("court", ("court",), "act.court", "courts"),
        FormField("applied_on", ("applied_on",), "act.applied_on", "date"),
        FormField("application_materials", ("materials",), "act.application_materials", "lines"),
    ],
    Trigger.terminate: [
        FormField(
            "termination_reason",
            ("termination_reason",),
            "act.termination_reason",
            "select",
            "termination_reason",
        )
    ],
    Trigger.delegate: [
        FormField("target_unit", ("target_unit",), "act.target_unit", "units"),
        FormField("court_case_number", ("court_case_number",), "act.court_case_number", "text"),
        FormField("procedure", ("procedure",), "act.procedure", "select", "procedure"),
        FormField("materials", ("materials",), "act.materials", "lines"),
        CONSENT,
    ],
    Trigger.record_performance: [
        FormField("performance", ("performance",), "act.performance", "select", "performance")
    ],
    Trigger.close: [FormField("outcome", ("outcome",), "act.outcome", "select", "outcome")],
}


def _required(trigger: Trigger) -> set[str]:
    model = TRIGGER_FIELDS[trigger]
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    nested = {
        (name, sub)
        for name, prop in schema.get("properties", {}).items()
        if "$ref" in prop or "allOf" in prop
        for sub in schema.get("$defs", {}).get(_ref_name(prop), {}).get("required", [])
    }
    return required | {f"{a}.{b}" for a, b in nested}


def _ref_name(prop: Mapping[str, Any]) -> str:
    ref = prop.get("$ref") or (prop.get("allOf") or [{}])[0].get("$ref", "")
    return str(ref).rsplit("/", 1)[-1]


def fields_for(trigger: Trigger) -> list[FormField]:
    """The form of one action; required as the API's model says."""
    required = _required(trigger)
    reason_required = "reason" in required
    specs = [
        FormField(
            f.name,
            f.path,
            f.label,
            f.widget,
            f.vocabulary,
            required=".".join(f.path) in required or (len(f.path) == 1 and f.path[0] in required),
            choices=f.choices,
        )
        for f in _SPECS.get(trigger, [])
    ]
    return [*specs, _reason(reason_required)]


def unit_choices(trigger: Trigger, ctx: TransitionContext) -> list[Unit]:
    """The units an action may send the case to: the lifecycle's own guards judge each one."""
    return sorted(target_choices(trigger, ctx), key=lambda u: u.code)


def _lines(value: str) -> list[str]:
    return [line.strip() for line in value.replace("\r", "").split("\n") if line.strip()]


def _applicants(value: str) -> list[dict[str, str]]:
    """ "姓名" or "姓名 | 代理人 | 授权委托书" per line (a full-width ｜ too)."""
    applicants = []
    for line in _lines(value):
        parts = [p.strip() for p in line.replace("｜", "|").split("|")]
        applicant = {"party": parts[0]}
        for key, part in zip(("agent", "authority_document"), parts[1:3], strict=False):
            if part:
                applicant[key] = part
        applicants.append(applicant)
    return applicants


def check_name(field: FormField, member: str) -> str:
    """The form name of one box of a ``checks`` field (one name per box: a form keeps one value a name)."""
    return f"{field.name}_{member}"


def _value(field: FormField, form: Mapping[str, str]) -> Any:
    """The field's API value from the form, or None to leave it out."""
    if field.widget == "checks":
        # The boxes are always shown, so none ticked is an answer: "touches none of these".
        return [m.value for m in Art355 if form.get(check_name(field, m.value))]
    raw = (form.get(field.name) or "").strip()
    if not raw:
        return None
    if field.widget == "check":
        return True
    if field.widget == "applicants":
        return _applicants(raw)
    return _lines(raw) if field.widget == "lines" else raw


def transition_body(trigger: Trigger, form: Mapping[str, str]) -> dict[str, Any]:
    """The API's JSON body from a submitted form; empty optional fields are left out."""
    body: dict[str, Any] = {"trigger": trigger.value}
    for field in fields_for(trigger):
        if field.widget == "consent":  # each party's consent is read by consent_body
            continue
        value = _value(field, form)
        if value is None:
            continue
        target = body
        for part in field.path[:-1]:
            target = target.setdefault(part, {})
        target[field.path[-1]] = value
    return body


def consent_body(form: Mapping[str, str], party_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Each party's consent as the form gives it (a manner chosen for the party), on the form's day."""
    on = (form.get("consent_on") or "").strip()
    given = []
    for party_id in party_ids:
        manner = (form.get(f"consent_{party_id}") or "").strip()
        if manner:
            given.append({"party_id": party_id, "manner": manner, "on": on})
    return given


def takes_consents(trigger: Trigger) -> bool:
    return any(f.widget == "consent" for f in _SPECS.get(trigger, []))


ERROR_MESSAGES = {
    "missing": "field.missing",
    "string_too_short": "field.too_short",
    "string_too_long": "field.too_long",
    "too_long": "field.too_long",
    "decimal_parsing": "field.number",
    "float_parsing": "field.number",
    "int_parsing": "field.integer",
    "greater_than_equal": "field.too_small",
    "greater_than": "field.too_small",
    "less_than_equal": "field.too_large",
    "decimal_max_digits": "field.too_large",
    "decimal_max_places": "field.number",
    "enum": "field.choice",
    "literal_error": "field.choice",
    "date_from_datetime_parsing": "field.date",
    "date_parsing": "field.date",
    "string_pattern_mismatch": "field.pattern",
}


def error_key(error: Mapping[str, Any]) -> str:
    """The catalogue key for one pydantic error; an empty box reads as "required", not "too short"."""
    if error["type"] == "string_too_short" and not str(error.get("input") or "").strip():
        return "field.missing"
    return ERROR_MESSAGES.get(str(error["type"]), "field.invalid")


def field_errors(exc: ValidationError, fields: Sequence[str], fallback: str) -> dict[str, str]:
    """Form field → catalogue key for a flat form validated by an API model; an error on no named
    field (the model as a whole) shows at ``fallback``."""
    found: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else fallback
        found.setdefault(name if name in fields else fallback, error_key(error))
    return found


def form_name(fields: Sequence[FormField], location: Sequence[str | int]) -> str | None:
    """The form field an API error location (``body.agreement.terms``) belongs to."""
    path = tuple(str(p) for p in location if p != "body")
    for field in fields:
        if path[: len(field.path)] == field.path:
            return field.name
    return None


def validation_errors(trigger: Trigger, body: Mapping[str, Any]) -> dict[str, str]:
    """Form field → catalogue key of what is wrong, checked against the API's own model."""
    data = {k: v for k, v in body.items() if k != "trigger"}
    try:
        TRIGGER_FIELDS[trigger].model_validate(data)
    except ValidationError as exc:
        fields = fields_for(trigger)
        errors: dict[str, str] = {}
        for error in exc.errors():
            name = form_name(fields, [str(p) for p in error["loc"]]) or "reason"
            errors.setdefault(name, error_key(error))
        return errors
    return {}
