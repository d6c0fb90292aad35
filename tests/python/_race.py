"""The scenarios of the SDK conformance suite in Python, mode for mode the
same as tests/typescript/_race.ts (tests/e2e/sdks.rs compares their
outputs and journals). `pyrace.py` runs them as version 1, `pyrace_v2.py`
as version 2 (the "fixed" code: `crash` no longer crashes, `gather` starts
a fourth activity, which old journals must reject).

Modes (input `{"mode": ..., "timer_s": ..., "self": ..., "left": ...}`):
- `gather`: three `increment` activities at once → [1, 2, 3];
- `signal`: signal `approve` against a durable timer of `timer_s`; the
  loser is cancelled; when the timer wins, the buffered signal is read later;
- `compensate`: sleeps an hour; cancelled, it runs a compensating activity;
- `child`: runs the deployment `self` as a child in mode `gather`;
- `continue`: continues as new `left` times, then returns "done";
- `fail`: raises a Failure with code `bad-order`;
- `crash`: one activity, then a plain exception (uncaught: parked);
- `spin`: loops forever (stopped by the CPU budget);
- `eat`: allocates without bound (stopped by the memory limit);
- `deadlock`: awaits a future nobody resolves (failure `workflow-deadlock`);
- `nan`: returns NaN, which is not JSON (failure `invalid-payload`);
- `noawait`: returns a coroutine it forgot to await (failure `invalid-payload`);
- `unawaited`: starts an activity and returns without awaiting it (the
  call is abandoned at the end unless it already finished);
- `set`: iterates a set of strings, one activity per word in iteration
  order, and returns that order (a rebuild must iterate it alike);
- `raw-input`: starts an activity through the bindings with an input that
  is not JSON (the host ends the call with `invalid-input`).
"""

import asyncio

from cairn import Failure, ctx


async def scenarios(input: dict, version: int):
    mode = input["mode"]
    if mode == "gather":
        return list(await asyncio.gather(*(ctx.activity("increment", i) for i in range(3 if version == 1 else 4))))
    if mode == "signal":
        approval = ctx.signal("approve")
        deadline = ctx.sleep(input["timer_s"])
        done, pending = await asyncio.wait([approval, deadline], return_when=asyncio.FIRST_COMPLETED)
        for p in pending:
            p.cancel()
        if approval in done:
            return {"first": "signal", "payload": approval.result()}
        ctx.log("the timer won; reading the buffered signal")
        return {"first": "timer", "later": await ctx.signal("approve", timeout=3600)}
    if mode == "compensate":
        try:
            await ctx.sleep(3600)
        except Failure as f:
            if not f.is_cancelled:
                raise
            return {"compensated": await ctx.activity("increment", 99)}
        return {"compensated": None}
    if mode == "child":
        return {"child": await ctx.child(input["self"], {"mode": "gather"})}
    if mode == "continue":
        if input["left"] > 0:
            ctx.continue_as_new({"mode": "continue", "self": input["self"], "left": input["left"] - 1})
        return "done"
    if mode == "fail":
        raise Failure("bad-order", "order 7 cannot be shipped")
    if mode == "crash":
        step = await ctx.activity("increment", 1)
        if version == 1:
            return {"x": step / 0}
        return {"fixed": step}
    if mode == "spin":
        while True:
            pass
    if mode == "eat":
        hog = []
        while True:
            hog.append(bytearray(1 << 20))
    if mode == "deadlock":
        return await asyncio.get_running_loop().create_future()
    if mode == "nan":
        return float("nan")
    if mode == "noawait":
        return {"v": asyncio.sleep(0)}
    if mode == "unawaited":
        ctx.activity("increment", 7)
        return "done"
    if mode == "set":
        words = {"apple", "pear", "plum", "fig", "kiwi", "lime", "date", "yuzu"}
        order = []
        for w in words:
            order.append(w)
            await ctx.activity("increment", sorted(words).index(w))
        return order
    if mode == "raw-input":
        from wit_world.imports import context

        handle = context.start_activity("increment", "not json", None)
        loop = asyncio.get_running_loop()
        try:
            await loop.host_future(handle, lambda c: ctx._result(c.value))
        except Failure as f:
            return {"code": f.code}
        return {"code": None}
    raise Failure("bad-mode", f"unknown mode {mode!r}")
