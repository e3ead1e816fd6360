-- pgqueue schema, version 3: a ticker firing on its way to a stream consumer is a claim with
-- a lease, not an open transaction.
--
-- Why: version 1 claimed a firing inside a transaction that committed only after the event
-- was written to the client's socket, so that an undelivered firing rolled back. A client
-- that stopped reading kept that transaction (and its pooled connection) open until the send
-- timed out: 32 such streams of one tenant took every connection of the server, and other
-- tenants' requests got 503s. Now the claim commits at once with claimed_at (the firing's
-- scheduled time) and claimed_until (a lease), the event is written with no connection held,
-- and then the claim is acknowledged (fired_at = claimed_at) or given back (cleared). A
-- server that dies mid-delivery leaves a lease that lapses: the firing is claimed again.
-- fired_at keeps meaning "the last firing delivered".
ALTER TABLE {schema}.ticker
    ADD COLUMN claimed_at timestamptz,
    ADD COLUMN claimed_until timestamptz,
    ADD CONSTRAINT ticker_claim_check CHECK ((claimed_at IS NULL) = (claimed_until IS NULL));
