-- The whole of a transition's database work for the HTTP benchmark's suspend/resume, at its most
-- compact: two autocommit round trips. First the read the decision is made on (the case, its
-- parties and clocks as JSON, the last event's hash for the chain), then one statement writing the
-- case with a version check, its audit event and the clock it pauses or resumes, answering with
-- the case and the clock as written. The service itself writes in a transaction of a few
-- statements (service/cases/writer.py); this script is kept as it was so that the floor
-- (transitions over HTTP >= 15 % of this rate, docs/benchmarks.md) compares across runs. pgbench carries the version read in the first step into the
-- second (\gset), as the service does. The due date of a resumed clock is moved in SQL here; the
-- service computes it in Python from working-day calendars and sends it.
-- Run by `python -m bench` with -D first=N/2+1 -D last=N: the second half of the seeded cases, each
-- with one clock, running while the case mediates and paused while it is suspended.
\set id random(:first, :last)
SELECT cases.id, cases.number, cases.dispute_type, cases.summary, cases.location_code, cases.amount_yuan,
    cases.people_involved, cases.flag_cross_area, cases.flag_criminal_risk, cases.flag_group_dispute,
    cases.flag_repeat_petition, cases.flag_minor, cases.flag_health, cases.flag_financial, cases.sensitive,
    cases.source, cases.risk, cases.unit_code, cases.tier, cases.channel, cases.state, cases.outcome,
    cases.termination_reason, cases.returns_to_code, cases.court_linked, cases.priority, cases.queued_at,
    cases.claimed_by, cases.lease_expires_at, cases.court_procedure, cases.court_case_number, cases.triage,
    cases.agreement, cases.registered_by, cases.registered_unit_code, cases.version, cases.created_at,
    cases.updated_at, cases.closed_at,
    (SELECT coalesce(json_agg(json_build_object('id', party.id, 'name', party.name, 'role', party.role,
        'kind', party.kind, 'id_type', party.id_type, 'id_number', party.id_number, 'phone', party.phone,
        'address', party.address) ORDER BY party.id), '[]'::json)
     FROM party WHERE party.case_id = cases.id) AS parties,
    (SELECT coalesce(json_agg(json_build_object('id', deadline.id, 'kind', deadline.kind,
        'unit_code', deadline.unit_code, 'status', deadline.status, 'started_at', deadline.started_at,
        'due_at', deadline.due_at, 'warn_at', deadline.warn_at, 'paused_at', deadline.paused_at,
        'breached_at', deadline.breached_at, 'ended_at', deadline.ended_at, 'extensions', deadline.extensions,
        'warnings', deadline.warnings) ORDER BY deadline.id), '[]'::json)
     FROM deadline WHERE deadline.case_id = cases.id) AS deadlines,
    (SELECT case_event.hash FROM case_event
     WHERE case_event.case_id = cases.id AND case_event.seq = cases.version) AS last_event_hash
FROM cases WHERE cases.id = :id
\gset read_
WITH upd AS (
    UPDATE cases SET unit_code = :read_unit_code, tier = :read_tier, channel = :read_channel,
        state = CASE WHEN :read_state = 'mediating' THEN 'suspended' ELSE 'mediating' END,
        version = cases.version + 1, updated_at = now()
    WHERE cases.id = :id AND cases.version = :read_version
    RETURNING cases.*
), ev AS (
    INSERT INTO case_event (case_id, seq, at, kind, trigger, actor, actor_role, actor_unit_code,
        from_state, to_state, from_unit_code, to_unit_code, reason, payload, prev_hash, hash)
    SELECT upd.id, upd.version, now(), 'transition',
        CASE WHEN upd.state = 'suspended' THEN 'suspend' ELSE 'resume' END,
        'bench-mediator', 'mediator', upd.unit_code, :read_state, upd.state,
        upd.unit_code, upd.unit_code, '当事人申请中止 (benchmark)', '{}'::jsonb,
        '9f2c1e0d8b7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6',
        'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90'
    FROM upd RETURNING case_event.id
), clock AS (
    UPDATE deadline SET
        status = CASE WHEN upd.state = 'suspended' THEN 'paused' ELSE 'active' END,
        paused_at = CASE WHEN upd.state = 'suspended' THEN now() END,
        due_at = CASE WHEN upd.state = 'suspended' THEN deadline.due_at
            ELSE deadline.due_at + (now() - deadline.paused_at) END,
        warn_at = NULL
    FROM upd
    WHERE deadline.case_id = upd.id
        AND deadline.status = CASE WHEN upd.state = 'suspended' THEN 'active' ELSE 'paused' END
    RETURNING deadline.*
)
SELECT upd.*,
    (SELECT coalesce(json_agg(json_build_object('id', clock.id, 'kind', clock.kind,
        'unit_code', clock.unit_code, 'status', clock.status, 'started_at', clock.started_at,
        'due_at', clock.due_at, 'warn_at', clock.warn_at, 'paused_at', clock.paused_at,
        'breached_at', clock.breached_at, 'ended_at', clock.ended_at, 'extensions', clock.extensions,
        'warnings', clock.warnings) ORDER BY clock.id), '[]'::json) FROM clock) AS changed_deadlines
FROM upd JOIN ev ON true;
