//! SDP offers: any body parses to an offer or an error, and an accepted offer yields an answer
//! that parses again.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard::media::MediaOffer;

fuzz_target!(|data: &[u8]| {
    if let Ok(offer) = MediaOffer::parse(data) {
        let answer = offer.answer("127.0.0.1:10000".parse().unwrap(), 1);
        MediaOffer::parse(answer.as_bytes()).expect("our own answer parses");
    }
});
