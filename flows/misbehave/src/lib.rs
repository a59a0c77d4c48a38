//! A flow that misbehaves on purpose, for the host's sandbox tests. Not a built-in flow.

use serde::Deserialize;
use switchboard_sdk::prelude::*;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Settings {
    /// `trap`, `spin`, `grow` or `ask` (lookups and HTTP requests without end, then a prompt).
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
        "ask" => {
            // Waiting for the host costs no CPU: only the host's caps stop this.
            let refused = (0..10_000).take_while(|_| call.employee("nobody").is_none()).count();
            let request = HttpRequest::get("http://127.0.0.1:9/").timeout_ms(100);
            let denied = (0..100).filter_map(|_| call.fetch(&request).err()).last();
            log::info(&format!("{refused} lookups; last HTTP error: {denied:?}"));
            call.play("all-busy")
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
