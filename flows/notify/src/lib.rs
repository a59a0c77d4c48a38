//! The missed-call hook: the exchange runs it after a call to one of the company's numbers that
//! nobody answered and that left no message (`PUT /missed-call-hook`). It POSTs the call as JSON
//! to a webhook — a CRM, a team chat — and can file a callback request for the caller. There is
//! nobody on the line: verbs that would play, ring or record end the run. Replace it with your
//! own flow to do anything else the verbs allow.

use serde::Deserialize;
use switchboard_sdk::prelude::*;

#[derive(Debug, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Where the missed call is POSTed; empty: nowhere.
    pub url: String,
    /// File a callback request for the caller.
    pub request_callback: bool,
}

pub fn run(call: &impl CallApi, settings: Settings) -> FlowResult {
    if !settings.url.is_empty() {
        let body = serde_json::json!({
            "event": "missed-call",
            "call": call.id(),
            "caller": call.caller(),
            "dialled": call.dialled(),
        });
        match call.fetch(&HttpRequest::post_json(&settings.url, &body)) {
            Ok(response) => log::info(&format!("webhook answered {}", response.status)),
            Err(e) => log::info(&format!("webhook failed: {e}")),
        }
    }
    if settings.request_callback {
        call.request_callback("missed-call")?;
    }
    Ok(())
}

switchboard_sdk::flow!(run, settings_schema = "../settings.schema.json");

#[cfg(test)]
mod tests {
    use switchboard_sdk::testing::TestCall;

    use super::*;

    #[test]
    fn posts_the_missed_call_and_files_a_callback() {
        let call = TestCall::new();
        let settings = Settings {
            url: "https://crm.example.com/hooks/missed".into(),
            request_callback: true,
        };
        run(&call, settings).unwrap();
        let requests = call.requests();
        assert_eq!(requests.len(), 1);
        assert_eq!(requests[0].method, "POST");
        assert_eq!(requests[0].url, "https://crm.example.com/hooks/missed");
        let body: serde_json::Value = serde_json::from_str(&requests[0].body).unwrap();
        assert_eq!(body["caller"], "+15550100001");
        assert_eq!(body["event"], "missed-call");
        assert!(call.decisions().iter().any(|d| d == "request-callback missed-call"));
    }

    #[test]
    fn without_a_url_it_asks_nobody() {
        let call = TestCall::new();
        run(&call, Settings::default()).unwrap();
        assert!(call.requests().is_empty());
    }
}
