/**
 * Cairn's TypeScript SDK: durable workflows as ordinary `async` functions.
 *
 * ```ts
 * import { ctx, workflow } from "@cairn/sdk";
 *
 * export default workflow(async (input: { n: number }) => {
 *   let value = 0;
 *   for (let i = 0; i < input.n; i++) value = await ctx.activity<number>("increment", value);
 *   return value;
 * });
 * ```
 *
 * Everything a workflow does outside its own memory goes through `ctx` and
 * is journaled by the host, so the function is replayed exactly after a
 * crash. `Date.now()` and `Math.random()` are deterministic too. Activities
 * live in their own component: `import { activity } from "@cairn/sdk/activity"`.
 */

import * as ctx from "./context.ts";
import { Failure, failureOf, misuse } from "./failure.ts";
import { drive } from "./loop.ts";
import { decode, encode } from "./payload.ts";

export { ctx };

/**
 * What workflow code must not reach: `fetch()` would make a call nobody
 * journals (and the workflow world has no HTTP), a timer of the event loop
 * would not survive a replay. Each fails at once with `sdk-misuse`, saying
 * what to use instead (activities keep `fetch()`: they are another
 * component).
 */
function forbid(name: string, instead: string): () => never {
  return () => {
    throw misuse(`${name} is not available in a workflow: ${instead}`);
  };
}
const g = globalThis as Record<string, unknown>;
g.fetch = forbid("fetch()", "call an activity (ctx.activity) that fetches");
g.setTimeout = forbid("setTimeout()", "await ctx.sleep(ms), a durable timer");
g.setInterval = forbid("setInterval()", "loop over await ctx.sleep(ms), a durable timer");
export type { ActivityOptions, ChildOptions, Duration, RetryPolicy, SignalOptions } from "./context.ts";
export { Failure, type FailureOptions };
import type { FailureOptions } from "./failure.ts";
export type { Durable } from "./loop.ts";

/** A workflow function: takes the decoded JSON input, returns a JSON-serialisable output. */
export type WorkflowFn<I, O> = (input: I) => Promise<O>;

let registered: WorkflowFn<any, unknown> | undefined;

/**
 * Registers this component's workflow (one per component) and returns it.
 * Throw a `Failure` to fail the execution with a code; any other error is an
 * uncaught exception: the execution is parked with its message and stack
 * until a fixed deployment resumes it.
 */
export function workflow<I, O>(fn: WorkflowFn<I, O>): WorkflowFn<I, O> {
  if (typeof fn !== "function") throw new TypeError("workflow() takes an async function");
  if (registered !== undefined) throw new TypeError("a component has one workflow; one is already registered");
  registered = fn;
  return fn;
}

/** @internal The `run` export: decodes the input, drives the workflow, encodes its output. */
export async function run(input: string): Promise<string> {
  const fn = registered;
  try {
    if (fn === undefined) throw new Failure("no-workflow", "the component registers no workflow: call workflow(fn)");
    const args = decode(input);
    return encode(await drive(() => fn(args)));
  } catch (e) {
    // The `run` export's error: the failure record itself.
    throw failureOf(e);
  }
}
