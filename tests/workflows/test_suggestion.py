"""The suggestion of mediators for a case: pure scoring, no database."""

from __future__ import annotations

from workflows.suggestion import Candidate, CaseNeeds, Why, rank
from workflows.vocab import DisputeType

NEIGHBOUR = CaseNeeds(dispute_type=DisputeType.NEIGHBOUR)


def candidate(mediator_id: int, name: str, **kw: object) -> Candidate:
    return Candidate(mediator_id, name, **kw)  # type: ignore[arg-type]


def test_a_specialist_outranks_a_generalist_with_the_same_load() -> None:
    ranked = rank(
        [
            candidate(1, "甲", specialties=frozenset({"CONTRACT"})),
            candidate(2, "乙", specialties=frozenset({"NEIGHBOUR"})),
        ],
        NEIGHBOUR,
    )

    assert [s.mediator_id for s in ranked] == [2, 1]
    assert [r.why for r in ranked[0].reasons] == [Why.specialty, Why.load]
    assert ranked[1].reasons[0].text() == "不擅长此类纠纷"


def test_a_lighter_load_breaks_a_tie_and_its_reason_counts_the_cases() -> None:
    ranked = rank([candidate(1, "甲", load=6), candidate(2, "乙", load=1)], NEIGHBOUR)

    assert [s.mediator_id for s in ranked] == [2, 1]
    assert ranked[0].reasons[-1].text() == "在办案件 1 件"
    assert ranked[0].score > ranked[1].score


def test_a_heavy_load_never_scores_below_zero() -> None:
    (only,) = rank([candidate(1, "甲", load=40)], NEIGHBOUR)

    assert only.score == 0.0 and not only.excluded


def test_language_counts_only_when_the_parties_need_one() -> None:
    speaker = candidate(1, "甲", languages=frozenset({"吴语"}))
    other = candidate(2, "乙", languages=frozenset({"普通话"}))

    unrecorded = rank([speaker, other], NEIGHBOUR)
    needed = rank([other, speaker], CaseNeeds(DisputeType.NEIGHBOUR, languages=frozenset({"吴语"})))

    assert all(Why.language not in {r.why for r in s.reasons} for s in unrecorded)
    assert [s.mediator_id for s in needed] == [1, 2]
    assert Why.no_language in {r.why for r in needed[1].reasons}


def test_a_barred_mediator_and_one_matching_a_party_are_excluded_with_why() -> None:
    needs = CaseNeeds(
        DisputeType.NEIGHBOUR,
        party_indexes=frozenset({"idx-phone"}),
        barred=frozenset({1}),
        assigned=frozenset({4}),
    )
    ranked = rank(
        [
            candidate(1, "甲", specialties=frozenset({"NEIGHBOUR"})),
            candidate(2, "乙", blind_indexes=frozenset({"idx-phone"}), specialties=frozenset({"NEIGHBOUR"})),
            candidate(3, "丙", load=9),
            candidate(4, "丁"),
        ],
        needs,
    )

    assert ranked[0].mediator_id == 3 and not ranked[0].excluded
    by_id = {s.mediator_id: s for s in ranked}
    assert [r.why for r in by_id[1].reasons] == [Why.barred]
    assert [r.why for r in by_id[2].reasons] == [Why.conflict]
    assert [r.why for r in by_id[4].reasons] == [Why.assigned]
    assert all(by_id[i].excluded for i in (1, 2, 4))


def test_the_order_is_stable_by_name_when_everything_else_is_equal() -> None:
    ranked = rank([candidate(2, "乙"), candidate(1, "甲")], NEIGHBOUR)

    assert [s.name for s in ranked] == sorted(["甲", "乙"])
