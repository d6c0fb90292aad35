"""Cairn's Python SDK: durable workflows as ordinary `async` functions.

    from cairn import workflow, ctx

    @workflow
    async def chain(input: dict) -> int:
        n = 0
        for _ in range(input["n"]):
            n = await ctx.activity("increment", n)
        return n

Activities are plain functions registered with `@activity` (an activity
component: `from cairn import activity`); they reach allow-listed hosts
with `cairn.http`.

Everything a workflow does outside its own memory goes through `ctx` and
is journaled by the host, so the function is replayed exactly after a
crash. `asyncio.gather`, `asyncio.wait` and `asyncio.sleep` work on the
workflow's deterministic loop; timers are durable.
"""

from ._errors import Failure

try:  # a workflow component
    from . import _context as ctx
    from ._context import RetryPolicy
    from ._workflow import workflow

    __all__ = ["ctx", "workflow", "Failure", "RetryPolicy"]
except ImportError:  # an activity component
    from . import http
    from ._activity import activity, attempt, idempotency_key

    __all__ = ["activity", "attempt", "http", "idempotency_key", "Failure"]
