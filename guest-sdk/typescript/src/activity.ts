/**
 * Activities: the side-effecting steps a workflow calls, run and retried by
 * the host. An activity component registers one or more of them:
 *
 * ```ts
 * import { activity } from "@cairn/sdk/activity";
 *
 * activity("increment", async (n: number) => n + 1);
 * ```
 *
 * `fetch()` reaches the hosts the deployment allow-lists. Throw a
 * `Failure` with `retryable: false` to stop the retries; any other error is
 * retried by the host's policy.
 */

import * as host from "cairn:workflow/activity-context@0.1.0";
import { Failure, failureOf } from "./failure.ts";
import { decode, encode } from "./payload.ts";

export { Failure, type FailureOptions } from "./failure.ts";

/** An activity: takes the decoded JSON input, returns a JSON-serialisable output. */
export type ActivityFn<I, O> = (input: I) => O | Promise<O>;

const registry = new Map<string, ActivityFn<any, unknown>>();

/** Registers activity `name` in this component and returns it. */
export function activity<I, O>(name: string, fn: ActivityFn<I, O>): ActivityFn<I, O> {
  if (typeof name !== "string" || name === "") throw new TypeError("an activity needs a name");
  if (registry.has(name)) throw new TypeError(`activity ${name} is registered twice`);
  registry.set(name, fn);
  return fn;
}

/** The id of the execution that called this activity. */
export function executionId(): string {
  return host.executionId();
}

/** A key that is the same on every attempt of this call (also after recovery): pass it to external systems. */
export function idempotencyKey(): string {
  return host.idempotencyKey();
}

/** This attempt's number, starting at 1. */
export function attempt(): number {
  return host.attempt();
}

/** A log line attached to the calling execution. */
export function log(message: string): void {
  host.log("info", String(message));
}

/** @internal The `activities` export. */
export function activities(): string[] {
  return [...registry.keys()];
}

/** @internal The `invoke` export: one attempt of activity `name`. */
export async function invoke(name: string, input: string): Promise<string> {
  try {
    const fn = registry.get(name);
    if (fn === undefined) throw new Failure("unknown-activity", `this component serves no activity ${name}`);
    return encode(await fn(decode(input)));
  } catch (e) {
    if (e instanceof Failure) throw e.toWit();
    // Any other error may be transient (a network error): retried, under a
    // code of its own (`uncaught-exception` is the workflows' bug code).
    const failure = failureOf(e);
    failure.code = "activity-error";
    failure.retryable = true;
    throw failure;
  }
}
