"""The Model Context Protocol server core: JSON-RPC 2.0 in, JSON-RPC out, no transport.

`protocol` is the envelope (messages, batches, notifications, version negotiation,
the method table) and `replies` the typed views of what it answers; `catalog` is what
the server offers (tools, resources, prompts), each calling the context domain, with
`arguments` the tools' typed argument models.  It sits above the domains and below
the dispatcher: it never imports common.api or handlers, and never picks HTTP statuses
(it says what happened; handlers/mcp.py maps that to HTTP).
"""
