/**
 * Payloads: UTF-8 JSON text. NaN and infinities are refused (JSON has no
 * such numbers); bigints travel as decimal strings (integers beyond 2^53
 * are strings by convention); `undefined` is `null`.
 */

import { Failure } from "./failure.ts";

/** JSON text of a value; throws a `Failure` with code `invalid-payload` when it is not JSON. */
export function encode(value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value === undefined ? null : value, (_key, v) => {
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

function payloadError(message: string): Failure {
  return new Failure("invalid-payload", message);
}
