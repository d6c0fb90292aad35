/** The error a workflow or an activity throws on purpose, and the SDK's own errors. */

import type { Failure as WitFailure } from "cairn:workflow/types@0.1.0";
import { encode } from "./payload.ts";

/** Options of a {@link Failure}. */
export interface FailureOptions {
  /** Whether retrying the same call could succeed (activities only). */
  retryable?: boolean;
  /** JSON details. */
  details?: unknown;
}

/**
 * An error with a stable code. Throw it to fail a workflow or an activity
 * attempt; catch it around an awaited call (an activity that failed after
 * its retries, a child that failed, a cancelled wait: code `cancelled`).
 */
export class Failure extends Error {
  /** A stable, machine-readable code (e.g. `card-declined`). */
  readonly code: string;
  /** Whether retrying the same call could succeed. */
  readonly retryable: boolean;
  /** JSON details, if any. */
  readonly details: unknown;

  constructor(code: string, message: string, options: FailureOptions = {}) {
    super(message);
    this.name = "Failure";
    this.code = code;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }

  /** Whether this reports a cancellation (of the execution or of the awaited handle). */
  get isCancelled(): boolean {
    return this.code === "cancelled";
  }

  /** @internal The failure the host reported. */
  static fromWit(f: WitFailure): Failure {
    const details = f.details === undefined ? undefined : JSON.parse(f.details);
    return new Failure(f.code, f.message, { retryable: f.retryable, details });
  }

  /** @internal As the WIT record. */
  toWit(): WitFailure {
    const details = this.details === undefined ? undefined : encode(this.details);
    return { code: this.code, message: this.message, retryable: this.retryable, details };
  }
}

/**
 * The failure an error nobody caught stands for: a {@link Failure} as it is;
 * anything else as `uncaught-exception` with its message and stack, which
 * the host parks (not fails) so a fixed deployment can resume it.
 */
export function failureOf(error: unknown): WitFailure {
  if (error instanceof Failure) return error.toWit();
  if (error instanceof Error) {
    const stack = error.stack ? String(error.stack) : undefined;
    return new Failure("uncaught-exception", `${error.name}: ${error.message}`, {
      details: stack === undefined ? undefined : { stack },
    }).toWit();
  }
  let text: string;
  try {
    text = JSON.stringify(error) ?? String(error);
  } catch {
    text = String(error);
  }
  return new Failure("uncaught-exception", `a non-Error value was thrown: ${text}`).toWit();
}

/** Misuse of the SDK (a coded error, not a trap). */
export function misuse(message: string): Failure {
  return new Failure("sdk-misuse", message);
}
