//! Activities `increment` (n -> n + 1) and `square` (n -> n * n).

use cairn_sdk::prelude::*;

fn increment(n: u64) -> Result<u64, Failure> {
    n.checked_add(1)
        .ok_or_else(|| Failure::new("overflow", "cannot increment u64::MAX"))
}

fn square(n: u64) -> Result<u64, Failure> {
    n.checked_mul(n)
        .ok_or_else(|| Failure::new("overflow", format!("{n} squared overflows u64")))
}

cairn_sdk::activities! {
    "increment" => increment,
    "square" => square,
}
