//! A flow that misbehaves on purpose, for the host's sandbox tests: one mode per way a careless
//! or hostile flow could try to make the exchange spend without bound. Not a built-in flow.

use serde::Deserialize;
use switchboard_sdk::prelude::*;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Settings {
    /// What to do (see `run`).
    mode: String,
    /// Answer the call before misbehaving.
    answer_first: bool,
}

fn run(call: &impl CallApi, settings: Settings) -> FlowResult {
    if settings.answer_first {
        call.answer()?;
    }
    match settings.mode.as_str() {
        // Guest code that never returns to the host.
        "spin" => {
            let mut x: u64 = 1;
            loop {
                x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
            }
        }
        // Cheap host calls that fail, errors ignored, without end.
        "ignore-errors" => loop {
            let _ = call.play("no-such-prompt");
            std::hint::black_box(call.now());
            let _ = call.set_mailbox("nobody");
        },
        // Waits for the caller to hang up, then keeps calling verbs that answer `hangup`.
        "after-hangup" => {
            call.answer()?;
            let _ = call.collect(&CollectOptions::one_digit(None, 60_000));
            loop {
                let _ = call.play("ivr-greeting");
                let _ = call.collect(&CollectOptions::one_digit(None, 1_000));
            }
        }
        // Its own log without end, each line long.
        "log-flood" => {
            let line = "x".repeat(4096);
            loop {
                log::warn(&line);
            }
        }
        // Callback requests without end.
        "callback-flood" => {
            call.answer()?;
            let accepted = (0..1000)
                .filter(|i| call.request_callback(&format!("flood {i}")).is_ok())
                .count();
            log::info(&format!("{accepted} callback requests accepted"));
            call.play("all-busy")
        }
        // Arguments far larger than any real one: each is refused, and the call goes on.
        "huge-args" => {
            call.answer()?;
            let huge = "9".repeat(1 << 20);
            let refused = [
                call.play(&huge).is_err(),
                call.conference(&huge).is_err(),
                call.set_mailbox(&huge).is_err(),
                call.employee(&huge).is_none(),
                call.is_open(&huge).is_err(),
                Dial::ring_all([Target::External(huge.clone())]).run(call).is_err(),
                call.collect(&CollectOptions {
                    prompt: Some(huge.clone()),
                    max_digits: 1,
                    terminators: huge.clone(),
                    first_digit_timeout_ms: 10,
                    inter_digit_timeout_ms: 10,
                })
                .is_err(),
            ];
            log::info(&format!(
                "{} of {} refused",
                refused.iter().filter(|r| **r).count(),
                refused.len()
            ));
            call.play("all-busy")
        }
        // One dial with ten thousand legs, then one presenting a caller ID the company does not own.
        "many-legs" => {
            call.answer()?;
            let many = (0..10_000).map(|i| Target::External(format!("+1555{i:07}")));
            let too_many = Dial::ring_all(many).run(call);
            log::info(&format!("10000 legs: {too_many:?}"));
            let stolen = Dial::ring_all([Target::Extension("101".into())])
                .caller_id("+18005550199")
                .timeout_secs(1)
                .run(call);
            log::info(&format!("foreign caller ID: {stolen:?}"));
            call.play("all-busy")
        }
        // Unbounded recursion: the guest's stack runs out.
        "recurse" => {
            fn deeper(n: u64) -> u64 {
                let frame = std::hint::black_box([n; 64]);
                if frame[0] == u64::MAX {
                    return 0; // never: n counts up from 0
                }
                deeper(frame[0] + 1) + frame[63]
            }
            log::info(&deeper(0).to_string());
            Ok(())
        }
        // Directory lookups and HTTP requests without end: waiting costs no CPU, so only the
        // host's caps stop them; then a prompt.
        "ask" => {
            let nowhere = Target::Department("nowhere".into());
            let refused = (0..1000)
                .take_while(|i| match i % 3 {
                    0 => call.employee("nobody").is_none(),
                    1 => call.department("nowhere").is_none(),
                    _ => call.ring_time_ms(&nowhere) <= 30_000,
                })
                .count();
            let request = HttpRequest::get("http://127.0.0.1:9/").timeout_ms(100);
            let denied = (0..100).filter_map(|_| call.fetch(&request).err()).last();
            log::info(&format!("{refused} lookups; last HTTP error: {denied:?}"));
            call.play("all-busy")
        }
        // Refuses the caller, then keeps refusing (and asking) without end after the call is
        // over.
        "reject" => {
            let first = call.reject(Refusal::Decline);
            log::info(&format!("first reject: {first:?}"));
            let mut refused = 0u64;
            loop {
                if call.reject(Refusal::Busy).is_err() {
                    refused += 1;
                }
                if refused.is_multiple_of(10_000) {
                    log::info(&format!("{refused} refusals refused"));
                }
            }
        }
        // Queue after queue without end, and queue options far out of bounds.
        "queue-hop" => {
            call.answer()?;
            let hostile = [
                QueueOptions {
                    max_length: 0,
                    ..QueueOptions::default()
                },
                QueueOptions {
                    announce_every_ms: 1,
                    ..QueueOptions::default()
                },
                QueueOptions {
                    callback_digit: "12".into(),
                    ..QueueOptions::default()
                },
            ];
            let invalid = hostile.iter().filter(|o| call.enqueue("sales", o).is_err()).count();
            let quick = QueueOptions {
                max_wait_ms: 1_000,
                ..QueueOptions::default()
            };
            let joined = (0..1000).take_while(|_| call.enqueue("sales", &quick).is_ok()).count();
            log::info(&format!("{invalid} invalid; joined {joined} queues"));
            call.play("all-busy")
        }
        // Memory without end.
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
