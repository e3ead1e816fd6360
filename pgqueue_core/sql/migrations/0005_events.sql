-- pgqueue schema, version 5: who is watching (changes are published only then), and a
-- ticker's schedule as one function.
--
-- Why a table: the event stream (GET /events) must cost the queue nothing while nobody
-- watches. Every process that changes tasks, queues or tickers reads this table at most
-- every few seconds (a cached flag per namespace) and sends its changes on the events
-- channel only while a live row covers the namespace; a watching server refreshes its row
-- (until = now() + a few seconds) and deletes it when its last subscriber leaves. A server
-- that dies leaves a row that lapses on its own.
CREATE TABLE {schema}.watcher (
    id         text        COLLATE "C" NOT NULL,  -- the watching process
    namespace  text        COLLATE "C" NOT NULL,  -- '*': every namespace
    until      timestamptz NOT NULL,
    CONSTRAINT watcher_pkey PRIMARY KEY (id, namespace)
);

-- When a ticker that last fired at p_fired_at (NULL: never) fires now: the latest scheduled
-- time not after now, so firings do not drift and missed periods fire once, not once each.
-- Both ways of claiming a firing (at once, or leased for a stream) use it; inlined.
CREATE FUNCTION {schema}.ticker_firing(p_fired_at timestamptz, p_interval interval)
RETURNS timestamptz LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_fired_at IS NULL THEN now()
                ELSE p_fired_at + p_interval * floor(extract(epoch FROM now() - p_fired_at)
                                                      / extract(epoch FROM p_interval)) END
$$;
