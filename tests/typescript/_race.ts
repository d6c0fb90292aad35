// The scenarios of the SDK conformance suite in TypeScript, mode for mode
// the same as tests/python/_race.py (tests/e2e/sdks.rs compares their
// outputs and journals). `tsrace.ts` runs them as version 1,
// `tsrace_v2.ts` as version 2 (the "fixed" code: `crash` no longer crashes,
// `gather` starts a fourth activity, which old journals must reject).
// - `gather`: three `increment` activities at once → [1, 2, 3];
// - `signal`: signal `approve` raced against a durable timer of `timer_s`;
//   the loser is cancelled; when the timer wins, the buffered signal is read later;
// - `compensate`: sleeps an hour; cancelled, it runs a compensating activity;
// - `child`: runs the deployment `self` as a child in mode `gather`;
// - `continue`: continues as new `left` times, then returns "done";
// - `fail`: throws a Failure with code `bad-order`;
// - `crash`: one activity, then a plain error (uncaught: parked);
// - `spin`: loops forever (stopped by the CPU budget);
// - `eat`: allocates without bound (stopped by the memory limit);
// - `deadlock`: awaits a promise nobody resolves (failure `workflow-deadlock`);
// - `nan`: returns NaN, which is not JSON (failure `invalid-payload`);
// - `noawait`: returns a promise it forgot to await (failure `invalid-payload`);
// - `fetch` / `timeout` (TypeScript only): calls `fetch()` / `setTimeout()`
//   (failure `sdk-misuse`, naming what to use instead);
// - `unawaited`: starts an activity and returns without awaiting it (the
//   call is abandoned at the end unless it already finished);
// - `set`: iterates a set of strings, one activity per word in iteration
//   order, and returns that order (a rebuild must iterate it alike);
// - `raw-input`: starts an activity through the host import with an input
//   that is not JSON (the host ends the call with `invalid-input`).

import { ctx, Failure } from "@cairn/sdk";
import * as host from "cairn:workflow/context@0.1.0";

/** The input of every mode. */
export interface Input {
  mode: string;
  timer_s?: number;
  self?: string;
  left?: number;
}

/** Runs one mode as code version `version`. */
export async function scenarios(input: Input, version: number): Promise<unknown> {
  switch (input.mode) {
    case "gather":
      return Promise.all([0, 1, 2, 3].slice(0, version === 1 ? 3 : 4).map((i) => ctx.activity<number>("increment", i)));
    case "signal": {
      const approval = ctx.signal("approve");
      const deadline = ctx.sleep((input.timer_s ?? 0) * 1000);
      const first = await Promise.race([approval.then(() => "signal"), deadline.then(() => "timer")]);
      approval.cancel();
      deadline.cancel();
      if (first === "signal") return { first, payload: await approval };
      ctx.log("the timer won; reading the buffered signal");
      return { first, later: await ctx.signal("approve", { timeout: "1h" }) };
    }
    case "compensate":
      try {
        await ctx.sleep("1h");
      } catch (e) {
        if (!(e instanceof Failure) || !e.isCancelled) throw e;
        return { compensated: await ctx.activity<number>("increment", 99) };
      }
      return { compensated: null };
    case "child":
      return { child: await ctx.child(input.self ?? "tsrace", { mode: "gather" }) };
    case "continue": {
      const left = input.left ?? 0;
      if (left > 0) ctx.continueAsNew({ mode: "continue", self: input.self, left: left - 1 });
      return "done";
    }
    case "fail":
      throw new Failure("bad-order", "order 7 cannot be shipped");
    case "crash": {
      const step = await ctx.activity<number>("increment", 1);
      if (version === 1) {
        const order = JSON.parse("null") as { id: number };
        return { x: order.id + step };
      }
      return { fixed: step };
    }
    case "spin":
      for (;;) {
        // nothing
      }
    case "eat": {
      const hog: Uint8Array[] = [];
      for (;;) hog.push(new Uint8Array(1 << 20).fill(1));
    }
    case "deadlock":
      return new Promise(() => {});
    case "nan":
      return NaN;
    case "noawait":
      return { v: Promise.resolve(1) };
    case "fetch":
      return (await fetch("http://example.com/")).status;
    case "timeout":
      return new Promise((resolve) => setTimeout(resolve, 10));
    case "unawaited":
      void ctx.activity<number>("increment", 7);
      return "done";
    case "set": {
      const words = new Set(["apple", "pear", "plum", "fig", "kiwi", "lime", "date", "yuzu"]);
      const sorted = [...words].sort();
      const order: string[] = [];
      for (const w of words) {
        order.push(w);
        await ctx.activity<number>("increment", sorted.indexOf(w));
      }
      return order;
    }
    case "raw-input": {
      const handle = host.startActivity("increment", "not json", undefined);
      const [, completion] = host.waitAny(Uint32Array.of(handle));
      return { code: completion.tag === "activity" && completion.val.tag === "err" ? completion.val.val.code : null };
    }
    default:
      throw new Failure("bad-mode", `unknown mode ${JSON.stringify(input.mode)}`);
  }
}
