"""pgqueue_server: the Sanic REST + SSE API, Prometheus metrics and background maintenance."""
