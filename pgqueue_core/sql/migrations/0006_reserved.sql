-- pgqueue schema, version 6: RESERVED for the flow-control migration of another branch
-- (rate limits, circuit breaker, fair claims). This placeholder only keeps the versions
-- 1..n without gaps on this branch; it is dropped when that migration is merged.
SELECT FROM {schema}.queue LIMIT 0;
