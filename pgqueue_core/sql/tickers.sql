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

-- name: ticker_count :one
-- How many tickers the namespace has.
SELECT count(*) FROM {schema}.ticker WHERE namespace = $1;

-- name: ticker_delete :one
-- Delete a ticker; returns it.
DELETE FROM {schema}.ticker WHERE namespace = $1 AND ticker = $2 RETURNING *;

-- name: ticker_claim :one
-- Claim the most overdue matured ticker (never fired first). Its new fired_at is the latest
-- scheduled time not after now: no drift, and missed periods fire once, not once each.
WITH c AS (
    SELECT namespace, ticker FROM {schema}.ticker
     WHERE namespace = $1 AND (fired_at IS NULL OR fired_at + "interval" <= now())
     ORDER BY fired_at + "interval" NULLS FIRST, ticker
     LIMIT 1
       FOR UPDATE SKIP LOCKED
)
UPDATE {schema}.ticker AS t
   SET fired_at = CASE WHEN t.fired_at IS NULL THEN now()
                       ELSE t.fired_at + t."interval" * floor(
                           extract(epoch FROM now() - t.fired_at)
                           / extract(epoch FROM t."interval")) END
  FROM c
 WHERE t.namespace = c.namespace AND t.ticker = c.ticker
RETURNING t.*;

-- name: ticker_next_due :one
-- When the namespace's next ticker matures (NULL: it has none).
SELECT min(coalesce(fired_at + "interval", now())) FROM {schema}.ticker WHERE namespace = $1;
