// approval: asks for a decision and waits for the signal `decision`
// (`{"approved": boolean, "by": "..."}`) at most `timeout_s` seconds — a
// durable wait (as examples/approval/src/lib.rs in Rust). No decision in
// time: the request expires.

import { ctx, workflow } from "@cairn/sdk";

interface Request {
  request: string;
  timeout_s: number;
}

interface Decision {
  approved: boolean;
  by: string;
}

export default workflow(async (req: Request) => {
  ctx.log(`waiting up to ${req.timeout_s} s for a decision on ${req.request}`);
  const decision = await ctx.signal<Decision>("decision", { timeout: req.timeout_s * 1000 });
  if (decision === undefined) return { request: req.request, status: "expired", by: null };
  return { request: req.request, status: decision.approved ? "approved" : "rejected", by: decision.by };
});
