"""saga: an order that reserves stock, charges a card and ships (as
examples/saga/src/lib.rs in Rust, against the same `payments` activities).
Each step has a compensation; when a later step fails, the completed steps
are undone in reverse order and the order fails with what was compensated."""

from dataclasses import dataclass
from datetime import timedelta

from cairn import Failure, RetryPolicy, ctx, workflow

RETRYING = RetryPolicy(max_attempts=5, initial_interval=timedelta(milliseconds=20))


@dataclass
class Order:
    order_id: str
    item: str
    quantity: int
    amount_cents: int
    hold_ms: int = 0  # wait this long between payment and shipping (a durable timer)


@workflow
async def saga(order: Order) -> dict:
    compensations = []
    try:
        reservation = await ctx.activity("reserve", order, retry=RETRYING)
        compensations.append(("release", reservation))
        payment = await ctx.activity("charge", order, retry=RETRYING)
        compensations.append(("refund", payment))
        if order.hold_ms > 0:
            # Cancelling the execution here interrupts the timer; the
            # completed steps are compensated below.
            await ctx.sleep(timedelta(milliseconds=order.hold_ms))
        tracking = await ctx.activity("ship", order, retry=RETRYING)
        return {"order_id": order.order_id, "reservation": reservation, "payment": payment, "tracking": tracking}
    except Failure as failure:
        ctx.warn(f"order {order.order_id} failed ({failure}); compensating")
        undone = []
        for activity, id in reversed(compensations):
            await ctx.activity(activity, id, retry=RETRYING)
            undone.append(f"{activity} {id}")
        raise Failure(
            "order-failed",
            f"order {order.order_id} failed: {failure}",
            details={"cause": failure.code, "compensated": undone},
        ) from None
