"""Prometheus metrics every service shares: the metrics port, and RPC and HTTP request metrics.

`exposition.py` serves a process's registry on its metrics port; `rpc.py` is the grpc.aio server
interceptor (method, status code, latency); `http.py` the gateway's ASGI middleware (route, status,
latency). Each service defines its own metrics beside its code (orchestrator/metrics.py, ...).
Labels come only from bounded sets: no citizen ids, subjects or free text.
"""
