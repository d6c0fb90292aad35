//! A workflow that allocates without bound.

use cairn_sdk::prelude::*;

fn membomb(_input: serde::de::IgnoredAny) -> Result<u64, Failure> {
    let mut hoard: Vec<Vec<u8>> = Vec::new();
    loop {
        hoard.push(std::hint::black_box(vec![1u8; 1 << 20]));
        if hoard.len() == usize::MAX {
            return Ok(0);
        }
    }
}

cairn_sdk::workflow!(membomb);
