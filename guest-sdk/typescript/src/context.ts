/**
 * `ctx`: everything a workflow may do outside its own memory, each one a
 * journaled host call. The promises returned here are settled by the
 * workflow's deterministic loop: `await` them, `Promise.all` them, race
 * them with `Promise.race` (then `cancel()` the losers) or `ctx.race`.
 */

import * as host from "cairn:workflow/context@0.1.0";
import type { Completion, Result } from "cairn:workflow/context@0.1.0";
import type { ActivityOptions as WitActivityOptions, Failure as WitFailure } from "cairn:workflow/types@0.1.0";
import { Failure, misuse } from "./failure.ts";
import { type Durable, durable } from "./loop.ts";
import { decode, encode } from "./payload.ts";

/**
 * A duration: milliseconds, or text such as `"250ms"`, `"30s"`, `"5m"`,
 * `"2h"`, `"1d"`.
 */
export type Duration = number | string;

/** How an activity is retried; unset fields take the host's defaults. */
export interface RetryPolicy {
  /** Total attempts including the first (default 5; 0 = unlimited). */
  maxAttempts?: number;
  /** Delay before the first retry (default 100 ms). */
  initialInterval?: Duration;
  /** Multiplier applied to the delay after each retry (default 2). */
  backoffCoefficient?: number;
  /** Upper bound of the delay (default 10 s). */
  maximumInterval?: Duration;
}

/** Options of one activity call. */
export interface ActivityOptions {
  /** Retry policy; defaults apply when absent. */
  retry?: RetryPolicy;
  /** Timeout of a single attempt (default 30 s). */
  timeout?: Duration;
}

/** Options of a child workflow. */
export interface ChildOptions {
  /** The child's execution id (default `<parent id>-c<seq>`); an existing id attaches to it. */
  workflowId?: string;
  /** What happens to the child when the parent finishes (default `terminate`). */
  onParentClose?: "terminate" | "request-cancel" | "abandon";
}

/** Options of a signal wait. */
export interface SignalOptions {
  /** Resolve with `undefined` after this long (default: wait forever). */
  timeout?: Duration;
}

const UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration in whole milliseconds. */
export function millis(d: Duration): number {
  if (typeof d === "number") {
    if (!Number.isFinite(d) || d < 0) throw misuse(`a duration is a non-negative number of ms, not ${d}`);
    return Math.floor(d);
  }
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(d);
  if (m === null) throw misuse(`a duration is ms or text like "30s", "5m", "2h", not ${JSON.stringify(d)}`);
  return Math.floor(Number(m[1]) * UNITS[m[2]]);
}

function ms64(d: Duration | undefined): bigint | undefined {
  return d === undefined ? undefined : BigInt(millis(d));
}

function unwrap<T>(r: Result<T>): T {
  if (r.tag === "err") throw Failure.fromWit(r.val);
  return r.val;
}

function payloadOf<T>(c: Completion): T {
  if (c.tag !== "activity" && c.tag !== "child") throw misuse(`a ${c.tag} completion where a result was expected`);
  return decode<T>(unwrap(c.val));
}

/** The id of the running execution. */
export function executionId(): string {
  return host.executionId();
}

/** The current time, journaled (the same on every replay). `Date.now()` reads the same clock. */
export function now(): Date {
  return new Date(Number(host.now()));
}

/** A random number in [0, 1), journaled. (`Math.random()` is seeded per execution too.) */
export function random(): number {
  return Number(host.random() >> 11n) / 2 ** 53;
}

/** A random UUID (version 4), journaled. */
export function uuid4(): string {
  const hex = (host.random().toString(16).padStart(16, "0") + host.random().toString(16).padStart(16, "0")).split("");
  hex[12] = "4";
  hex[16] = "89ab"[parseInt(hex[16], 16) & 3];
  const s = hex.join("");
  return `${s.slice(0, 8)}-${s.slice(8, 12)}-${s.slice(12, 16)}-${s.slice(16, 20)}-${s.slice(20)}`;
}

/** A log line attached to the execution. */
export function log(message: string): void {
  host.log("info", String(message));
}

/** A warning attached to the execution. */
export function warn(message: string): void {
  host.log("warn", String(message));
}

/**
 * Starts activity `name` with a JSON `input`; the promise gives its result
 * (after its retries) or rejects with a `Failure`.
 */
export function activity<T = unknown>(name: string, input?: unknown, options?: ActivityOptions): Durable<T> {
  let wit: WitActivityOptions | undefined;
  if (options !== undefined) {
    const retry = options.retry;
    wit = {
      retry:
        retry === undefined
          ? undefined
          : {
              maxAttempts: retry.maxAttempts,
              initialIntervalMs: ms64(retry.initialInterval),
              backoffCoefficient: retry.backoffCoefficient,
              maximumIntervalMs: ms64(retry.maximumInterval),
            },
      attemptTimeoutMs: ms64(options.timeout),
    };
  }
  const handle = host.startActivity(name, encode(input), wit);
  return durable(handle, (c) => payloadOf<T>(c));
}

/** A durable timer: survives restarts; a long one gives the instance up. Rejects with `cancelled` when cancelled. */
export function sleep(duration: Duration): Durable<void> {
  const handle = host.startTimer(BigInt(millis(duration)));
  return durable(handle, (c) => {
    if (c.tag !== "timer") throw misuse(`a ${c.tag} completion where a timer was expected`);
    unwrap(c.val);
  });
}

/**
 * Waits for the oldest unconsumed signal `name` (signals are buffered, in
 * order); the promise gives its payload, or `undefined` after `timeout`.
 */
export function signal<T = unknown>(name: string, options: SignalOptions = {}): Durable<T | undefined> {
  const handle = host.startSignalWait(name, ms64(options.timeout));
  return durable(handle, (c) => {
    if (c.tag !== "signal") throw misuse(`a ${c.tag} completion where a signal was expected`);
    const payload = unwrap(c.val);
    return payload === undefined ? undefined : decode<T>(payload);
  });
}

/** Starts a child workflow of a deployment (`name` or `name@version`); the promise gives its result. */
export function child<T = unknown>(workflow: string, input?: unknown, options: ChildOptions = {}): Durable<T> {
  let handle: number;
  try {
    handle = host.startChild(workflow, encode(input), {
      workflowId: options.workflowId,
      parentClosePolicy: options.onParentClose ?? "terminate",
    });
  } catch (e) {
    const payload = (e as { payload?: WitFailure }).payload;
    if (payload !== undefined && typeof payload.code === "string") throw Failure.fromWit(payload);
    throw e;
  }
  return durable(handle, (c) => payloadOf<T>(c));
}

/** Waits for the first of `promises` to settle and cancels the others (the losers). */
export async function race<T>(promises: Durable<T>[]): Promise<T> {
  try {
    return await Promise.race(promises);
  } finally {
    for (const p of promises) p.cancel();
  }
}

/** Ends this run and starts a new run of the same workflow with `input`. Does not return. */
export function continueAsNew(input: unknown): never {
  host.continueAsNew(encode(input));
  throw misuse("continue-as-new returned");
}
