-- pgqueue schema, version 7: per-queue task counts kept as the tasks change, so that a
-- /metrics scrape, /stats and the console's counts cost the same on a table of ten thousand
-- rows or ten million.
--
-- Why: counting a queue's tasks per status, even by index-only scans, reads every index entry
-- of the queue: ~0.2 s per scrape at 1M rows, growing with the table (mostly the finished
-- tasks a ttl keeps). The planner's estimates (what Oban reports above a threshold) would
-- cost nothing on the hot path but cannot split the table by queue and status reliably and
-- lag by an ANALYZE. So the counts are kept, exactly, by the writes themselves.
--
-- How: statement-level triggers with transition tables turn every INSERT, UPDATE and DELETE
-- of task rows (claims, releases, inserts, COPY, expiry, cleanup, a queue's cascade) into at
-- most a few rows of (namespace, queue, status, +/-n) appended to task_count_change: one
-- trigger call per statement, not per row, and an append, never an update of a shared
-- counter row (that row's lock would serialise every claimer of a queue until its commit,
-- and could deadlock transactions that touch two queues in opposite orders). Maintenance
-- folds the appended rows into task_count every second (one DELETE … RETURNING into an
-- upsert, so a reader sees each change exactly once, folded or not); a reader sums
-- task_count and the few rows not folded yet. The counts are of the stored status; readers
-- correct them to the status as read (overdue → expired) as before, through the indexes.
-- Measured cost on the drain and on a scrape: docs/operations.md, "What a scrape costs".

-- The folded counts: one row per queue and stored status that ever had a task (rows of a
-- deleted or renamed queue fall to zero and are dropped by the fold).
CREATE TABLE {schema}.task_count (
    namespace text   COLLATE "C" NOT NULL,
    queue     text   COLLATE "C" NOT NULL,
    status    text   COLLATE "C" NOT NULL,
    n         bigint NOT NULL,
    CONSTRAINT task_count_pkey PRIMARY KEY (namespace, queue, status)
);

-- Changes not folded yet: appended by the triggers, read whole and emptied by the fold, so no
-- index (each would cost every claim and release an index insert).
CREATE TABLE {schema}.task_count_change (
    namespace text   COLLATE "C" NOT NULL,
    queue     text   COLLATE "C" NOT NULL,
    status    text   COLLATE "C" NOT NULL,
    n         bigint NOT NULL
);

-- Changes that cancel out (a heartbeat: retained → retained) append nothing.
CREATE FUNCTION {schema}.task_count_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO {schema}.task_count_change (namespace, queue, status, n)
        SELECT namespace, queue, status, count(*) FROM new_rows GROUP BY 1, 2, 3;
    ELSIF TG_OP = 'DELETE' THEN
        INSERT INTO {schema}.task_count_change (namespace, queue, status, n)
        SELECT namespace, queue, status, -count(*) FROM old_rows GROUP BY 1, 2, 3;
    ELSE
        INSERT INTO {schema}.task_count_change (namespace, queue, status, n)
        SELECT namespace, queue, status, sum(d) FROM (
            SELECT namespace, queue, status, 1 AS d FROM new_rows
            UNION ALL
            SELECT namespace, queue, status, -1 FROM old_rows) AS c
         GROUP BY 1, 2, 3
        HAVING sum(d) <> 0;
    END IF;
    RETURN NULL;
END
$$;

-- Transition tables need one trigger per event, and no column list (so every UPDATE fires,
-- heartbeats included: they append nothing).
CREATE TRIGGER task_count_insert AFTER INSERT ON {schema}.task
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.task_count_changed();
CREATE TRIGGER task_count_update AFTER UPDATE ON {schema}.task
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.task_count_changed();
CREATE TRIGGER task_count_delete AFTER DELETE ON {schema}.task
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.task_count_changed();

-- TRUNCATE (an operator emptying the table; a test's reset) fires no row-level transition:
-- it empties the counts along with the table.
CREATE FUNCTION {schema}.task_count_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM {schema}.task_count_change;
    DELETE FROM {schema}.task_count;
    RETURN NULL;
END
$$;

CREATE TRIGGER task_count_truncate AFTER TRUNCATE ON {schema}.task
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.task_count_truncated();

-- The rows already there, counted once. After the triggers exist: creating them locked the
-- table against writers (SHARE ROW EXCLUSIVE) until this migration commits, so this count
-- sees every earlier write and every later one goes through a trigger.
INSERT INTO {schema}.task_count (namespace, queue, status, n)
SELECT namespace, queue, status, count(*) FROM {schema}.task GROUP BY 1, 2, 3;
