/**
 * The driver of one workflow run: a deterministic loop over the host's
 * `wait-any`.
 *
 * Everything a workflow awaits from the outside is a host handle (activity,
 * child, timer, signal wait) behind a promise. The driver lets every ready
 * continuation run (the microtask queue drains before a zero-delay timer of
 * the component's event loop fires); when nothing else can run, it asks the
 * host for the first pending handle to end (journaled), settles that
 * handle's promise and goes on, until the workflow's promise settles.
 */

import * as host from "cairn:workflow/context@0.1.0";
import type { Completion } from "cairn:workflow/context@0.1.0";
import { Failure, misuse } from "./failure.ts";

/** A promise of a host handle's outcome that can be given up. */
export interface Durable<T> extends Promise<T> {
  /**
   * Gives the handle up if it has not ended (the losers of a race): a timer
   * or a signal wait ends as `cancelled` (the signal stays buffered), an
   * activity is aborted, a child is asked to cancel. The promise then
   * rejects with a `Failure` whose code is `cancelled`.
   */
  cancel(): void;
}

type Settle = (c: Completion) => void;

/** The event loop's own zero-delay timer, kept before `index.ts` takes
 * `setTimeout` away from workflow code. */
const zeroDelay: (f: () => void) => unknown = ((set) => (f: () => void) => set(f, 0))(
  globalThis.setTimeout.bind(globalThis),
);

/** The run in progress (one per component instance at a time). */
class Run {
  /** Pending host handles, in the order they were started. */
  readonly waiting = new Map<number, { settle: Settle; fail: (f: Failure) => void }>();
  /** Set once the workflow's own promise settled. */
  outcome: { ok: unknown } | { err: unknown } | undefined;
}

let current: Run | undefined;

/** The run the caller is part of; a coded error outside one. */
function run(): Run {
  if (current === undefined) {
    throw misuse("the workflow context is used outside a running workflow (call it from the workflow function)");
  }
  return current;
}

/** Wraps a started host handle into a promise settled by `decode(completion)`. */
export function durable<T>(handle: number, decode: (c: Completion) => T): Durable<T> {
  const r = run();
  let fail!: (f: Failure) => void;
  const promise = new Promise<T>((resolve, reject) => {
    fail = reject;
    r.waiting.set(handle, {
      settle: (c) => {
        try {
          resolve(decode(c));
        } catch (e) {
          reject(e);
        }
      },
      fail,
    });
  });
  // A loser nobody awaits must not count as an unhandled rejection.
  promise.catch(() => {});
  return Object.assign(promise, {
    cancel(): void {
      if (r.waiting.delete(handle)) {
        host.cancel(handle);
        fail(new Failure("cancelled", "the handle was cancelled"));
      }
    },
  });
}

/** Lets every continuation that is ready run: a zero-delay timer fires only once the microtask queue is empty. */
function settle(): Promise<void> {
  return new Promise((resolve) => zeroDelay(resolve));
}

/**
 * Runs `body` to its end on a fresh run; returns its value or throws what
 * it threw.
 */
export async function drive(body: () => Promise<unknown>): Promise<unknown> {
  if (current !== undefined) throw misuse("a workflow run is already in progress in this instance");
  const r = new Run();
  current = r;
  try {
    Promise.resolve()
      .then(body)
      .then(
        (ok) => (r.outcome = { ok }),
        (err) => (r.outcome = { err }),
      );
    for (;;) {
      await settle();
      if (r.outcome !== undefined) break;
      if (r.waiting.size === 0) {
        r.outcome = {
          err: new Failure(
            "workflow-deadlock",
            "the workflow awaits something no host call can complete (a promise nobody resolves)",
          ),
        };
        break;
      }
      const handles = Uint32Array.from(r.waiting.keys());
      const [index, completion] = host.waitAny(handles);
      const handle = handles[index];
      const waiter = r.waiting.get(handle);
      r.waiting.delete(handle);
      waiter?.settle(completion);
    }
  } finally {
    current = undefined;
  }
  if ("err" in r.outcome) throw r.outcome.err;
  return r.outcome.ok;
}
