"""pgqueue_worker: `pgqueue worker MODULE:ATTR`, the worker command — handlers from an import
path run by the core's Worker, a supervisor of worker processes, Prometheus metrics.

Layering: the core, the standard library and prometheus_client; never the server, the console
or aiohttp (a remote worker, over REST, imports the client package when it is asked for)."""
