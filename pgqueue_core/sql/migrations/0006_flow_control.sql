-- pgqueue schema, version 6: flow control — rate limits, circuit breakers and fair claims
-- across queues, all enforced by the claim.
--
-- Why in the claim: a limit a worker keeps for itself holds for that one process; every
-- worker, on every host, and every server answering remote workers, goes through
-- claim_tasks, so a limit kept there holds across all of them at once. The state each
-- limit needs (a token bucket, a breaker) lives in the queue's row, which the claim already
-- locks for a concurrency limit: a queue that uses none of these pays nothing new.

ALTER TABLE {schema}.queue
    -- Rate limit: a token bucket. `rate` tasks may start per second, at most `burst` at once
    -- after a quiet spell (NULL: one second's worth, at least 1). `tokens` is the bucket's
    -- content at `tokens_at` (NULL: never drawn on, so full); the claim refills it from the
    -- elapsed time, takes what it hands out, and stores both back.
    ADD COLUMN rate double precision,
    ADD COLUMN burst integer,
    ADD COLUMN tokens double precision NOT NULL DEFAULT 0,
    ADD COLUMN tokens_at timestamptz,
    -- Claims that found tasks ready but fewer tokens than they asked for (a counter for
    -- /metrics: pgqueue_queue_throttled_claims_total).
    ADD COLUMN throttled bigint NOT NULL DEFAULT 0,
    -- Fair claims: a claim over several queues takes turns, `weight` tasks of a queue per turn.
    ADD COLUMN weight integer NOT NULL DEFAULT 1,
    -- Circuit breaker: `breaker_threshold` consecutive failed attempts (NULL: no breaker)
    -- open it until `breaker_open_until` (now + cooldown): the queue hands out nothing. Once
    -- that has passed it is half-open: one probe task goes out (`breaker_probe`, due back by
    -- `breaker_probe_until`, its lease); the probe's success closes it, its failure opens it
    -- again. `breaker_failures` counts the failures in a row, `breaker_trips` the openings.
    ADD COLUMN breaker_threshold integer,
    ADD COLUMN breaker_cooldown interval NOT NULL DEFAULT interval '30 seconds',
    ADD COLUMN breaker_failures integer NOT NULL DEFAULT 0,
    ADD COLUMN breaker_open_until timestamptz,
    ADD COLUMN breaker_probe bigint,
    ADD COLUMN breaker_probe_until timestamptz,
    ADD COLUMN breaker_trips bigint NOT NULL DEFAULT 0,
    -- NaN and infinity compare greater than any number in PostgreSQL: the upper bound
    -- keeps them out.
    ADD CONSTRAINT queue_rate_check CHECK (rate IS NULL OR (rate > 0 AND rate <= 1e9)),
    ADD CONSTRAINT queue_burst_check CHECK (burst IS NULL OR burst >= 1),
    ADD CONSTRAINT queue_weight_check CHECK (weight BETWEEN 1 AND 1000),
    ADD CONSTRAINT queue_breaker_threshold_check CHECK (
        breaker_threshold IS NULL OR breaker_threshold >= 1),
    ADD CONSTRAINT queue_breaker_cooldown_check CHECK (
        breaker_cooldown >= interval '1 second' AND breaker_cooldown <= interval '1 year');

-- A token bucket's content at p_at: what it held at p_tokens_at, refilled at p_rate per
-- second, never beyond its burst (NULL burst: one second's worth, at least one). A bucket
-- never drawn on is full. Inlined.
CREATE FUNCTION {schema}.queue_tokens(
    p_rate double precision, p_burst integer, p_tokens double precision,
    p_tokens_at timestamptz, p_at timestamptz
) RETURNS double precision LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_tokens_at IS NULL THEN coalesce(p_burst, greatest(1, ceil(p_rate)))
                ELSE least(coalesce(p_burst, greatest(1, ceil(p_rate))),
                           p_tokens + p_rate
                               * greatest(0, extract(epoch FROM p_at - p_tokens_at))) END
$$;

-- A queue's breaker as read: closed, open (handing out nothing until breaker_open_until),
-- or half-open (its cooldown is over: one probe task may go out). Inlined.
CREATE FUNCTION {schema}.queue_breaker(p_open_until timestamptz)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_open_until IS NULL THEN 'closed'
                WHEN p_open_until > now() THEN 'open'
                ELSE 'half-open' END
$$;

-- When a queue's limits let it hand out a task next, whatever its tasks (now: at once):
-- an open breaker at the end of its cooldown, a half-open one whose probe is out when the
-- probe's lease ends (its release wakes the workers sooner), a bucket short of tokens when
-- it holds a twentieth of a second's worth again (at least one, at most its burst): so that
-- idle workers sleep until then instead of polling, and then claim a few tasks at a time
-- rather than all race for each single token (task_next_due).
CREATE FUNCTION {schema}.queue_opens_at(
    p_rate double precision, p_burst integer, p_tokens double precision,
    p_tokens_at timestamptz, p_open_until timestamptz, p_probe_until timestamptz
) RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT greatest(
        now(),
        CASE WHEN p_open_until > now() THEN p_open_until
             WHEN p_open_until IS NOT NULL AND p_probe_until > now() THEN p_probe_until END,
        CASE WHEN p_rate IS NOT NULL THEN p_tokens_at + make_interval(secs => (
            least(coalesce(p_burst, greatest(1, ceil(p_rate))), greatest(1, p_rate / 20))
            - p_tokens) / p_rate) END)
$$;

-- Claim up to p_limit eligible tasks for p_worker from p_queues (NULL: every queue of the
-- namespace), skipping rows other claimers hold. Paused queues give nothing.
--
-- Each queue gives at most its room: a concurrency limit's (limit - tasks it has retained
-- that have not expired), a rate limit's whole tokens, nothing while its breaker is open and
-- one probe when it is half-open. The rows of queues with any of these are locked first, in
-- name order, and their room counted in a later statement, so concurrent claimers see each
-- other's claims and never overshoot; the same statement that retains the tasks debits the
-- buckets and records the probe.
--
-- Fairness: the claim takes turns across queues, `weight` tasks of each queue per turn
-- (within a queue: highest priority, then oldest first); within a turn higher priority goes
-- first, and among equal priorities the queues come in a weighted random order (each queue
-- draws -ln(u)/weight: the smallest wins with probability weight / total), so even
-- one-task claims share out across queues by weight and a backlog in one queue cannot
-- starve another. Within one queue the order is as before.
DROP FUNCTION {schema}.claim_tasks(text, text[], text, integer);
CREATE FUNCTION {schema}.claim_tasks(
    p_namespace text, p_queues text[], p_worker text, p_limit integer
) RETURNS SETOF {schema}.task LANGUAGE plpgsql AS $$
DECLARE
    v_gated text[];       -- queues with a limit, by name
    v_room integer[];     -- what each of them may hand out now
    v_tokens float8[];    -- the bucket of each (rate-limited) one, refilled to v_clock
    v_clock timestamptz;
BEGIN
    SELECT array_agg(l.queue ORDER BY l.queue) INTO v_gated FROM (
        SELECT q.queue FROM {schema}.queue q
        WHERE q.namespace = p_namespace
          AND (p_queues IS NULL OR q.queue = ANY (p_queues))
          AND NOT q.paused
          AND (q.concurrency IS NOT NULL OR q.rate IS NOT NULL
               OR q.breaker_open_until IS NOT NULL)
        ORDER BY q.queue
        FOR NO KEY UPDATE  -- serialises claimers, not inserts
    ) AS l;
    IF v_gated IS NOT NULL THEN
        -- The time the buckets are refilled to is read once the locks are held: a claimer
        -- that waited for them must not refill from before the last debit.
        v_clock := clock_timestamp();
        SELECT array_agg(g.room ORDER BY g.queue), array_agg(g.tokens ORDER BY g.queue)
          INTO v_room, v_tokens
          FROM (
            SELECT q.queue, b.tokens,
                   least(p_limit,
                         CASE WHEN q.concurrency IS NULL THEN p_limit
                              ELSE greatest(q.concurrency - (
                                  SELECT count(*) FROM {schema}.task t
                                   WHERE t.namespace = q.namespace AND t.queue = q.queue
                                     AND t.status = 'retained' AND t.dies_at > now()), 0)
                         END,
                         CASE WHEN q.rate IS NULL THEN p_limit
                              ELSE floor(b.tokens)::integer END,
                         CASE WHEN q.breaker_open_until IS NULL THEN p_limit
                              WHEN q.breaker_open_until > v_clock THEN 0
                              WHEN q.breaker_probe_until > v_clock THEN 0
                              ELSE 1 END) AS room
              FROM {schema}.queue q
             CROSS JOIN LATERAL (SELECT CASE WHEN q.rate IS NOT NULL THEN
                    {schema}.queue_tokens(q.rate, q.burst, q.tokens, q.tokens_at, v_clock)
                    END AS tokens) AS b
             WHERE q.namespace = p_namespace AND q.queue = ANY (v_gated)
          ) AS g;
    END IF;
    RETURN QUERY
    WITH queues AS (
        SELECT q.queue, q.weight,
               coalesce(v_room[array_position(v_gated, q.queue)], p_limit) AS room,
               -ln(1.0 - random()) / q.weight AS draw
        FROM {schema}.queue q
        WHERE q.namespace = p_namespace
          AND (p_queues IS NULL OR q.queue = ANY (p_queues))
          AND NOT q.paused
    ), picked AS (
        SELECT c.id, c.queue
        FROM queues CROSS JOIN LATERAL (
            SELECT s.id, s.priority, queues.queue,
                   row_number() OVER (ORDER BY s.priority DESC, s.id) AS rn
              FROM (
                SELECT t.id, t.priority FROM {schema}.task t
                WHERE t.namespace = p_namespace AND t.queue = queues.queue
                  AND t.status IN ('new', 'retry')
                  AND (t.delayed_at IS NULL OR t.delayed_at <= now())
                  AND t.dies_at > now()
                ORDER BY t.priority DESC, t.id
                LIMIT queues.room
                FOR UPDATE SKIP LOCKED
              ) AS s
        ) AS c
        WHERE queues.room > 0
        ORDER BY (c.rn - 1) / queues.weight, c.priority DESC, queues.draw, c.rn
        LIMIT p_limit
    ), claimed AS (
        UPDATE {schema}.task t
           SET status = 'retained', worker = p_worker, started_at = now(),
               attempt = t.attempt + 1, leased_until = now() + q.lease
          FROM {schema}.queue q
         WHERE t.id = ANY (ARRAY(SELECT picked.id FROM picked))  -- by primary key, never a scan
           AND q.namespace = t.namespace AND q.queue = t.queue
        RETURNING t.*
    ), took AS (
        SELECT g.queue, g.room, g.tokens,
               (SELECT count(*) FROM picked p WHERE p.queue = g.queue) AS n,
               (SELECT min(p.id) FROM picked p WHERE p.queue = g.queue) AS first_id
          FROM unnest(v_gated, v_room, v_tokens) AS g(queue, room, tokens)
    ), debited AS (
        UPDATE {schema}.queue q
           SET tokens = CASE WHEN q.rate IS NULL THEN q.tokens ELSE took.tokens - took.n END,
               tokens_at = CASE WHEN q.rate IS NULL THEN q.tokens_at ELSE v_clock END,
               -- Cut short: the claim took every whole token and more tasks were ready.
               throttled = q.throttled + CASE
                   WHEN q.rate IS NOT NULL AND took.n = floor(took.tokens) AND took.n < p_limit
                        AND EXISTS (
                            SELECT 1 FROM {schema}.task t
                             WHERE t.namespace = q.namespace AND t.queue = q.queue
                               AND t.status IN ('new', 'retry')
                               AND (t.delayed_at IS NULL OR t.delayed_at <= now())
                               AND t.dies_at > now()
                               AND NOT t.id = ANY (ARRAY(SELECT picked.id FROM picked)))
                   THEN 1 ELSE 0 END,
               breaker_probe = CASE WHEN q.breaker_open_until <= v_clock AND took.n > 0
                                    THEN took.first_id ELSE q.breaker_probe END,
               breaker_probe_until = CASE WHEN q.breaker_open_until <= v_clock AND took.n > 0
                                          THEN v_clock + q.lease ELSE q.breaker_probe_until END
          FROM took
         WHERE q.namespace = p_namespace AND q.queue = took.queue
           AND (q.rate IS NOT NULL OR (q.breaker_open_until <= v_clock AND took.n > 0))
    )
    SELECT claimed.* FROM claimed;
END
$$;

-- The one release rule (migration 4), now also keeping each queue's circuit breaker.
-- A failed attempt is one that ended in failure: the handler's (or a REST release's), or its
-- lease lapsing (lease rescue releases through here); a cancelled task is neither success nor
-- failure. Per queue with a breaker, from this batch's outcomes in the order given:
--   closed: a success resets the count of failures in a row to the failures after the last
--           success; failures add up; reaching the threshold opens it for the cooldown;
--   open: outcomes of tasks claimed before it opened change nothing;
--   half-open: the probe's success closes it (and wakes the queue's workers), its failure
--           opens it again, its cancellation lets another probe out.
-- Queues without a breaker cost one aggregate over the batch and nothing else.
DROP FUNCTION {schema}.release_tasks(text, text, bigint[], integer[], boolean[], json[]);
CREATE FUNCTION {schema}.release_tasks(
    p_namespace text, p_worker text, p_ids bigint[], p_attempts integer[], p_oks boolean[],
    p_results json[]
) RETURNS SETOF {schema}.task LANGUAGE plpgsql SET enable_nestloop = off AS $$
BEGIN
    -- A namespace without any breaker (the common case) releases as migration 4 did: the
    -- outcome bookkeeping below costs a quarter more per release.
    IF NOT EXISTS (SELECT 1 FROM {schema}.queue q
                    WHERE q.namespace = p_namespace AND q.breaker_threshold IS NOT NULL) THEN
        RETURN QUERY
        UPDATE {schema}.task AS t
           SET status = CASE WHEN r.ok THEN 'released'
                             WHEN t.cancel_requested THEN 'cancelled'
                             WHEN t.retries > 0 THEN 'retry' ELSE 'failed' END,
               retries = CASE WHEN NOT r.ok AND NOT t.cancel_requested AND t.retries > 0
                              THEN t.retries - 1 ELSE t.retries END,
               delayed_at = CASE WHEN NOT r.ok AND NOT t.cancel_requested AND t.retries > 0
                                 THEN least(t.dies_at, now() + make_interval(
                                     secs => least(1e10, extract(epoch FROM q.retry_delay)
                                         * power(2, least(greatest(t.attempt - 1, 0), 60))
                                         * (1 + random() * 0.1))))
                                 ELSE t.delayed_at END,
               finished_at = CASE WHEN NOT r.ok AND NOT t.cancel_requested AND t.retries > 0
                                  THEN NULL ELSE now() END,
               leased_until = NULL,
               result = r.result
          FROM unnest(p_ids, p_attempts, p_oks, p_results) AS r(id, attempt, ok, result),
               {schema}.queue q
         WHERE t.namespace = p_namespace AND t.id = ANY (p_ids) AND t.id = r.id
           AND (r.attempt IS NULL OR t.attempt = r.attempt)
           AND (p_worker IS NULL OR t.worker = p_worker)
           AND t.status = 'retained' AND t.dies_at > now()
           AND q.namespace = t.namespace AND q.queue = t.queue
        RETURNING t.*;
        RETURN;
    END IF;
    RETURN QUERY
    WITH done AS (
        UPDATE {schema}.task AS t
           SET status = CASE WHEN r.ok THEN 'released'
                             WHEN t.cancel_requested THEN 'cancelled'
                             WHEN t.retries > 0 THEN 'retry' ELSE 'failed' END,
               retries = CASE WHEN NOT r.ok AND NOT t.cancel_requested AND t.retries > 0
                              THEN t.retries - 1 ELSE t.retries END,
               delayed_at = CASE WHEN NOT r.ok AND NOT t.cancel_requested AND t.retries > 0
                                 THEN least(t.dies_at, now() + make_interval(
                                     secs => least(1e10, extract(epoch FROM q.retry_delay)
                                         * power(2, least(greatest(t.attempt - 1, 0), 60))
                                         * (1 + random() * 0.1))))
                                 ELSE t.delayed_at END,
               finished_at = CASE WHEN NOT r.ok AND NOT t.cancel_requested AND t.retries > 0
                                  THEN NULL ELSE now() END,
               leased_until = NULL,
               result = r.result
          FROM unnest(p_ids, p_attempts, p_oks, p_results) WITH ORDINALITY
                   AS r(id, attempt, ok, result, ord),
               {schema}.queue q
         WHERE t.namespace = p_namespace AND t.id = ANY (p_ids) AND t.id = r.id
           AND (r.attempt IS NULL OR t.attempt = r.attempt)
           AND (p_worker IS NULL OR t.worker = p_worker)
           AND t.status = 'retained' AND t.dies_at > now()
           AND q.namespace = t.namespace AND q.queue = t.queue
        RETURNING t.*, r.ok AS ok_, r.ord AS ord_, q.breaker_threshold IS NOT NULL AS guarded_
    ), outcomes AS (
        SELECT d.queue,
               count(*) FILTER (WHERE d.ok_) AS successes,
               count(*) FILTER (WHERE NOT d.ok_ AND d.status <> 'cancelled') AS failures,
               count(*) FILTER (WHERE NOT d.ok_ AND d.status <> 'cancelled'
                                  AND d.ord_ > coalesce(s.last_ok, 0)) AS trailing,
               coalesce(array_agg(d.id) FILTER (WHERE d.ok_), '{}') AS ok_ids,
               coalesce(array_agg(d.id) FILTER (WHERE NOT d.ok_ AND d.status <> 'cancelled'),
                        '{}') AS failed_ids,
               array_agg(d.id) AS ids
          FROM done d
          LEFT JOIN (SELECT d2.queue, max(d2.ord_) AS last_ok FROM done d2
                      WHERE d2.guarded_ AND d2.ok_ GROUP BY d2.queue) AS s ON s.queue = d.queue
         WHERE d.guarded_
         GROUP BY d.queue
    ), kept AS (
        -- Every value is computed from the row as locked (the latest version, should another
        -- release have changed it meanwhile), never from this statement's snapshot.
        UPDATE {schema}.queue q
           SET (breaker_failures, breaker_open_until, breaker_probe, breaker_probe_until,
                breaker_trips) = (
               SELECT n.failures,
                      CASE WHEN n.opens THEN now() + q.breaker_cooldown
                           WHEN n.closes THEN NULL ELSE q.breaker_open_until END,
                      CASE WHEN n.settled THEN NULL ELSE q.breaker_probe END,
                      CASE WHEN n.settled THEN NULL ELSE q.breaker_probe_until END,
                      q.breaker_trips + CASE WHEN n.opens THEN 1 ELSE 0 END
                 FROM (SELECT f.failures,
                              (s.closed AND f.failures >= q.breaker_threshold)
                                  OR (s.half_open AND s.probe_failed) AS opens,
                              s.half_open AND s.probe_ok AS closes,
                              s.half_open AND s.probe_back AS settled
                         FROM (SELECT q.breaker_open_until IS NULL AS closed,
                                      q.breaker_open_until <= now() AS half_open,
                                      q.breaker_probe = ANY (o.ok_ids) AS probe_ok,
                                      q.breaker_probe = ANY (o.failed_ids) AS probe_failed,
                                      q.breaker_probe = ANY (o.ids) AS probe_back) AS s
                        CROSS JOIN LATERAL (SELECT CASE
                              WHEN s.closed AND o.successes > 0 THEN o.trailing
                              WHEN s.closed THEN q.breaker_failures + o.failures
                              WHEN s.half_open AND s.probe_ok THEN 0
                              WHEN s.half_open AND s.probe_failed THEN q.breaker_failures + 1
                              ELSE q.breaker_failures END::integer AS failures) AS f) AS n)
          FROM outcomes o
         WHERE q.namespace = p_namespace AND q.queue = o.queue
           AND q.breaker_threshold IS NOT NULL
           AND ((q.breaker_open_until IS NULL AND (o.failures > 0 OR q.breaker_failures > 0))
                OR (q.breaker_open_until <= now() AND q.breaker_probe = ANY (o.ids)))
        RETURNING q.queue, q.breaker_open_until, q.breaker_failures, q.breaker_probe
    ), woke AS (
        -- Closed again (or a probe back without a verdict): the queue's tasks may go out.
        SELECT pg_notify('{schema}_task', p_namespace || '/' || k.queue)
          FROM kept k
         WHERE (k.breaker_open_until IS NULL AND k.breaker_failures = 0)
            OR (k.breaker_open_until <= now() AND k.breaker_probe IS NULL)
    )
    -- The table's columns, named (a whole-row value built per task and taken apart again
    -- cost a quarter more per release).
    SELECT d.id, d.namespace, d.queue, d.payload, d.result, d.worker, d.status, d.priority,
           d.key, d.created_at, d.delayed_at, d.started_at, d.finished_at, d.dies_at,
           d.retries, d.attempt, d.leased_until, d.cancel_requested
      FROM done d
     WHERE (SELECT count(*) FROM woke) >= 0;
END
$$;

