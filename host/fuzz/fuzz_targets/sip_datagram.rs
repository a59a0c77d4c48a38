//! The SIP entry point: any datagram through the guard (and the parser behind it) must give a
//! verdict without panicking, and any reply must be a SIP response.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::sip::guard::{Verdict, inspect};

fuzz_target!(|data: &[u8]| {
    match inspect(data) {
        Verdict::Reply(response) => assert!(response.starts_with(b"SIP/2.0 "), "not a response"),
        Verdict::Rewrite(canonical) => assert_eq!(inspect(&canonical), Verdict::Pass, "canonical form is final"),
        Verdict::Pass | Verdict::Drop => {}
    }
});
