-- Queries on tickers. fired_at is the scheduled time of the last firing (wire: timestamp).

-- name: ticker_insert :one
-- Insert a ticker; nothing when it already exists.
INSERT INTO {schema}.ticker (namespace, ticker, "interval", payload)
VALUES ($1, $2, $3::interval, coalesce($4::json, '{}'::json))
ON CONFLICT (namespace, ticker) DO NOTHING
RETURNING *;

-- name: ticker_update :one
-- Change the given fields (NULL: unchanged); $3 renames. The schedule is kept, so an
-- unchanged re-registration never fires again early.
UPDATE {schema}.ticker
   SET ticker = coalesce($3::text, ticker),
       "interval" = coalesce($4::interval, "interval"),
       payload = coalesce($5::json, payload)
 WHERE namespace = $1 AND ticker = $2
RETURNING *;

-- name: ticker_get :one
-- One ticker of the namespace.
SELECT * FROM {schema}.ticker WHERE namespace = $1 AND ticker = $2;

-- name: ticker_list :many
-- A page of the namespace's tickers by name, with the total count.
SELECT *, count(*) OVER () AS total FROM {schema}.ticker
 WHERE namespace = $1
 ORDER BY ticker
OFFSET $2 LIMIT $3;

-- name: ticker_count :value
-- How many tickers the namespace has.
SELECT count(*) FROM {schema}.ticker WHERE namespace = $1;

-- name: ticker_delete :one
-- Delete a ticker; returns it.
DELETE FROM {schema}.ticker WHERE namespace = $1 AND ticker = $2 RETURNING *;

-- name: ticker_claim :one
-- Claim the most overdue matured ticker (never fired first) and fire it at once, at the
-- time ticker_firing says (no drift; missed periods fire once). A ticker on its way to a
-- stream consumer (claimed_until ahead) is skipped; one whose delivery lease lapsed is
-- matured again.
WITH c AS (
    SELECT namespace, ticker FROM {schema}.ticker
     WHERE namespace = $1 AND (fired_at IS NULL OR fired_at + "interval" <= now())
       AND (claimed_until IS NULL OR claimed_until < now())
     ORDER BY fired_at + "interval" NULLS FIRST, ticker
     LIMIT 1
       FOR UPDATE SKIP LOCKED
)
UPDATE {schema}.ticker AS t
   SET fired_at = {schema}.ticker_firing(t.fired_at, t."interval"),
       claimed_at = NULL, claimed_until = NULL
  FROM c
 WHERE t.namespace = c.namespace AND t.ticker = c.ticker
RETURNING t.*;

-- name: ticker_claim_delivery :one
-- Claim a matured ticker for delivery to a stream: as ticker_claim, but the firing is only
-- held (claimed_at, for $2) until ticker_delivered or ticker_give_back; fired_at is unchanged.
WITH c AS (
    SELECT namespace, ticker FROM {schema}.ticker
     WHERE namespace = $1 AND (fired_at IS NULL OR fired_at + "interval" <= now())
       AND (claimed_until IS NULL OR claimed_until < now())
     ORDER BY fired_at + "interval" NULLS FIRST, ticker
     LIMIT 1
       FOR UPDATE SKIP LOCKED
)
UPDATE {schema}.ticker AS t
   SET claimed_at = {schema}.ticker_firing(t.fired_at, t."interval"),
       claimed_until = now() + $2::interval
  FROM c
 WHERE t.namespace = c.namespace AND t.ticker = c.ticker
RETURNING t.namespace, t.ticker, t."interval", t.payload, t.claimed_at AS fired_at;

-- name: ticker_delivered :value
-- The firing claimed at $3 reached its consumer: it is the ticker's last firing now.
UPDATE {schema}.ticker
   SET fired_at = claimed_at, claimed_at = NULL, claimed_until = NULL
 WHERE namespace = $1 AND ticker = $2 AND claimed_at = $3
RETURNING fired_at;

-- name: ticker_give_back :exec
-- The firing claimed at $3 was not delivered: it is matured again for the next claimant.
UPDATE {schema}.ticker
   SET claimed_at = NULL, claimed_until = NULL
 WHERE namespace = $1 AND ticker = $2 AND claimed_at = $3;

-- name: ticker_next_due :value
-- When the namespace's next ticker matures (NULL: it has none); a firing on its way to a
-- consumer is due again when its delivery lease lapses.
SELECT min(CASE WHEN claimed_until >= now() THEN claimed_until
                ELSE coalesce(fired_at + "interval", now()) END)
  FROM {schema}.ticker WHERE namespace = $1;
