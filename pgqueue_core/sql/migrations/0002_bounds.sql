-- pgqueue schema, version 2: every stored timestamp lies in years 1..9999 (UTC) and every
-- duration fits Go's int64 nanoseconds (106751 days 23:47:16.854775, about 292 years).
--
-- Why in the schema: a timestamp the database computes (dies_at = delay + ttl, a backoff, a
-- lease end) is only known inside the statement that writes it. Version 1 stored what it
-- computed, and a task delayed to 9999-12-31T23:30Z with a 1 h ttl got a dies_at in year
-- 10000: the write answered 500 but committed, and every later read of the namespace failed
-- (Python's datetime ends at 9999; asyncpg raises OverflowError, and reads 'infinity' as a
-- naive datetime). With these constraints such a statement fails as a whole, nothing is
-- written, and the caller gets invalid_argument naming the column (pgqueue_core/db.py).
--
-- Rows an older version let through are clamped to the range first, so the constraints can
-- be validated: after this migration no row the table holds can break a read. The repair and
-- the validation each read the tables once, under the migration's lock: on a table of
-- millions of tasks, expect seconds.

UPDATE {schema}.task
   SET dies_at = least(greatest(dies_at, '0001-01-01 00:00:00+00'),
                       '9999-12-31 23:59:59.999999+00'),
       delayed_at = least(greatest(delayed_at, '0001-01-01 00:00:00+00'),
                          '9999-12-31 23:59:59.999999+00'),
       started_at = least(greatest(started_at, '0001-01-01 00:00:00+00'),
                          '9999-12-31 23:59:59.999999+00'),
       finished_at = least(greatest(finished_at, '0001-01-01 00:00:00+00'),
                           '9999-12-31 23:59:59.999999+00'),
       leased_until = least(greatest(leased_until, '0001-01-01 00:00:00+00'),
                            '9999-12-31 23:59:59.999999+00'),
       created_at = least(greatest(created_at, '0001-01-01 00:00:00+00'),
                          '9999-12-31 23:59:59.999999+00')
 WHERE dies_at NOT BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00'
    OR delayed_at NOT BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00'
    OR started_at NOT BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00'
    OR finished_at NOT BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00'
    OR leased_until NOT BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00'
    OR created_at NOT BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00';

UPDATE {schema}.queue
   SET ttl = least(ttl, interval '106751 days 23:47:16.854775'),
       retry_delay = least(retry_delay, interval '106751 days 23:47:16.854775'),
       lease = least(lease, interval '106751 days 23:47:16.854775')
 WHERE greatest(ttl, retry_delay, lease) > interval '106751 days 23:47:16.854775';

UPDATE {schema}.ticker
   SET "interval" = least("interval", interval '106751 days 23:47:16.854775'),
       fired_at = least(greatest(fired_at, '0001-01-01 00:00:00+00'),
                        '9999-12-31 23:59:59.999999+00')
 WHERE "interval" > interval '106751 days 23:47:16.854775'
    OR fired_at NOT BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00';

-- The computed timestamp a request can push out of range: its own name, for a clear error.
ALTER TABLE {schema}.task
    ADD CONSTRAINT task_dies_at_check
        CHECK (dies_at BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00'),
    ADD CONSTRAINT task_times_check CHECK (
        created_at BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00'
        AND (delayed_at IS NULL
             OR delayed_at BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00')
        AND (started_at IS NULL
             OR started_at BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00')
        AND (finished_at IS NULL
             OR finished_at BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00')
        AND (leased_until IS NULL
             OR leased_until BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00'));

ALTER TABLE {schema}.queue
    ADD CONSTRAINT queue_durations_check CHECK (
        ttl <= interval '106751 days 23:47:16.854775'
        AND retry_delay <= interval '106751 days 23:47:16.854775'
        AND lease <= interval '106751 days 23:47:16.854775');

ALTER TABLE {schema}.ticker
    ADD CONSTRAINT ticker_times_check CHECK (
        "interval" <= interval '106751 days 23:47:16.854775'
        AND (fired_at IS NULL
             OR fired_at BETWEEN '0001-01-01 00:00:00+00' AND '9999-12-31 23:59:59.999999+00'));
