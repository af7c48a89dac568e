"""Operations: health and readiness endpoints, Prometheus metrics, and the hooks the core calls to feed them.

`hooks` is what the core, the job runner and the responders import: a small protocol and a no-op default, so
nothing in the conversation path depends on prometheus-client or on a server running. `metrics` implements
the protocol on an app-owned registry; `server` serves it. Labels come only from small fixed sets (platform
names, risk levels, error kinds, job kinds): never a user id, a chat id, a case id or anything a person wrote.
"""
