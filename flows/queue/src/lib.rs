//! Queue (ACD): callers wait for the department's next free member with hold music, hearing
//! their place in line and the estimated wait now and then; the longest-waiting caller is
//! offered to a free member by the queue's strategy. A caller may press a digit to be called
//! back instead, keeping his place. Waiting too long, a full queue or one nobody staffs go on to
//! the overflow. The same as the SDK's [`routes::Queue`], which other flows use as a route
//! (`{"queue": {...}}`, e.g. a menu's digit).

use switchboard_sdk::prelude::*;
use switchboard_sdk::routes::Queue;

pub type Settings = Queue;

pub fn run(call: &impl CallApi, settings: Settings) -> FlowResult {
    settings.run(call, "all-busy")
}

switchboard_sdk::flow!(run, settings_schema = "../settings.schema.json");

#[cfg(test)]
mod tests {
    use switchboard_sdk::testing::{TestCall, settings};

    use super::*;

    #[test]
    fn the_caller_waits_for_sales_by_default_and_talks_to_whoever_frees_up() {
        let answered = QueueOutcome::Answered(switchboard_sdk::Answered {
            employee: Some("bob".into()),
            talk_seconds: 60,
        });
        let call = TestCall::new().queue_ends(answered);
        run(&call, settings("{}")).unwrap();
        assert_eq!(call.decisions(), ["enqueue sales → answered by bob"]);
        let options = &call.queue_options()[0];
        assert_eq!(options.callback_digit, "1");
        assert_eq!(options.announce_every_ms, 60_000);
    }

    #[test]
    fn a_caller_who_waited_the_longest_he_may_goes_to_the_overflow() {
        let call = TestCall::new().queue_ends(QueueOutcome::Timeout);
        let json =
            r#"{"department": "support", "max_wait_secs": 120, "overflow": {"voicemail": {"mailbox": "alice"}}}"#;
        run(&call, settings(json)).unwrap();
        assert_eq!(
            call.decisions()[..3],
            ["enqueue support → timeout", "answer", "set-mailbox alice"]
        );
        assert_eq!(call.queue_options()[0].max_wait_ms, 120_000);
    }
}
