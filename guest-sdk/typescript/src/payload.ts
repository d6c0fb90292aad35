/**
 * Payloads: UTF-8 JSON text. NaN and infinities are refused (JSON has no
 * such numbers); bigints travel as decimal strings (integers beyond 2^53
 * are strings by convention). A promise (a forgotten `await`) or a
 * function anywhere in a payload is refused, and so is `undefined` as an
 * array element (JSON would make it `null`); an `undefined` property is
 * left out, as `JSON.stringify` does (an optional field), and a payload
 * that is `undefined` altogether (a function returning nothing) is `null`.
 */

import { Failure } from "./failure.ts";

/** JSON text of a value; throws a `Failure` with code `invalid-payload` when it is not JSON. */
export function encode(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value === undefined ? null : value, function (this: unknown, key: string, v: unknown) {
      const at = key === "" ? "" : ` at ${JSON.stringify(key)}`;
      if (isThenable(v)) throw new TypeError(`a Promise${at} is not JSON: a forgotten await?`);
      if (typeof v === "function") throw new TypeError(`a function${at} is not JSON: a forgotten call?`);
      if (v === undefined && Array.isArray(this)) throw new TypeError(`undefined${at} is not JSON (use null)`);
      if (typeof v === "number" && !Number.isFinite(v)) throw new TypeError(`${v} is not a JSON number`);
      if (typeof v === "bigint") return v.toString();
      return v;
    });
  } catch (e) {
    throw payloadError(`not JSON-serialisable: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (text === undefined) throw payloadError(`a ${typeof value} is not JSON`);
  return text;
}

/** The value of JSON text. */
export function decode<T = unknown>(text: string): T {
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw payloadError(`not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
}

function isThenable(v: unknown): boolean {
  return (
    (typeof v === "object" || typeof v === "function") &&
    v !== null &&
    typeof (v as { then?: unknown }).then === "function"
  );
}

function payloadError(message: string): Failure {
  return new Failure("invalid-payload", message);
}
