-- Maintenance: expiry, lease rescue, cleanup, one namespace at a time (every statement
-- that writes task rows names its namespace). Each runs in batches until nothing is left,
-- so no busy queue can outgrow it.

-- name: system_namespaces :many
-- Every namespace that owns a queue (the ones maintenance has work in).
SELECT DISTINCT namespace FROM {schema}.queue ORDER BY namespace;

-- name: system_expire :many
-- Store the expired status of up to $2 overdue tasks of namespace $1; returns each (queue,
-- id, attempt).
-- Waiting tasks come from task_dies_ns_idx, retained ones per queue from task_queue_idx
-- (few: workers hold them).
WITH overdue AS (
    (SELECT t.id FROM {schema}.task t
      WHERE t.namespace = $1 AND t.status IN ('new', 'retry') AND t.dies_at <= now()
      LIMIT $2)
    UNION ALL
    (SELECT r.id FROM {schema}.queue q CROSS JOIN LATERAL (
        SELECT t.id FROM {schema}.task t
         WHERE t.namespace = q.namespace AND t.queue = q.queue AND t.status = 'retained'
           AND t.dies_at <= now()) AS r
      WHERE q.namespace = $1
      LIMIT $2)
), locked AS (
    SELECT t.id FROM {schema}.task t
     WHERE t.namespace = $1 AND t.id IN (SELECT id FROM overdue)
       AND t.status IN ('new', 'retry', 'retained') AND t.dies_at <= now()
     LIMIT $2
       FOR UPDATE SKIP LOCKED
), done AS (
    UPDATE {schema}.task AS t
       SET status = 'expired', finished_at = t.dies_at, leased_until = NULL
      FROM locked WHERE t.namespace = $1 AND t.id = locked.id
    RETURNING t.queue, t.id, t.attempt
)
SELECT * FROM done;

-- name: system_rescue :many
-- Tasks of namespace $1 whose lease lapsed (worker died or hung): a failed attempt through
-- the one release rule (retry with backoff, failed when no retries are left, cancelled when
-- a cancel was asked), with a LeaseExpired result. Up to $2; returns each (queue, id,
-- attempt, new status).
WITH lapsed AS (
    SELECT t.id, t.attempt, t.worker, t.leased_until FROM {schema}.task t
     WHERE t.namespace = $1 AND t.id IN (
           SELECT r.id FROM {schema}.queue q CROSS JOIN LATERAL (
               SELECT t2.id FROM {schema}.task t2
                WHERE t2.namespace = q.namespace AND t2.queue = q.queue
                  AND t2.status = 'retained' AND t2.leased_until < now()
                  AND t2.dies_at > now()) AS r
            WHERE q.namespace = $1)
       AND t.status = 'retained' AND t.leased_until < now() AND t.dies_at > now()
     ORDER BY t.id
     LIMIT $2
       FOR UPDATE SKIP LOCKED
), batch AS (
    SELECT array_agg(l.id ORDER BY l.id) AS ids,
           array_agg(l.attempt ORDER BY l.id) AS attempts,
           array_agg(false) AS oks,
           array_agg(json_build_object(
               'error', 'LeaseExpired',
               'message', 'the lease of worker ' || coalesce(l.worker, '?') || ' lapsed at '
                          || to_char(l.leased_until AT TIME ZONE 'UTC',
                                     'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
               'worker', l.worker, 'attempt', l.attempt) ORDER BY l.id) AS results
      FROM lapsed l
)
SELECT r.queue, r.id, r.attempt, r.status
  FROM batch,
       LATERAL {schema}.release_tasks($1, NULL, batch.ids, batch.attempts, batch.oks,
                                      batch.results) AS r;

-- name: system_cleanup :many
-- Delete up to $2 terminal tasks of namespace $1 whose queue ttl has passed since they
-- ended, oldest first; returns their ids (task_finished_ns_idx, bounded by the namespace's shortest ttl; each
-- task checked against its own).
WITH old AS (
    SELECT t.id FROM {schema}.task t
      JOIN {schema}.queue q ON q.namespace = t.namespace AND q.queue = t.queue
     WHERE t.namespace = $1 AND t.status IN ('released', 'failed', 'expired', 'cancelled')
       AND t.finished_at <= now() - (SELECT min(ttl) FROM {schema}.queue WHERE namespace = $1)
       AND t.finished_at <= now() - q.ttl
     ORDER BY t.finished_at
     LIMIT $2
), gone AS (
    DELETE FROM {schema}.task WHERE namespace = $1 AND id IN (SELECT id FROM old) RETURNING id
)
SELECT id FROM gone;

-- name: system_try_lock :value
-- Take the transaction-scoped lock of one maintenance job, or learn another process has it.
SELECT pg_try_advisory_xact_lock(hashtext('{schema}'), $1::integer);

-- name: system_tables :many
-- Size and dead tuples of pgqueue's tables (for table-health reports).
SELECT relname, n_live_tup, n_dead_tup, pg_total_relation_size(relid) AS bytes,
       last_autovacuum, autovacuum_count
  FROM pg_stat_user_tables
 WHERE schemaname = '{schema}'
 ORDER BY relname;

-- name: system_watched :many
-- The namespaces somebody watches right now ('*': every namespace).
SELECT DISTINCT namespace FROM {schema}.watcher WHERE until > now();

-- name: system_watch :exec
-- Watcher $1 watches namespaces $2 ('*': all) for $3 more: its rows are these, no others.
WITH gone AS (
    DELETE FROM {schema}.watcher WHERE id = $1 AND namespace <> ALL ($2::text[])
)
INSERT INTO {schema}.watcher (id, namespace, until)
SELECT $1, n, now() + $3::interval FROM unnest($2::text[]) AS n
ON CONFLICT (id, namespace) DO UPDATE SET until = excluded.until;

-- name: system_unwatch :exec
-- Watcher $1 stops watching (lapsed rows of others go too).
DELETE FROM {schema}.watcher WHERE id = $1 OR until < now() - interval '1 hour';

-- name: system_publish :exec
-- Send a batch of changes (compact JSON, see events.py) on the events channel.
SELECT pg_notify('{schema}_events', $1);

-- name: system_fold_counts :value
-- Fold the task count changes the triggers appended into task_count (migration 7); returns
-- how many change rows were folded. A change row is either still appended or already folded
-- for any one snapshot, so readers count it once; concurrent folds skip each other's rows.
WITH moved AS (
    DELETE FROM {schema}.task_count_change RETURNING namespace, queue, status, n
), folded AS (
    INSERT INTO {schema}.task_count AS c (namespace, queue, status, n)
    SELECT namespace, queue, status, sum(n) FROM moved GROUP BY 1, 2, 3 ORDER BY 1, 2, 3
    ON CONFLICT (namespace, queue, status) DO UPDATE SET n = c.n + excluded.n
)
SELECT count(*) FROM moved;

-- name: system_drop_counts :exec
-- Drop the zero counts of queues that no longer exist (deleted or renamed).
DELETE FROM {schema}.task_count c
 WHERE c.n = 0
   AND NOT EXISTS (SELECT FROM {schema}.queue q
                    WHERE q.namespace = c.namespace AND q.queue = c.queue);

-- name: system_vacuum_due :many
-- pgqueue's churning tables that hold more dead row versions than their autovacuum threshold
-- (migration 1's: 1,000 + 2 % of the rows) and that this role may vacuum (it owns them, or
-- is a member of the owner role): what autovacuum would vacuum if it visited more often than
-- its server-wide naptime.
SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
 WHERE s.schemaname = '{schema}' AND s.relname IN ('task', 'task_count_change')
   AND s.n_dead_tup > 1000 + 0.02 * greatest(c.reltuples, 0)
   AND pg_has_role(c.relowner, 'USAGE')
 ORDER BY s.relname;

-- name: system_vacuum_task :exec
-- Vacuum the task table, unless a vacuum (autovacuum's, or another process's) is under way.
VACUUM (SKIP_LOCKED) {schema}.task;

-- name: system_vacuum_task_count_change :exec
-- Vacuum the table of count changes, unless a vacuum is under way.
VACUUM (SKIP_LOCKED) {schema}.task_count_change;
