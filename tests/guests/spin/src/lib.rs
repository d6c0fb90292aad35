//! A workflow that never returns: it spins forever without host calls.

use cairn_sdk::prelude::*;

fn spin(_input: serde::de::IgnoredAny) -> Result<u64, Failure> {
    let mut x: u64 = 1;
    loop {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

cairn_sdk::workflow!(spin);
