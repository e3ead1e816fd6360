-- Queries on queues. Each block: "-- name: <noun>_<verb> :<arity>", a one-line comment, SQL.
-- {schema} is the (validated) schema identifier, substituted once when the file is loaded.

-- name: queue_insert :one
-- Insert a queue with the table's defaults; nothing when it already exists.
INSERT INTO {schema}.queue (namespace, queue) VALUES ($1, $2)
ON CONFLICT (namespace, queue) DO NOTHING
RETURNING *;

-- name: queue_update :one
-- Change the given fields (NULL: unchanged; concurrency 0: no limit); $3 renames.
UPDATE {schema}.queue
   SET queue = coalesce($3::text, queue),
       ttl = coalesce($4::interval, ttl),
       retries = coalesce($5::integer, retries),
       retry_delay = coalesce($6::interval, retry_delay),
       lease = coalesce($7::interval, lease),
       concurrency = CASE WHEN $8::integer IS NULL THEN concurrency
                          WHEN $8::integer = 0 THEN NULL ELSE $8::integer END,
       paused = coalesce($9::boolean, paused)
 WHERE namespace = $1 AND queue = $2
RETURNING *;

-- name: queue_get :one
-- One queue of the namespace.
SELECT * FROM {schema}.queue WHERE namespace = $1 AND queue = $2;

-- name: queue_list :many
-- A page of the namespace's queues by name, with the total count.
SELECT *, count(*) OVER () AS total FROM {schema}.queue
 WHERE namespace = $1
 ORDER BY queue
OFFSET $2 LIMIT $3;

-- name: queue_count :value
-- How many queues the namespace has (for a page past the end).
SELECT count(*) FROM {schema}.queue WHERE namespace = $1;

-- name: queue_delete :one
-- Delete a queue and (by cascade) its tasks; returns the deleted queue.
DELETE FROM {schema}.queue WHERE namespace = $1 AND queue = $2 RETURNING *;

-- name: queue_task_count :value
-- How many tasks a queue holds (what a delete would take with it).
SELECT count(*) FROM {schema}.task WHERE namespace = $1 AND queue = $2;

-- name: queue_stats :many
-- Tasks per queue and status as read (overdue counts as expired), zeros included;
-- every namespace when $1 is NULL.
WITH counts AS (
    SELECT t.namespace, t.queue, {schema}.task_status(t.status, t.dies_at) AS status,
           count(*) AS n
      FROM {schema}.task t
     WHERE $1::text IS NULL OR t.namespace = $1
     GROUP BY 1, 2, 3
)
SELECT q.namespace, q.queue, s.status, coalesce(c.n, 0) AS count
  FROM {schema}.queue q
 CROSS JOIN unnest(ARRAY['new', 'retry', 'retained', 'released', 'failed', 'expired',
                         'cancelled']) WITH ORDINALITY AS s(status, ord)
  LEFT JOIN counts c ON c.namespace = q.namespace AND c.queue = q.queue AND c.status = s.status
 WHERE $1::text IS NULL OR q.namespace = $1
 ORDER BY q.namespace, q.queue, s.ord;

-- name: queue_summaries :many
-- Per queue of the namespace: paused, and since when its oldest ready task has been ready
-- (created, or due after a delay or backoff); the first ready task by id of each waiting
-- status stands for its status, so a huge backlog costs two short index scans.
SELECT q.queue, q.paused,
       (SELECT min(r.ready_since) FROM (
            (SELECT coalesce(t.delayed_at, t.created_at) AS ready_since FROM {schema}.task t
              WHERE t.namespace = q.namespace AND t.queue = q.queue AND t.status = 'new'
                AND t.dies_at > now() AND (t.delayed_at IS NULL OR t.delayed_at <= now())
              ORDER BY t.id LIMIT 1)
            UNION ALL
            (SELECT coalesce(t.delayed_at, t.created_at) FROM {schema}.task t
              WHERE t.namespace = q.namespace AND t.queue = q.queue AND t.status = 'retry'
                AND t.dies_at > now() AND t.delayed_at <= now()
              ORDER BY t.id LIMIT 1)) AS r) AS oldest
  FROM {schema}.queue q
 WHERE q.namespace = $1
 ORDER BY q.queue;

-- name: namespace_list :many
-- Every namespace that owns a queue or a ticker, sorted.
SELECT namespace FROM {schema}.queue
UNION
SELECT namespace FROM {schema}.ticker
ORDER BY 1;
