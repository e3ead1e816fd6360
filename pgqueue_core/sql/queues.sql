-- Queries on queues. Each block: "-- name: <noun>_<verb> :<arity>", a one-line comment, SQL.
-- {schema} is the (validated) schema identifier, substituted once when the file is loaded.

-- name: queue_insert :one
-- Insert a queue with the table's defaults; nothing when it already exists.
-- (Every statement that returns queues adds the breaker as read: closed, open, half-open.)
INSERT INTO {schema}.queue (namespace, queue) VALUES ($1, $2)
ON CONFLICT (namespace, queue) DO NOTHING
RETURNING *, {schema}.queue_breaker(breaker_open_until) AS breaker;

-- name: queue_update :one
-- Change the given fields (NULL: unchanged; concurrency, rate, burst or breaker_threshold 0:
-- none); $3 renames. A new rate or burst starts from a full bucket; removing the breaker
-- closes it.
UPDATE {schema}.queue
   SET queue = coalesce($3::text, queue),
       ttl = coalesce($4::interval, ttl),
       retries = coalesce($5::integer, retries),
       retry_delay = coalesce($6::interval, retry_delay),
       lease = coalesce($7::interval, lease),
       concurrency = CASE WHEN $8::integer IS NULL THEN concurrency
                          WHEN $8::integer = 0 THEN NULL ELSE $8::integer END,
       paused = coalesce($9::boolean, paused),
       rate = CASE WHEN $10::float8 IS NULL THEN rate
                   WHEN $10::float8 = 0 THEN NULL ELSE $10::float8 END,
       burst = CASE WHEN $11::integer IS NULL THEN burst
                    WHEN $11::integer = 0 THEN NULL ELSE $11::integer END,
       tokens_at = CASE WHEN $10::float8 IS NULL AND $11::integer IS NULL THEN tokens_at END,
       weight = coalesce($12::integer, weight),
       breaker_threshold = CASE WHEN $13::integer IS NULL THEN breaker_threshold
                                WHEN $13::integer = 0 THEN NULL ELSE $13::integer END,
       breaker_cooldown = coalesce($14::interval, breaker_cooldown),
       breaker_failures = CASE WHEN $13::integer = 0 THEN 0 ELSE breaker_failures END,
       breaker_open_until = CASE WHEN $13::integer = 0 THEN NULL ELSE breaker_open_until END,
       breaker_probe = CASE WHEN $13::integer = 0 THEN NULL ELSE breaker_probe END,
       breaker_probe_until = CASE WHEN $13::integer = 0 THEN NULL
                                  ELSE breaker_probe_until END
 WHERE namespace = $1 AND queue = $2
RETURNING *, {schema}.queue_breaker(breaker_open_until) AS breaker;

-- name: queue_reset_breaker :one
-- Close a queue's breaker and forget its failures (an operator's reset), and wake the
-- queue's workers.
WITH reset AS (
UPDATE {schema}.queue
   SET breaker_failures = 0, breaker_open_until = NULL, breaker_probe = NULL,
       breaker_probe_until = NULL
 WHERE namespace = $1 AND queue = $2
RETURNING *, {schema}.queue_breaker(breaker_open_until) AS breaker
), woke AS MATERIALIZED (SELECT pg_notify('{schema}_task', $1 || '/' || $2))
SELECT reset.* FROM reset, woke;

-- name: queue_get :one
-- One queue of the namespace.
SELECT *, {schema}.queue_breaker(breaker_open_until) AS breaker FROM {schema}.queue WHERE namespace = $1 AND queue = $2;

-- name: queue_list :many
-- A page of the namespace's queues by name, with the total count.
SELECT *, {schema}.queue_breaker(breaker_open_until) AS breaker, count(*) OVER () AS total FROM {schema}.queue
 WHERE namespace = $1
 ORDER BY queue
OFFSET $2 LIMIT $3;

-- name: queue_count :value
-- How many queues the namespace has (for a page past the end).
SELECT count(*) FROM {schema}.queue WHERE namespace = $1;

-- name: queue_delete :one
-- Delete a queue and (by cascade) its tasks; returns the deleted queue.
DELETE FROM {schema}.queue WHERE namespace = $1 AND queue = $2
RETURNING *, {schema}.queue_breaker(breaker_open_until) AS breaker;

-- name: queue_task_count :value
-- How many tasks a queue holds (what a delete would take with it).
SELECT count(*) FROM {schema}.task WHERE namespace = $1 AND queue = $2;

-- name: queue_stats :many
-- Tasks per queue and status as read (overdue counts as expired), zeros included; every
-- namespace when $1 is NULL.
-- Why this shape: /metrics runs it on every scrape, /stats and the console every second, on a
-- table that may hold millions of rows (released tasks stay for a ttl). The stored counts come
-- from task_count plus the changes not folded yet (task_count_change, kept by triggers on the
-- task table and folded by maintenance every second: migration 7), so their cost depends on
-- the number of queues and on a second's worth of writes, not on the rows kept. Exact: the
-- counts change in the same transactions as the tasks. The "as read" correction then reads
-- only the waiting tasks past dies_at that maintenance has not expired yet, through
-- task_dies_ns_idx (few: it expires them every second), and the retained ones past dies_at,
-- through task_queue_idx (bounded by what workers hold).
-- Before (an index-only count of every queue's entries per status): 106 ms and 10,930 buffers
-- a scrape at 1M rows in 20 queues, proportional to the rows; now 0.3 ms and 104 buffers
-- (docs/operations.md, "What a scrape costs"; tests/core/test_task_counts.py checks that the
-- buffers read do not grow with the table). Counting exactly on every scrape was kept over
-- the planner's estimates because those cannot split the table by queue and status.
WITH stored AS (
    SELECT c.namespace, c.queue, c.status, sum(c.n)::bigint AS n
      FROM (SELECT namespace, queue, status, n FROM {schema}.task_count
            UNION ALL
            SELECT namespace, queue, status, n FROM {schema}.task_count_change) AS c
     WHERE $1::text IS NULL OR c.namespace = $1
     GROUP BY c.namespace, c.queue, c.status
)
SELECT q.namespace, q.queue, s.status,
       coalesce(c.n, 0) + CASE s.status
                 WHEN 'new' THEN -o.new
                 WHEN 'retry' THEN -o.retry
                 WHEN 'retained' THEN -r.n
                 WHEN 'expired' THEN o.new + o.retry + r.n
                 ELSE 0
             END AS count
  FROM {schema}.queue q
 CROSS JOIN LATERAL (
        SELECT count(*) FILTER (WHERE t.status = 'new') AS new,
               count(*) FILTER (WHERE t.status = 'retry') AS retry
          FROM {schema}.task t
         WHERE t.namespace = q.namespace AND t.status IN ('new', 'retry')
           AND t.dies_at <= now() AND t.queue = q.queue) o
 CROSS JOIN LATERAL (
        SELECT count(*) AS n
          FROM {schema}.task t
         WHERE t.namespace = q.namespace AND t.queue = q.queue AND t.status = 'retained'
           AND t.dies_at <= now()) r
 CROSS JOIN unnest(ARRAY['new', 'retry', 'retained', 'released', 'failed', 'expired',
                         'cancelled']) WITH ORDINALITY AS s(status, ord)
  LEFT JOIN stored c
         ON c.namespace = q.namespace AND c.queue = q.queue AND c.status = s.status
 WHERE $1::text IS NULL OR q.namespace = $1
 ORDER BY q.namespace, q.queue, s.ord;

-- name: queue_oldest_ready :many
-- Per queue (every namespace when $1 is NULL): seconds since its oldest ready task became
-- ready (created, or due after a delay or backoff), 0 when none is; the figure operators
-- alert on. As in queue_summaries, the first ready task by id of each waiting status stands
-- for its status: two short index scans per queue however long the backlog.
SELECT q.namespace, q.queue,
       coalesce(extract(epoch FROM now() - (SELECT min(r.ready_since) FROM (
            (SELECT coalesce(t.delayed_at, t.created_at) AS ready_since FROM {schema}.task t
              WHERE t.namespace = q.namespace AND t.queue = q.queue AND t.status = 'new'
                AND t.dies_at > now() AND (t.delayed_at IS NULL OR t.delayed_at <= now())
              ORDER BY t.id LIMIT 1)
            UNION ALL
            (SELECT coalesce(t.delayed_at, t.created_at) FROM {schema}.task t
              WHERE t.namespace = q.namespace AND t.queue = q.queue AND t.status = 'retry'
                AND t.dies_at > now() AND t.delayed_at <= now()
              ORDER BY t.id LIMIT 1)) AS r)), 0)::float8 AS seconds
  FROM {schema}.queue q
 WHERE $1::text IS NULL OR q.namespace = $1
 ORDER BY q.namespace, q.queue;

-- name: queue_flow :many
-- Per queue with a rate limit or a circuit breaker (every namespace when $1 is NULL): its
-- rate, the claims its rate cut short, its breaker as read and how often it opened.
SELECT q.namespace, q.queue, q.rate, q.throttled, q.breaker_threshold IS NOT NULL AS guarded,
       {schema}.queue_breaker(q.breaker_open_until) AS breaker, q.breaker_trips
  FROM {schema}.queue q
 WHERE ($1::text IS NULL OR q.namespace = $1)
   AND (q.rate IS NOT NULL OR q.throttled > 0 OR q.breaker_threshold IS NOT NULL
        OR q.breaker_trips > 0 OR q.breaker_open_until IS NOT NULL)
 ORDER BY q.namespace, q.queue;

-- name: queue_summaries :many
-- Per queue of the namespace: paused, and since when its oldest ready task has been ready
-- (created, or due after a delay or backoff); the first ready task by id of each waiting
-- status stands for its status, so a huge backlog costs two short index scans.
SELECT q.queue, q.paused, q.rate, q.breaker_open_until,
       {schema}.queue_breaker(q.breaker_open_until) AS breaker,
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
