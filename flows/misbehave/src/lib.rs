//! A flow that misbehaves on purpose, for the host's sandbox tests. Not a built-in flow.

use serde::Deserialize;
use switchboard_sdk::prelude::*;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Settings {
    /// `trap`, `spin` or `grow`.
    mode: String,
    /// Answer the call before misbehaving.
    answer_first: bool,
}

fn run(call: &impl CallApi, settings: Settings) -> FlowResult {
    if settings.answer_first {
        call.answer()?;
    }
    match settings.mode.as_str() {
        "spin" => {
            let mut x: u64 = 1;
            loop {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        "grow" => {
            let mut hoard: Vec<Vec<u8>> = Vec::new();
            loop {
                hoard.push(vec![1u8; 1 << 20]);
                std::hint::black_box(&hoard);
            }
        }
        _ => panic!("this flow traps on purpose"),
    }
}

switchboard_sdk::flow!(run);
