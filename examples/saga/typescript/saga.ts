// saga: an order that reserves stock, charges a card and ships (as
// examples/saga/src/lib.rs in Rust, against the same `payments` activities).
// Each step has a compensation; when a later step fails, the completed steps
// are undone in reverse order and the order fails with what was compensated.

import { type ActivityOptions, ctx, Failure, workflow } from "@cairn/sdk";

const retrying: ActivityOptions = { retry: { maxAttempts: 5, initialInterval: "20ms" } };

interface Order {
  order_id: string;
  item: string;
  quantity: number;
  amount_cents: number;
  /** Wait this long between payment and shipping, ms (a durable timer). */
  hold_ms?: number;
}

interface Receipt {
  order_id: string;
  reservation: string;
  payment: string;
  tracking: string;
}

export default workflow(async (order: Order): Promise<Receipt> => {
  const compensations: [string, string][] = [];
  try {
    const reservation = await ctx.activity<string>("reserve", order, retrying);
    compensations.push(["release", reservation]);
    const payment = await ctx.activity<string>("charge", order, retrying);
    compensations.push(["refund", payment]);
    if ((order.hold_ms ?? 0) > 0) {
      // Cancelling the execution here interrupts the timer; the completed
      // steps are compensated below.
      await ctx.sleep(order.hold_ms ?? 0);
    }
    const tracking = await ctx.activity<string>("ship", order, retrying);
    return { order_id: order.order_id, reservation, payment, tracking };
  } catch (e) {
    if (!(e instanceof Failure)) throw e;
    ctx.warn(`order ${order.order_id} failed (${e.code}: ${e.message}); compensating`);
    const undone: string[] = [];
    for (const [activity, id] of compensations.reverse()) {
      await ctx.activity<string>(activity, id, retrying);
      undone.push(`${activity} ${id}`);
    }
    throw new Failure("order-failed", `order ${order.order_id} failed: ${e.code}: ${e.message}`, {
      details: { cause: e.code, compensated: undone },
    });
  }
});
