"""Activities `increment` (n -> n + 1) and `square` (n -> n * n), as
examples/increment/src/lib.rs in Rust."""

from cairn import Failure, activity

U64_MAX = 2**64 - 1


@activity
def increment(n: int) -> int:
    if n >= U64_MAX:
        raise Failure("overflow", "cannot increment u64::MAX")
    return n + 1


@activity
def square(n: int) -> int:
    if n * n > U64_MAX:
        raise Failure("overflow", f"{n} squared overflows u64")
    return n * n
