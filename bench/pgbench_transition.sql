-- The heart of the service's hottest write as one pgbench transaction: update the case with a
-- version check and insert its hash-chained audit event, in one CTE, one round trip, autocommit,
-- as service/cases/queries.py apply_change does. A real transition also reads the case first and
-- writes its clocks: pgbench_transition_whole.sql adds those (the reference the floor is set on).
-- pgbench cannot carry the version read earlier, so the guard compares with the current version
-- (the same index lookup and re-check under concurrency; a lost race updates and inserts nothing).
-- Each transaction toggles a random case between mediating and suspended, like the HTTP benchmark.
-- Run by `python -m bench` with -D first=1 -D last=N/2: the first half of the seeded cases, each
-- mediating or suspended (the second half is the whole-transition script's).
\set id random(:first, :last)
WITH upd AS (
    UPDATE cases SET unit_code = cases.unit_code, tier = cases.tier, channel = cases.channel,
        state = CASE WHEN state = 'mediating' THEN 'suspended' ELSE 'mediating' END,
        version = cases.version + 1, updated_at = now()
    WHERE cases.id = :id AND cases.version = (SELECT c.version FROM cases c WHERE c.id = :id)
    RETURNING cases.id, cases.version, cases.state, cases.unit_code
), ev AS (
    INSERT INTO case_event (case_id, seq, at, kind, trigger, actor, actor_role, actor_unit_code,
        from_state, to_state, from_unit_code, to_unit_code, reason, payload, prev_hash, hash)
    SELECT upd.id, upd.version, now(), 'transition',
        CASE WHEN upd.state = 'suspended' THEN 'suspend' ELSE 'resume' END,
        'bench-mediator', 'mediator', upd.unit_code,
        CASE WHEN upd.state = 'suspended' THEN 'mediating' ELSE 'suspended' END, upd.state,
        upd.unit_code, upd.unit_code, '当事人申请中止 (benchmark)', '{}'::jsonb,
        '9f2c1e0d8b7a6f5e4d3c2b1a09f8e7d6c5b4a39281706f5e4d3c2b1a09f8e7d6',
        'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90'
    FROM upd RETURNING case_event.id
)
SELECT upd.version FROM upd JOIN ev ON true;
