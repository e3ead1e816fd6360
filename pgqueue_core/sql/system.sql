-- Maintenance across every namespace: expiry, lease rescue, cleanup. Each runs in batches
-- until nothing is left, so no busy queue can outgrow it.

-- name: system_expire :one
-- Store the expired status of up to $1 overdue tasks; returns how many. Waiting tasks come
-- from task_dies_idx, retained ones per queue from task_queue_idx (few: workers hold them).
WITH overdue AS (
    (SELECT t.id FROM {schema}.task t
      WHERE t.status IN ('new', 'retry') AND t.dies_at <= now()
      LIMIT $1)
    UNION ALL
    (SELECT r.id FROM {schema}.queue q CROSS JOIN LATERAL (
        SELECT t.id FROM {schema}.task t
         WHERE t.namespace = q.namespace AND t.queue = q.queue AND t.status = 'retained'
           AND t.dies_at <= now()) AS r
      LIMIT $1)
), locked AS (
    SELECT t.id FROM {schema}.task t
     WHERE t.id IN (SELECT id FROM overdue)
       AND t.status IN ('new', 'retry', 'retained') AND t.dies_at <= now()
     LIMIT $1
       FOR UPDATE SKIP LOCKED
), done AS (
    UPDATE {schema}.task AS t
       SET status = 'expired', finished_at = t.dies_at, leased_until = NULL
      FROM locked WHERE t.id = locked.id
    RETURNING 1
)
SELECT count(*) FROM done;

-- name: system_rescue :one
-- Tasks whose lease lapsed (worker died or hung): a failed attempt, so retry with backoff,
-- failed when no retries are left, cancelled when a cancel was asked. Up to $1; returns count.
WITH lapsed AS (
    SELECT t.id FROM {schema}.task t
     WHERE t.id IN (
           SELECT r.id FROM {schema}.queue q CROSS JOIN LATERAL (
               SELECT t2.id FROM {schema}.task t2
                WHERE t2.namespace = q.namespace AND t2.queue = q.queue
                  AND t2.status = 'retained' AND t2.leased_until < now()
                  AND t2.dies_at > now()) AS r)
       AND t.status = 'retained' AND t.leased_until < now() AND t.dies_at > now()
     LIMIT $1
       FOR UPDATE SKIP LOCKED
), done AS (
    UPDATE {schema}.task AS t
       SET {release_set(false)},
           result = json_build_object(
               'error', 'LeaseExpired',
               'message', 'the lease of worker ' || coalesce(t.worker, '?') || ' lapsed at '
                          || to_char(t.leased_until AT TIME ZONE 'UTC',
                                     'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'worker', t.worker, 'attempt', t.attempt)
      FROM lapsed, {schema}.queue q
     WHERE t.id = lapsed.id AND q.namespace = t.namespace AND q.queue = t.queue
    RETURNING 1
)
SELECT count(*) FROM done;

-- name: system_cleanup :one
-- Delete up to $1 terminal tasks whose queue ttl has passed since they ended, oldest first
-- (task_finished_idx, bounded by the shortest ttl; each task checked against its own).
WITH old AS (
    SELECT t.id FROM {schema}.task t
      JOIN {schema}.queue q ON q.namespace = t.namespace AND q.queue = t.queue
     WHERE t.status IN ('released', 'failed', 'expired', 'cancelled')
       AND t.finished_at <= now() - (SELECT min(ttl) FROM {schema}.queue)
       AND t.finished_at <= now() - q.ttl
     ORDER BY t.finished_at
     LIMIT $1
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
