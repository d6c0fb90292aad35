// Activities `increment` (n → n + 1) and `square` (n → n * n), as
// examples/increment/src/lib.rs in Rust.

import { activity, Failure } from "@cairn/sdk/activity";

function integer(n: unknown): number {
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0) {
    throw new Failure("bad-input", `takes a non-negative integer, not ${JSON.stringify(n)}`);
  }
  return n;
}

activity("increment", (n: number): number => integer(n) + 1);

activity("square", (n: number): number => {
  const v = integer(n);
  if (!Number.isSafeInteger(v * v)) throw new Failure("overflow", `${v} squared is beyond 2^53`);
  return v * v;
});
