-- pgqueue schema, version 4: logic several statements share lives in the schema, once, and
-- every statement that writes task rows can name its namespace.
--
-- Why: until now the status-as-read rule and the release rule were Python constants spliced
-- into each statement (and into version 1's functions, at migrate time: editing a constant
-- changed what a released migration installed). Now they are these functions and this view;
-- statements call them, and the only thing rendered into SQL text is the schema name.

-- A task's status as read: a waiting or retained task whose dies_at has passed is expired,
-- whether or not maintenance has stored that yet. A one-expression SQL function: the planner
-- inlines it, so calling it costs nothing over writing the CASE out.
CREATE FUNCTION {schema}.task_status(p_status text, p_dies_at timestamptz)
RETURNS text LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_status IN ('new', 'retry', 'retained') AND p_dies_at <= now()
                THEN 'expired' ELSE p_status END
$$;

-- Whether a task is in status p_wanted as read (NULL: any status). Written per status on the
-- stored status, so that (inlined) each branch can use the indexes.
CREATE FUNCTION {schema}.task_has_status(p_status text, p_dies_at timestamptz, p_wanted text)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT p_wanted IS NULL
        OR (p_wanted IN ('new', 'retry', 'retained') AND p_status = p_wanted
            AND p_dies_at > now())
        OR (p_wanted = 'expired'
            AND (p_status = 'expired'
                 OR (p_status IN ('new', 'retry', 'retained') AND p_dies_at <= now())))
        OR (p_wanted IN ('released', 'failed', 'cancelled') AND p_status = p_wanted)
$$;

-- Tasks as a reader sees them: the table's columns, with status, finished_at and
-- leased_until as read (an overdue task is expired, ended at its dies_at, holds no lease),
-- and the stored status for filters that use the indexes. Statements that read tasks select
-- from here; statements that change tasks return the table's row, which only ever is a task
-- that is not overdue (each checks dies_at > now()), so the row as stored is the row as read.
CREATE VIEW {schema}.task_read AS
SELECT t.id, t.namespace, t.queue, t.payload, t.result, t.worker,
       {schema}.task_status(t.status, t.dies_at) AS status,
       t.priority, t.key, t.created_at, t.delayed_at, t.started_at,
       CASE WHEN t.status IN ('new', 'retry', 'retained') AND t.dies_at <= now()
            THEN t.dies_at ELSE t.finished_at END AS finished_at,
       t.dies_at, t.retries, t.attempt,
       CASE WHEN t.status = 'retained' AND t.dies_at > now() THEN t.leased_until END
           AS leased_until,
       t.cancel_requested,
       t.status AS stored_status
  FROM {schema}.task t;

-- The one release rule, for every path that ends an attempt: a worker's batch, a single
-- release over REST or the API, and lease rescue. Releases retained tasks of p_namespace
-- (id + attempt: a NULL attempt does not guard; p_worker NULL: any worker): success →
-- released; failure → cancelled when a cancel was asked, else retry after
-- retry_delay × 2^(attempt-1) plus up to 10 % jitter (never past dies_at, so a huge attempt
-- cannot overflow), else failed. A task rescued or expired meanwhile is left alone. Returns
-- each task released, as stored (and so as read). A function so that the join of the batch
-- with the task table is planned per call with the real batch size and never as a nested
-- loop (a cached generic plan did that: quadratic time).
DROP FUNCTION {schema}.release_tasks(text, text, bigint[], integer[], boolean[], json[]);
CREATE FUNCTION {schema}.release_tasks(
    p_namespace text, p_worker text, p_ids bigint[], p_attempts integer[], p_oks boolean[],
    p_results json[]
) RETURNS SETOF {schema}.task LANGUAGE sql SET enable_nestloop = off AS $$
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
    RETURNING t.*
$$;

-- Maintenance runs per namespace (a statement that writes task rows names its namespace, so
-- that the tables can later be distributed by namespace): its two scans by time lead with the
-- namespace. The same entries as the indexes they replace, a little wider.
CREATE INDEX task_dies_ns_idx ON {schema}.task (namespace, dies_at)
    WHERE status IN ('new', 'retry');
DROP INDEX {schema}.task_dies_idx;
CREATE INDEX task_finished_ns_idx ON {schema}.task (namespace, finished_at)
    WHERE status IN ('released', 'failed', 'expired', 'cancelled');
DROP INDEX {schema}.task_finished_idx;
