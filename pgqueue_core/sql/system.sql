-- Maintenance across every namespace: expiry, lease rescue, cleanup. Each runs in batches
-- until nothing is left, so no busy queue can outgrow it.

-- name: system_expire :one
-- Store the expired status of up to $1 overdue tasks; returns how many.
WITH overdue AS (
    SELECT id FROM {schema}.task
     WHERE status IN ('new', 'retry', 'retained') AND dies_at <= now()
     LIMIT $1
       FOR UPDATE SKIP LOCKED
), done AS (
    UPDATE {schema}.task AS t
       SET status = 'expired', finished_at = t.dies_at, leased_until = NULL
      FROM overdue WHERE t.id = overdue.id
    RETURNING 1
)
SELECT count(*) FROM done;

-- name: system_rescue :one
-- Tasks whose lease lapsed (worker died or hung): a failed attempt, so retry with backoff,
-- failed when no retries are left, cancelled when a cancel was asked. Up to $1; returns count.
WITH lapsed AS (
    SELECT id FROM {schema}.task
     WHERE status = 'retained' AND leased_until < now() AND dies_at > now()
     LIMIT $1
       FOR UPDATE SKIP LOCKED
), done AS (
    UPDATE {schema}.task AS t
       SET status = o.status, retries = o.retries, delayed_at = o.delayed_at,
           finished_at = o.finished_at, leased_until = NULL,
           result = jsonb_build_object(
               'error', 'LeaseExpired',
               'message', 'the lease of worker ' || coalesce(t.worker, '?') || ' lapsed at '
                          || to_char(t.leased_until AT TIME ZONE 'UTC',
                                     'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'worker', t.worker, 'attempt', t.attempt)
      FROM lapsed
      JOIN {schema}.task AS cur ON cur.id = lapsed.id
      JOIN {schema}.queue q ON q.namespace = cur.namespace AND q.queue = cur.queue
     CROSS JOIN LATERAL {schema}.release_outcome(false, cur.cancel_requested, cur.retries,
           cur.attempt, q.retry_delay, cur.delayed_at, cur.dies_at) AS o
     WHERE t.id = lapsed.id
    RETURNING 1
)
SELECT count(*) FROM done;

-- name: system_cleanup :one
-- Delete up to $1 terminal tasks (per queue) whose queue ttl has passed since they ended.
WITH old AS (
    SELECT t.id FROM {schema}.queue q CROSS JOIN LATERAL (
        SELECT t.id FROM {schema}.task t
         WHERE t.namespace = q.namespace AND t.queue = q.queue
           AND t.status IN ('released', 'failed', 'expired', 'cancelled')
           AND t.finished_at <= now() - q.ttl
         LIMIT $1
    ) AS t
), gone AS (
    DELETE FROM {schema}.task WHERE id IN (SELECT id FROM old) RETURNING 1
)
SELECT count(*) FROM gone;

-- name: system_try_lock :one
-- Take the transaction-scoped lock of one maintenance job, or learn another process has it.
SELECT pg_try_advisory_xact_lock(hashtext('{schema}'), $1::integer);

-- name: system_tables :many
-- Size and dead tuples of pgqueue's tables (for table-health reports).
SELECT relname, n_live_tup, n_dead_tup, pg_total_relation_size(relid) AS bytes,
       last_autovacuum, autovacuum_count
  FROM pg_stat_user_tables
 WHERE schemaname = '{schema}'
 ORDER BY relname;
