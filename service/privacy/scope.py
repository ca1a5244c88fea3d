"""Who may see a party's personal data in full, and when (人民调解法 art. 15 confidentiality).

Pure: decided from the case as read (its state, unit and open referrals), the actor and the org.
"""

from __future__ import annotations

from workflows.lifecycle import CaseState, TransitionContext, handles_case, is_court_clerk
from workflows.org import OrgTree
from workflows.transition import CaseSnapshot
from workflows.vocab import ReferralKind

# The referrals that put a case in the court's hands while it is mediated elsewhere: the court's
# delegation (委托/委派调解) and the parties' application for judicial confirmation (司法确认).
COURT_REFERRALS = frozenset(
    {ReferralKind.court_delegation, ReferralKind.court_assignment, ReferralKind.judicial_confirmation}
)


def court_has_case(case: CaseSnapshot, org: OrgTree) -> bool:
    """The court works on the case now: it waits in the court's queue or is claimed by a clerk
    (held by a court unit, not closed), or a delegation from the court or a confirmation
    application to it is open (offered or accepted; the snapshot holds open referrals only).
    Once the court has docketed, closed, delegated and seen the result, or ruled on the
    confirmation, it no longer has the case — though its clerks may still read it, masked."""
    if case.state == CaseState.closed:
        return False
    court = org.court_units()
    if case.unit_code in court:
        return True
    return any(
        r.kind in COURT_REFERRALS and (r.from_unit_code in court or r.to_unit_code in court)
        for r in case.referrals
    )


def may_reveal(context: TransitionContext, case: CaseSnapshot) -> bool:
    """Those working the case: its unit and supervising coordinators, and a court clerk while the
    court has the case. An auditor audits who saw what and never reads it in full."""
    if handles_case(context):
        return True
    return is_court_clerk(context) and court_has_case(case, context.org)
