-- Queries on tasks. Reads select from the view task_read (status as read: a task whose
-- dies_at has passed reads as expired even before maintenance stores it); writes return the
-- table's row, which for a task that is not overdue is the row as read (migration 4).

-- name: task_insert :one
-- Insert one task into a queue (none if the queue is missing or the key is live), and wake
-- the queue's workers (notifications are sent at commit, never for a rolled-back insert).
WITH ins AS (
INSERT INTO {schema}.task AS t
       (namespace, queue, payload, delayed_at, dies_at, retries, priority, key)
SELECT q.namespace, q.queue, $3::json, $4::timestamptz,
       greatest(now(), coalesce($4::timestamptz, now())) + q.ttl, q.retries, $5, $6
  FROM {schema}.queue q
 WHERE q.namespace = $1 AND q.queue = $2
ON CONFLICT (namespace, queue, key) WHERE key IS NOT NULL AND status IN ('new', 'retry', 'retained')
DO NOTHING
RETURNING t.*
), woke AS MATERIALIZED (SELECT pg_notify('{schema}_task', $1 || '/' || $2
        || coalesce('@' || extract(epoch FROM $4::timestamptz), '')))
SELECT ins.* FROM ins, woke;

-- name: task_insert_many :many
-- Insert many tasks into queues $2 (one per task) in one statement, and wake each queue's
-- workers once; returns the id, queue and key of each task inserted, in input order (a key
-- that is live, or repeated in the batch, inserts nothing; a missing queue neither).
WITH ins AS (
INSERT INTO {schema}.task AS t
       (namespace, queue, payload, delayed_at, dies_at, retries, priority, key)
SELECT q.namespace, q.queue, u.payload, u.delayed_at,
       greatest(now(), coalesce(u.delayed_at, now())) + q.ttl, q.retries, u.priority, u.key
  FROM unnest($2::text[], $3::json[], $4::timestamptz[], $5::integer[], $6::text[])
           WITH ORDINALITY AS u(queue, payload, delayed_at, priority, key, ord)
  JOIN {schema}.queue q ON q.namespace = $1 AND q.queue = u.queue
 ORDER BY u.ord
ON CONFLICT (namespace, queue, key) WHERE key IS NOT NULL AND status IN ('new', 'retry', 'retained')
DO NOTHING
RETURNING t.id, t.queue, t.key
), woke AS MATERIALIZED (
    SELECT pg_notify('{schema}_task', $1 || '/' || w.queue
               || CASE WHEN bool_or(w.d IS NULL) THEN '' ELSE '@' || extract(epoch FROM min(w.d)) END)
      FROM unnest($2::text[], $4::timestamptz[]) AS w(queue, d)
     GROUP BY w.queue
)
SELECT ins.id, ins.queue, ins.key FROM ins
 WHERE (SELECT count(*) FROM woke) >= 0
 ORDER BY ins.id;

-- name: task_insert_plain :value
-- Insert many tasks without keys, priorities or delays (the fast path, one wake-up): the
-- payloads arrive as one JSON array (one encode on the client, no array of texts to build);
-- returns the ids as one array, in input order (ids grow in insertion order), NULL when the
-- queue is missing.
WITH ins AS (
INSERT INTO {schema}.task AS t (namespace, queue, payload, dies_at, retries)
SELECT q.namespace, q.queue, u.payload, now() + q.ttl, q.retries
  FROM {schema}.queue q, json_array_elements($3::json) WITH ORDINALITY AS u(payload, ord)
 WHERE q.namespace = $1 AND q.queue = $2
 ORDER BY u.ord
RETURNING t.id
), woke AS MATERIALIZED (SELECT pg_notify('{schema}_task', $1 || '/' || $2))
SELECT array_agg(ins.id ORDER BY ins.id) FROM ins, woke;

-- name: task_expire_key :exec
-- Store the expiry of an overdue task holding a key, so that the key is free again.
UPDATE {schema}.task SET status = 'expired', finished_at = dies_at, leased_until = NULL
 WHERE namespace = $1 AND queue = $2 AND key = $3
   AND status IN ('new', 'retry', 'retained') AND dies_at <= now();

-- name: task_get_live_keys :many
-- The live tasks holding the given (queue $2, key $3) pairs (after a de-duplicated insert).
SELECT t.queue, t.key, t.id FROM {schema}.task t
 WHERE t.namespace = $1
   AND (t.queue, t.key) IN (SELECT * FROM unnest($2::text[], $3::text[]))
   AND t.status IN ('new', 'retry', 'retained');

-- name: task_get_by_key :one
-- The live task holding a key in a queue.
SELECT v.* FROM {schema}.task_read v
 WHERE v.namespace = $1 AND v.queue = $2 AND v.key = $3
   AND v.stored_status IN ('new', 'retry', 'retained');

-- name: task_get :one
-- One task of the namespace by id.
SELECT v.* FROM {schema}.task_read v WHERE v.namespace = $1 AND v.id = $2;

-- name: task_list :many
-- A page of the namespace's tasks by id, optionally of one queue and one status as read.
SELECT v.* FROM {schema}.task_read v
 WHERE v.namespace = $1
   AND ($2::text IS NULL OR v.queue = $2)
   AND {schema}.task_has_status(v.stored_status, v.dies_at, $3::text)
 ORDER BY v.id
OFFSET $4 LIMIT $5;

-- name: task_count :value
-- How many tasks task_list would page through.
SELECT count(*) FROM {schema}.task t
 WHERE t.namespace = $1
   AND ($2::text IS NULL OR t.queue = $2)
   AND {schema}.task_has_status(t.status, t.dies_at, $3::text);

-- name: task_statuses :many
-- The status as read of the namespace's tasks among ids $2 (to say why a batch item failed).
SELECT v.id, v.status FROM {schema}.task_read v WHERE v.namespace = $1 AND v.id = ANY ($2::bigint[]);

-- name: task_claim :many
-- Claim up to $4 eligible tasks for worker $3 from queues $2 (NULL: all).
SELECT * FROM {schema}.claim_tasks($1, $2::text[], $3, $4);

-- name: task_queues_missing :many
-- Which of the named queues do not exist in the namespace.
SELECT n.queue FROM unnest($2::text[]) AS n(queue)
 WHERE NOT EXISTS (SELECT 1 FROM {schema}.queue q WHERE q.namespace = $1 AND q.queue = n.queue);

-- name: task_next_due :value
-- When a waiting task of the queues ($2 NULL: all) may next be claimed: when it becomes
-- eligible, or later when its queue's limits hold it back (an open breaker, a rate limit's
-- empty bucket: queue_opens_at, migration 6).
SELECT min(greatest(w.due, {schema}.queue_opens_at(q.rate, q.burst, q.tokens, q.tokens_at,
                                                   q.breaker_open_until,
                                                   q.breaker_probe_until)))
  FROM {schema}.queue q
 CROSS JOIN LATERAL (
        SELECT min(coalesce(t.delayed_at, now())) AS due FROM {schema}.task t
         WHERE t.namespace = q.namespace AND t.queue = q.queue
           AND t.status IN ('new', 'retry') AND t.dies_at > now()) AS w
 WHERE q.namespace = $1 AND ($2::text[] IS NULL OR q.queue = ANY ($2::text[]))
   AND NOT q.paused AND w.due IS NOT NULL;

-- name: task_release :one
-- Release one retained task through the one release rule (migration 4): success →
-- released; failure → retry with exponential backoff or failed; a task whose cancel was
-- requested ends cancelled on failure. $5 (worker) and $6 (attempt) guard when given.
SELECT * FROM {schema}.release_tasks($1, $5::text, ARRAY[$2::bigint], ARRAY[$6::integer],
                                     ARRAY[$3::boolean], ARRAY[$4::json]);

-- name: task_release_many :many
-- Release a batch of tasks held by worker $2 ($2 NULL: any worker) at the given attempts
-- (NULL: any); returns the id, new status, queue and attempt of each task released (one rescued or expired meanwhile is left alone).
SELECT r.id, r.status, r.queue, r.attempt
  FROM {schema}.release_tasks($1, $2::text, $3::bigint[], $4::integer[], $5::boolean[],
                              $6::json[]) AS r;

-- name: task_unclaim_many :many
-- Give back claims that worker $2 never started (it is stopping): each task waits again as
-- before the claim, and the claim does not count as an attempt.
SELECT t AS id FROM {schema}.unclaim_tasks($1, $2, $3::bigint[], $4::integer[]) AS t;

-- name: task_extend_lease :many
-- Heartbeat: push the lease of retained tasks to now + $4 (NULL: the queue's lease);
-- $3 (worker) guards when given. Returns each extended task and whether its cancel was asked.
UPDATE {schema}.task AS t
   SET leased_until = now() + coalesce($4::interval, q.lease)
  FROM {schema}.queue q
 WHERE t.namespace = $1 AND t.id = ANY ($2::bigint[]) AND t.status = 'retained'
   AND t.dies_at > now() AND ($3::text IS NULL OR t.worker = $3)
   AND q.namespace = t.namespace AND q.queue = t.queue
RETURNING t.id, t.leased_until, t.cancel_requested;

-- name: task_cancel :one
-- Cancel a task: waiting → cancelled at once; retained → flagged, ends cancelled when its
-- worker learns of it (heartbeat or release) or its lease lapses. Terminal: unchanged.
UPDATE {schema}.task AS t
   SET status = CASE WHEN t.status IN ('new', 'retry') THEN 'cancelled' ELSE t.status END,
       finished_at = CASE WHEN t.status IN ('new', 'retry') THEN now() ELSE t.finished_at END,
       cancel_requested = t.status IN ('new', 'retry', 'retained')
 WHERE t.namespace = $1 AND t.id = $2
   AND t.status IN ('new', 'retry', 'retained') AND t.dies_at > now()
RETURNING t.*;

-- name: task_requeue :one
-- Put a failed, expired or cancelled task back to new with fresh retries and ttl.
UPDATE {schema}.task AS t
   SET status = 'new', retries = q.retries, attempt = 0, delayed_at = NULL,
       started_at = NULL, finished_at = NULL, leased_until = NULL, cancel_requested = false,
       worker = NULL, dies_at = now() + q.ttl
  FROM {schema}.queue q
 WHERE t.namespace = $1 AND t.id = $2 AND q.namespace = t.namespace AND q.queue = t.queue
   AND (t.status IN ('failed', 'expired', 'cancelled')
        OR (t.status IN ('new', 'retry', 'retained') AND t.dies_at <= now()))
   AND NOT EXISTS (SELECT 1 FROM {schema}.task o
                    WHERE t.key IS NOT NULL AND o.namespace = t.namespace
                      AND o.queue = t.queue AND o.key = t.key AND o.id <> t.id
                      AND o.status IN ('new', 'retry', 'retained'))
RETURNING t.*;

-- name: task_requeue_many :value
-- Requeue every task of a queue in status $3 (failed, expired or cancelled); returns their
-- ids (NULL: none).
-- Of several tasks sharing a key only the newest comes back, and none whose key is live.
WITH candidates AS (
    SELECT DISTINCT ON (CASE WHEN t.key IS NULL THEN 'i' || t.id ELSE 'k' || t.key END) t.id
      FROM {schema}.task t
     WHERE t.namespace = $1 AND t.queue = $2
       AND (t.status = $3
            OR ($3 = 'expired' AND t.status IN ('new', 'retry', 'retained')
                AND t.dies_at <= now()))
       AND (t.key IS NULL OR NOT EXISTS (
                SELECT 1 FROM {schema}.task o
                 WHERE o.namespace = t.namespace AND o.queue = t.queue AND o.key = t.key
                   AND o.status IN ('new', 'retry', 'retained') AND o.dies_at > now()))
     ORDER BY CASE WHEN t.key IS NULL THEN 'i' || t.id ELSE 'k' || t.key END, t.id DESC
), moved AS (
    UPDATE {schema}.task AS t
       SET status = 'new', retries = q.retries, attempt = 0, delayed_at = NULL,
           started_at = NULL, finished_at = NULL, leased_until = NULL,
           cancel_requested = false, worker = NULL, dies_at = now() + q.ttl
      FROM {schema}.queue q, candidates c
     WHERE t.namespace = $1 AND t.id = c.id
       AND q.namespace = t.namespace AND q.queue = t.queue
    RETURNING t.id
)
SELECT array_agg(id ORDER BY id) FROM moved;

-- name: task_notify :exec
-- Wake the workers of a queue (tasks became eligible outside an insert).
SELECT pg_notify('{schema}_task', $1 || '/' || $2);
