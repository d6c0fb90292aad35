// The host's imports as componentize-js presents them (jco's conventions:
// u64 is bigint, option<T> is T | undefined, a result returned by an import
// is its ok value or a thrown error carrying `payload`, a nested result is
// `{ tag: "ok" | "err", val }`). Only the SDK uses these; workflows and
// activities use the SDK's API.

declare module "cairn:workflow/types@0.1.0" {
  export interface Failure {
    code: string;
    message: string;
    retryable: boolean;
    details?: string;
  }
  export interface RetryPolicy {
    maxAttempts?: number;
    initialIntervalMs?: bigint;
    backoffCoefficient?: number;
    maximumIntervalMs?: bigint;
  }
  export interface ActivityOptions {
    retry?: RetryPolicy;
    attemptTimeoutMs?: bigint;
  }
  export type LogLevel = "debug" | "info" | "warn" | "error";
  export type ParentClosePolicy = "terminate" | "request-cancel" | "abandon";
  export interface ChildOptions {
    workflowId?: string;
    parentClosePolicy: ParentClosePolicy;
  }
}

declare module "cairn:workflow/context@0.1.0" {
  import type { ActivityOptions, ChildOptions, Failure, LogLevel } from "cairn:workflow/types@0.1.0";
  export type Result<T> = { tag: "ok"; val: T } | { tag: "err"; val: Failure };
  export type Completion =
    | { tag: "activity"; val: Result<string> }
    | { tag: "child"; val: Result<string> }
    | { tag: "timer"; val: Result<undefined> }
    | { tag: "signal"; val: Result<string | undefined> };
  export function executionId(): string;
  export function now(): bigint;
  export function random(): bigint;
  export function startActivity(name: string, input: string, options: ActivityOptions | undefined): number;
  export function startChild(workflow: string, input: string, options: ChildOptions): number;
  export function startTimer(durationMs: bigint): number;
  export function startSignalWait(name: string, timeoutMs: bigint | undefined): number;
  export function waitAny(handles: Uint32Array): [number, Completion];
  export function cancel(handle: number): void;
  export function continueAsNew(input: string): void;
  export function log(level: LogLevel, message: string): void;
}

declare module "cairn:workflow/activity-context@0.1.0" {
  import type { LogLevel } from "cairn:workflow/types@0.1.0";
  export function executionId(): string;
  export function idempotencyKey(): string;
  export function attempt(): number;
  export function log(level: LogLevel, message: string): void;
}
