"""approval: asks for a decision and waits for the signal `decision`
(`{"approved": bool, "by": "..."}`) at most `timeout_s` seconds — a durable
wait (as examples/approval/src/lib.rs in Rust). No decision in time: the
request expires."""

from dataclasses import dataclass

from cairn import ctx, workflow


@dataclass
class Request:
    request: str
    timeout_s: int


@workflow
async def approval(req: Request) -> dict:
    ctx.log(f"waiting up to {req.timeout_s} s for a decision on {req.request}")
    decision = await ctx.signal("decision", timeout=req.timeout_s)
    if decision is None:
        return {"request": req.request, "status": "expired", "by": None}
    status = "approved" if decision["approved"] else "rejected"
    return {"request": req.request, "status": status, "by": decision["by"]}
