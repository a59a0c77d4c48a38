//! sipp scenarios, composed from the pieces every caller shares. The offered RTP address is
//! the harness's socket (`[rtp_port]`, set with `-key`), so the test sees the exchange's RTP.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

/// One branch for the INVITE and everything in its transaction (CANCEL, ACK of a failure).
const BRANCH: &str = "z9hG4bK-[pid]-[call_number]-inv";

/// The caller's number in every scenario from outside (an employee's phone uses its login).
pub const CALLER: &str = "+15550100001";

fn invite() -> String {
    invite_from(CALLER, 1, BRANCH, "")
}

/// The caller's SDP: PCMA and telephone-event at the harness's RTP port.
const CALLER_SDP: &str = "v=0
o=caller 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [rtp_port] RTP/AVP 8 101
a=rtpmap:8 PCMA/8000
a=rtpmap:101 telephone-event/8000
a=fmtp:101 0-15
";

/// An INVITE from `caller` (user part), with `auth` lines (e.g. sipp's `[authentication]`).
fn invite_from(caller: &str, cseq: u32, branch: &str, auth: &str) -> String {
    invite_with(caller, cseq, branch, auth, Some(CALLER_SDP))
}

/// An INVITE with `sdp` as its offer, or none (the exchange then offers in its 200 OK).
fn invite_with(caller: &str, cseq: u32, branch: &str, auth: &str, sdp: Option<&str>) -> String {
    let content_type = if sdp.is_some() {
        "Content-Type: application/sdp\n"
    } else {
        ""
    };
    let body = sdp.unwrap_or_default();
    format!(
        r#"<send retrans="500"><![CDATA[
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch={branch};rport
From: "Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: {cseq} INVITE
Contact: <sip:{caller}@[local_ip]:[local_port]>
{auth}Max-Forwards: 70
{content_type}Content-Length: [len]

{body}]]></send>
"#
    )
}

/// 200 OK to the request just received (a BYE).
const OK_TO_LAST_REQUEST: &str = r#"<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
"#;

const MAY_TRY: &str = "<recv response=\"100\" optional=\"true\"/>\n";

fn in_transaction(method: &str, to_tag: &str) -> String {
    in_transaction_of(CALLER, 1, BRANCH, method, to_tag)
}

/// A request in the INVITE transaction `branch`/`cseq` of `caller` (CANCEL, or ACK of a failure).
fn in_transaction_of(caller: &str, cseq: u32, branch: &str, method: &str, to_tag: &str) -> String {
    format!(
        r#"<send><![CDATA[
{method} sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch={branch};rport
From: "Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>{to_tag}
Call-ID: [call_id]
CSeq: {cseq} {method}
Max-Forwards: 70
Content-Length: 0

]]></send>
"#
    )
}

/// The answer to the INVITE `cseq` of `caller`, and our ACK.
fn answered(caller: &str, cseq: u32) -> String {
    r#"<recv response="100" optional="true"/>
<recv response="180" optional="true"/>
<recv response="200" rtd="true" rrs="true"/>
"#
    .to_string()
        + &ack(caller, cseq)
}

/// `caller`'s ACK of the 2xx to its INVITE `cseq`.
fn ack(caller: &str, cseq: u32) -> String {
    format!(
        r#"<send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: "Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} ACK
Max-Forwards: 70
Content-Length: 0

]]></send>
"#
    )
}

/// `caller` hangs up after `hold_ms` with a BYE of CSeq `cseq`.
fn hangs_up(caller: &str, cseq: u32, hold_ms: u64) -> String {
    format!("<pause milliseconds=\"{hold_ms}\"/>\n")
        + &in_dialog(caller, cseq, "BYE", "", "")
        + "<recv response=\"200\"/>\n"
}

/// A request of `caller` within the answered call's dialog, retransmitted until answered;
/// `headers` end with a newline each.
fn in_dialog(caller: &str, cseq: u32, method: &str, headers: &str, body: &str) -> String {
    format!(
        r#"<send retrans="500"><![CDATA[
{method} [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: "Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq} {method}
{headers}Max-Forwards: 70
Content-Length: [len]

{body}]]></send>
"#
    )
}

fn scenario(name: &str, body: &str) -> String {
    format!("<?xml version=\"1.0\" encoding=\"ISO-8859-1\" ?>\n<scenario name=\"{name}\">\n{body}</scenario>\n")
}

/// A T.38 fax stream at `[rtp_port]` with the usual attributes of an ATA.
const T38_SDP: &str = "v=0
o=fax 1 2 IN IP4 [local_ip]
s=-
c=IN IP4 [local_ip]
t=0 0
m=image [rtp_port] udptl t38
a=T38FaxVersion:0
a=T38MaxBitRate:14400
a=T38FaxRateManagement:transferredTCF
a=T38FaxMaxDatagram:400
a=T38FaxUdpEC:t38UDPRedundancy
";

/// Answered; the exchange passes a fax machine's T.38 re-INVITE on: checks it offers T.38
/// with the ATA's attributes, answers it with its own stream at `[rtp_port]`, then waits for
/// the exchange's BYE.
pub fn caller_takes_fax() -> String {
    let body: String = invite()
        + &answered(CALLER, 1)
        + r#"<recv request="INVITE">
<action><ereg regexp="m=image [0-9]+ udptl t38" search_in="body" check_it="true" assign_to="image"/>
<ereg regexp="a=T38MaxBitRate:14400" search_in="body" check_it="true" assign_to="rate"/>
<log message="[$image] [$rate]"/></action>
</recv>
<send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:caller@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

"# + T38_SDP
        + "]]></send>\n<recv request=\"ACK\"/>\n<recv request=\"BYE\"/>\n"
        + OK_TO_LAST_REQUEST;
    scenario("caller takes a fax", &body)
}

/// Answered; refuses the T.38 re-INVITE the exchange passes on (488: a carrier without fax
/// relay), then waits for the exchange's BYE.
pub fn caller_refuses_fax() -> String {
    let body: String = invite()
        + &answered(CALLER, 1)
        + r#"<recv request="INVITE">
<action><ereg regexp="m=image [0-9]+ udptl t38" search_in="body" check_it="true" assign_to="image"/>
<log message="[$image]"/></action>
</recv>
<send><![CDATA[
SIP/2.0 488 Not Acceptable Here
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0

]]></send>
<recv request="ACK"/>
<recv request="BYE"/>
"# + OK_TO_LAST_REQUEST;
    scenario("caller refuses a fax", &body)
}

/// Answered; waits for the exchange to hang up, and confirms its BYE.
pub fn caller_waits_for_bye() -> String {
    let body = invite() + &answered(CALLER, 1) + "<recv request=\"BYE\"/>\n" + OK_TO_LAST_REQUEST;
    scenario("caller waits for the exchange's BYE", &body)
}

/// Makes no offer in its INVITE: checks the exchange's offer in the 200 OK, answers it in the
/// ACK (PCMA, its RTP port), hangs up after `hold_ms`.
pub fn caller_without_offer(hold_ms: u64) -> String {
    let ack = format!(
        r#"<send><![CDATA[
ACK [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: "Caller" <sip:{CALLER}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: 1 ACK
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

{CALLER_SDP}]]></send>
"#
    );
    let body = invite_with(CALLER, 1, BRANCH, "", None)
        + r#"<recv response="100" optional="true"/>
<recv response="180" optional="true"/>
<recv response="200" rrs="true">
<action><ereg regexp="m=audio [0-9]+ RTP/AVP 8 0 101" search_in="body" check_it="true" assign_to="offer"/>
<log message="[$offer]"/></action>
</recv>
"# + &ack
        + &hangs_up(CALLER, 2, hold_ms);
    scenario("caller without an SDP offer", &body)
}

/// Answered; hangs up after `hold_ms`.
pub fn caller_hangs_up(hold_ms: u64) -> String {
    let body = invite() + &answered(CALLER, 1) + &hangs_up(CALLER, 2, hold_ms);
    scenario("caller hangs up", &body)
}

/// Answered; puts the call on hold (re-INVITE `a=sendonly`, expects `a=recvonly` back), resumes
/// it (`a=sendrecv`), then hangs up.
pub fn caller_holds_and_resumes() -> String {
    let reinvite = |cseq: u32, direction: &str, answer: &str| {
        let sdp = format!(
            "v=0\no=caller 53655765 {cseq} IN IP[local_ip_type] [local_ip]\ns=-\nc=IN IP[media_ip_type] [media_ip]\n\
             t=0 0\nm=audio [rtp_port] RTP/AVP 8 101\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\n\
             a={direction}\n"
        );
        let headers = format!("Contact: <sip:{CALLER}@[local_ip]:[local_port]>\nContent-Type: application/sdp\n");
        "<pause milliseconds=\"500\"/>\n".to_string()
            + &in_dialog(CALLER, cseq, "INVITE", &headers, &sdp)
            + &format!(
                r#"<recv response="100" optional="true"/>
<recv response="200">
<action><ereg regexp="a={answer}" search_in="body" check_it="true" assign_to="answer_{cseq}"/>
<log message="[$answer_{cseq}]"/></action>
</recv>
"#
            )
            + &ack(CALLER, cseq)
    };
    let body = invite()
        + &answered(CALLER, 1)
        + &reinvite(2, "sendonly", "recvonly")
        + &reinvite(3, "sendrecv", "sendrecv")
        + &hangs_up(CALLER, 4, 500);
    scenario("caller holds and resumes", &body)
}

/// Takes provisional responses (100, 180, 183 with early media) as they come, then the answer;
/// hangs up after `hold_ms`.
pub fn caller_hears_early_media(hold_ms: u64) -> String {
    let body = invite()
        + "<recv response=\"100\" optional=\"true\"/>\n<recv response=\"180\" optional=\"true\"/>\n"
        + &format!(
            r#"<recv response="183" optional="true">
<action><ereg regexp="m=audio ([0-9]+)" search_in="body" check_it="true" assign_to="m_all,m_port"/>
<log message="[$m_all]"/><exec command="echo [$m_port] > {EARLY_PORT}"/></action>
</recv>
<recv response="180" optional="true"/>
"#
        )
        + &answered(CALLER, 1)
        + &hangs_up(CALLER, 2, hold_ms);
    scenario("caller hears early media", &body)
}

/// Where [`caller_hears_early_media`] notes the exchange's RTP port from its 183.
const EARLY_PORT: &str = "early.port";

/// A carrier's call with [`caller_hears_early_media`] that, like most carriers' gateways, sends
/// RTP (silence) from the caller's SDP address as soon as the 183 names the exchange's: that is
/// what proves the caller receives there, before which the exchange sends it no media.
pub async fn carrier_call_with_early_rtp(
    server: SocketAddr,
    hold_ms: u64,
    service: &'static str,
    rtp: &crate::harness::RtpPeer,
) -> SippRun {
    let dir = tempfile::tempdir().unwrap();
    let port = rtp.port().to_string();
    let args = ["-key", "rtp_port", port.as_str()];
    let call = run_in(dir.path(), server, caller_hears_early_media(hold_ms), service, &args);
    let noted = dir.path().join(EARLY_PORT);
    let stream = async {
        let port = loop {
            match std::fs::read_to_string(&noted)
                .ok()
                .and_then(|p| p.trim().parse::<u16>().ok())
            {
                Some(port) => break port,
                None => tokio::time::sleep(Duration::from_millis(5)).await,
            }
        };
        rtp.send_pcma(&[0; 8000 * 30], SocketAddr::from(([127, 0, 0, 1], port)))
            .await;
    };
    tokio::select! {
        run = call => run,
        _ = stream => panic!("the carrier's 30 s of early RTP outlasted the call"),
    }
}

/// Answered; after `after_ms` sends `digit` as SIP INFO (`application/dtmf-relay`), then waits
/// for the exchange's BYE, or hangs up `hangs_up_after` ms later.
pub fn caller_sends_info_digit(after_ms: u64, digit: char, hangs_up_after: Option<u64>) -> String {
    let info = format!("<pause milliseconds=\"{after_ms}\"/>\n")
        + &in_dialog(
            CALLER,
            2,
            "INFO",
            "Content-Type: application/dtmf-relay\n",
            &format!("Signal={digit}\nDuration=160\n"),
        )
        + "<recv response=\"200\"/>\n";
    let end = match hangs_up_after {
        Some(ms) => hangs_up(CALLER, 3, ms),
        None => "<recv request=\"BYE\"/>\n".to_string() + OK_TO_LAST_REQUEST,
    };
    let body = invite() + &answered(CALLER, 1) + &info + &end;
    scenario("caller sends a SIP INFO digit", &body)
}

/// The same scenario from a caller that offers no telephone-event (digits come in-band).
pub fn without_telephone_events(scenario: String) -> String {
    scenario
        .replace("RTP/AVP 8 101", "RTP/AVP 8")
        .replace("a=rtpmap:101 telephone-event/8000\n", "")
        .replace("a=fmtp:101 0-15\n", "")
}

/// The same caller asking for `ms` of audio per packet (`a=ptime`).
pub fn with_ptime(scenario: String, ms: u32) -> String {
    scenario.replace("a=fmtp:101 0-15\n", &format!("a=fmtp:101 0-15\na=ptime:{ms}\n"))
}

/// Gives up before an answer: CANCEL after `after_ms`, expects 200 (CANCEL) and 487 (INVITE).
pub fn caller_cancels(after_ms: u64) -> String {
    let body = invite()
        + MAY_TRY
        + "<recv response=\"180\"/>\n"
        + &format!("<pause milliseconds=\"{after_ms}\"/>\n")
        + &in_transaction("CANCEL", "")
        + r#"<recv response="200"/>
<recv response="487"/>
"# + &in_transaction("ACK", "[peer_tag_param]");
    scenario("caller cancels", &body)
}

/// Expects the INVITE to be refused with `status` (and ACKs it).
pub fn caller_refused(status: u16) -> String {
    let body = invite()
        + MAY_TRY
        + "<recv response=\"180\" optional=\"true\"/>\n"
        + &format!("<recv response=\"{status}\"/>\n")
        + &in_transaction("ACK", "[peer_tag_param]");
    scenario(&format!("caller refused with {status}"), &body)
}

/// A caller from outside, answered, asks after `after_ms` to transfer the call to `to` (blind
/// REFER) and expects `status` for it (403: refused; 202: accepted, then NOTIFYs it answers and
/// the exchange's BYE once the transfer is done).
pub fn caller_refers(after_ms: u64, to: &str, status: u16) -> String {
    let refer =
        format!("Contact: <sip:{CALLER}@[local_ip]:[local_port]>\nRefer-To: <sip:{to}@[remote_ip]:[remote_port]>\n");
    let mut body = invite()
        + &answered(CALLER, 1)
        + &format!("<pause milliseconds=\"{after_ms}\"/>\n")
        + &in_dialog(CALLER, 2, "REFER", &refer, "")
        + &format!("<recv response=\"{status}\"/>\n");
    if status == 202 {
        body += &format!(
            "<recv request=\"NOTIFY\"/>\n{OK_TO_LAST_REQUEST}<recv request=\"NOTIFY\"/>\n{OK_TO_LAST_REQUEST}\
             <recv request=\"BYE\"/>\n{OK_TO_LAST_REQUEST}"
        );
    } else {
        body += &hangs_up(CALLER, 3, 200);
    }
    scenario(&format!("caller refers to {to}, gets {status}"), &body)
}

/// What becomes of an employee's call once it authenticated.
#[derive(Debug, Clone, Copy)]
pub enum Then {
    /// Answered; the employee hangs up after `hold_ms`.
    HangsUpAfter(u64),
    /// Refused with this status.
    Refused(u16),
    /// Answered; notes the dialog (DIALOG2 <call-id> <own tag> <exchange's tag>) and waits for
    /// the exchange's BYE.
    WaitsForBye,
    /// Answered; transfers the other party to `to` (blind REFER), expects 202, NOTIFY 100 and
    /// NOTIFY 200, then the exchange's BYE.
    TransfersTo(&'static str),
}

/// An employee's phone calling `[service]` as `login`: the INVITE is challenged (407), the
/// second one carries the credentials given to sipp (`-au`/`-ap`).
pub fn employee_calls(login: &str, then: Then) -> String {
    const AUTHENTICATED: &str = "z9hG4bK-[pid]-[call_number]-auth";
    let mut body = invite_from(login, 1, BRANCH, "")
        + MAY_TRY
        + "<recv response=\"407\" auth=\"true\"/>\n"
        + &in_transaction_of(login, 1, BRANCH, "ACK", "[peer_tag_param]")
        + &invite_from(login, 2, AUTHENTICATED, "[authentication]\n");
    match then {
        Then::HangsUpAfter(hold_ms) => body += &(answered(login, 2) + &hangs_up(login, 3, hold_ms)),
        Then::WaitsForBye => {
            body += &answered(login, 2).replacen(
                "<recv response=\"200\" rtd=\"true\" rrs=\"true\"/>",
                r#"<recv response="200" rtd="true" rrs="true">
<action><ereg regexp="tag=([^;&gt;]*)" search_in="hdr" header="To:" assign_to="to_all,to_tag"/>
<log message="[$to_all]"/></action>
</recv>"#,
                1,
            );
            body += &format!(
                "<nop><action>{}</action></nop>\n<recv request=\"BYE\"/>\n{OK_TO_LAST_REQUEST}",
                note("DIALOG2", "[call_id] [pid]SIPpTag00[call_number] [$to_tag]")
            );
        }
        Then::TransfersTo(to) => {
            body += &answered(login, 2);
            let headers = format!(
                "Contact: <sip:{login}@[local_ip]:[local_port]>\nRefer-To: <sip:{to}@[remote_ip]:[remote_port]>\n"
            );
            body += "<pause milliseconds=\"300\"/>\n";
            body += &in_dialog(login, 3, "REFER", &headers, "");
            body += "<recv response=\"202\"/>\n";
            for status in ["100", "200"] {
                body += &format!(
                    r#"<recv request="NOTIFY">
<action><ereg regexp="SIP/2.0 {status}" search_in="body" check_it="true" assign_to="frag_{status}"/>
<log message="[$frag_{status}]"/></action>
</recv>
{OK_TO_LAST_REQUEST}"#
                );
            }
            body += &format!("<recv request=\"BYE\"/>\n{OK_TO_LAST_REQUEST}");
        }
        Then::Refused(status) => {
            // A refused call out says why in early media first (183).
            body += &format!(
                "{MAY_TRY}<recv response=\"180\" optional=\"true\"/>\n<recv response=\"183\" optional=\"true\"/>\n<recv response=\"{status}\"/>\n"
            );
            body += &in_transaction_of(login, 2, AUTHENTICATED, "ACK", "[peer_tag_param]");
        }
    }
    scenario(&format!("{login} calls, then {then:?}"), &body)
}

/// A phone's busy-lamp key: SUBSCRIBEs to `[service]` (an extension) with the dialog event
/// package as the user given to sipp (`-au`/`-ap`, challenged first), then expects one NOTIFY
/// per entry of `states` (RFC 4235 `<state>` values, in order), noting each in the event file.
pub fn busy_lamp(login: &str, states: &[&str]) -> String {
    let notifies: String = states
        .iter()
        .enumerate()
        .map(|(i, state)| {
            format!(
                r#"<recv request="NOTIFY">
<action><ereg regexp="&lt;state&gt;{state}&lt;/state&gt;" search_in="body" check_it="true" assign_to="lamp_{i}"/>
<log message="[$lamp_{i}]"/>
{}</action>
</recv>
{OK_TO_LAST_REQUEST}"#,
                note("LAMP", state)
            )
        })
        .collect();
    subscription(
        login,
        "dialog",
        "application/dialog-info+xml",
        200,
        &notifies,
        "busy lamp",
    )
}

/// A phone's message-waiting lamp (RFC 3842): SUBSCRIBEs to `[service]` (its own mailbox) as
/// the user given to sipp, then expects one NOTIFY per entry of `summaries` — `yes 1/0` says
/// messages wait, one new and none old — noting each as LAMP.
pub fn message_lamp(login: &str, summaries: &[&str]) -> String {
    let notifies: String = summaries
        .iter()
        .enumerate()
        .map(|(i, summary)| {
            let (waiting, counts) = summary.split_once(' ').unwrap_or((summary, ""));
            message_notify(i, waiting, counts)
        })
        .collect();
    subscription(
        login,
        "message-summary",
        "application/simple-message-summary",
        200,
        &notifies,
        "message lamp",
    )
}

/// A SUBSCRIBE to `[service]` with `event` as the user given to sipp, refused with `status`
/// once authenticated.
pub fn subscribe_refused(login: &str, event: &str, status: u16) -> String {
    subscription(login, event, "*/*", status, "", "refused subscription")
}

/// A message-summary NOTIFY (the `i`th) saying whether messages wait and — unless `counts` is
/// empty — the `new/old` counts, answered 200.
fn message_notify(i: usize, waiting: &str, counts: &str) -> String {
    let counts = match counts {
        "" => String::new(),
        counts => format!(
            r#"<ereg regexp="Voice-Message: {counts} " search_in="body" check_it="true" assign_to="count_{i}"/>
<log message="[$count_{i}]"/>"#
        ),
    };
    format!(
        r#"<recv request="NOTIFY">
<action><ereg regexp="Messages-Waiting: {waiting}" search_in="body" check_it="true" assign_to="lamp_{i}"/>
<log message="[$lamp_{i}]"/>
{counts}{}</action>
</recv>
{OK_TO_LAST_REQUEST}"#,
        note("LAMP", waiting)
    )
}

/// SUBSCRIBEs to `[service]` with `event` as the user given to sipp (challenged first), expects
/// `status`, then `notifies`.
fn subscription(login: &str, event: &str, accept: &str, status: u16, notifies: &str, name: &str) -> String {
    let subscribe = |cseq: u32, auth: &str| {
        format!(
            r#"<send retrans="500"><![CDATA[
SUBSCRIBE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:{login}@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]>
Call-ID: [call_id]
CSeq: {cseq} SUBSCRIBE
Contact: <sip:{login}@[local_ip]:[local_port]>
Event: {event}
Accept: {accept}
Expires: 600
{auth}Max-Forwards: 70
Content-Length: 0

]]></send>
"#
        )
    };
    let body = subscribe(1, "")
        + "<recv response=\"401\" auth=\"true\"/>\n"
        + &subscribe(2, "[authentication]\n")
        + &format!("<recv response=\"{status}\"/>\n")
        + notifies;
    scenario(&format!("{name} of {login}"), &body)
}

pub struct SippRun {
    pub success: bool,
    pub output: String,
}

/// A phone registering as `[service]` with the credentials given to sipp (`-au`/`-ap`): the
/// first REGISTER is challenged, the second answers the challenge and must get `status`.
pub fn phone_registers(status: u16) -> String {
    let register = |cseq: u32, auth: &str| {
        format!(
            r#"<send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:[service]@[remote_ip]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]>
Call-ID: [call_id]
CSeq: {cseq} REGISTER
Contact: <sip:[service]@[local_ip]:[local_port]>
Expires: 300
{auth}Max-Forwards: 70
Content-Length: 0

]]></send>
"#
        )
    };
    let body = register(1, "")
        + "<recv response=\"401\" auth=\"true\"/>\n"
        + &register(2, "[authentication]\n")
        + &format!("<recv response=\"{status}\"/>\n");
    scenario(&format!("phone registers, expects {status}"), &body)
}

/// `scenario` as a phone configured with the SIP domain `domain` sends it: the Request-URI and
/// the From/To URIs name the domain instead of the exchange's address (sipp still sends to the
/// address it is given). Run it with `-auth_uri <domain>`: sipp's digest names the exchange's
/// address otherwise.
pub fn at_domain(scenario: &str, domain: &str) -> String {
    scenario
        .replace("@[remote_ip]:[remote_port]", &format!("@{domain}"))
        .replace("sip:[remote_ip]:[remote_port]", &format!("sip:{domain}"))
        .replace("@[remote_ip]>", &format!("@{domain}>"))
}

/// A phone's REGISTER refused at once with `status` (no challenge: e.g. its company is
/// suspended); the Reason header noted in the log.
pub fn phone_register_refused(status: u16) -> String {
    let body = phone_registers(status);
    let start = body.find("<send").unwrap();
    let first_send_end = body.find("</send>").unwrap() + "</send>".len();
    let register = &body[start..first_send_end];
    scenario(
        &format!("phone's REGISTER refused with {status}"),
        &format!("{register}\n<recv response=\"{status}\"/>\n"),
    )
}

/// Runs one call of `scenario` against `server`, dialling `service`, offering RTP at `rtp_port`.
pub async fn call(server: SocketAddr, scenario: String, service: &'static str, rtp_port: u16) -> SippRun {
    run(server, scenario, service, &["-key", "rtp_port", &rtp_port.to_string()]).await
}

/// Runs `scenario` once against `server` as `service`, with more sipp arguments.
pub async fn run(server: SocketAddr, scenario: String, service: &str, args: &[&str]) -> SippRun {
    let dir = tempfile::tempdir().unwrap();
    run_in(dir.path(), server, scenario, service, args).await
}

/// [`run`] with `dir` as sipp's working directory (where scenarios write their event files).
pub async fn run_in(dir: &Path, server: SocketAddr, scenario: String, service: &str, args: &[&str]) -> SippRun {
    let file = dir.join("scenario.xml");
    std::fs::write(&file, &scenario).unwrap();
    let output = tokio::process::Command::new("sipp")
        .arg(server.to_string())
        .args([
            "-sf",
            file.to_str().unwrap(),
            "-s",
            service,
            "-m",
            "1",
            "-i",
            "127.0.0.1",
        ])
        .args(args)
        .args(["-timeout", "40s", "-timeout_error", "-nostdin", "-trace_err"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(60), output)
        .await
        .expect("sipp hung")
        .expect("run sipp");
    let errors = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_name().to_string_lossy().contains("errors"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    SippRun {
        success: output.status.success(),
        output: format!(
            "exit {:?}\nstdout:\n{}\nstderr:\n{}\nerrors:\n{errors}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    }
}

/// What an employee's phone does with the INVITE it receives.
#[derive(Debug, Clone, Copy)]
pub enum Phone {
    /// Rings, answers after `after_ms` (SDP for RTP at `[rtp_port]`), then waits for the BYE.
    Answers { after_ms: u64 },
    /// Rings, answers after `after_ms`, hangs up `hold_ms` later.
    AnswersThenHangsUp { after_ms: u64, hold_ms: u64 },
    /// Answers after `after_ms`; is put on hold (a re-INVITE with `a=sendonly`, answered
    /// `recvonly`), then resumed (`sendrecv`); then waits for the BYE.
    AnswersAndIsHeld { after_ms: u64 },
    /// Answers after `after_ms`, then transfers the caller to `to` (blind REFER): expects 202,
    /// a NOTIFY with `100 Trying`, one with `200 OK` once `to` answered, then our BYE.
    AnswersThenTransfers { after_ms: u64, to: &'static str },
    /// A carrier: challenges the INVITE (407), then expects it again with credentials for
    /// `user` and answers it after `after_ms`; waits for the BYE.
    ChallengesThenAnswers { user: &'static str, after_ms: u64 },
    /// Sends 183 with SDP (early media at `[rtp_port]`), answers `after_ms` later, waits for BYE.
    EarlyMediaThenAnswers { after_ms: u64 },
    /// Answers after `after_ms`, notes the dialog (DIALOG <call-id> <exchange's tag> <own tag>)
    /// for a REFER sent on its behalf, then expects the transfer's final NOTIFY and our BYE.
    AnswersThenIsReplaced { after_ms: u64 },
    /// Answers after `after_ms`, then expects a digit as SIP INFO (notes it: DIGIT <key>),
    /// answers it 200, and waits for the BYE.
    AnswersAndHearsInfoDigit { after_ms: u64 },
    /// Answers after `after_ms`, sends `digit` as SIP INFO `press_after_ms` later (a screened
    /// call: 1 accepts), then hangs up `hangs_up_after_ms` later — or, without it, waits for the
    /// exchange's BYE (declined).
    AnswersThenPresses {
        after_ms: u64,
        press_after_ms: u64,
        digit: char,
        hangs_up_after_ms: Option<u64>,
    },
    /// A fax machine (an ATA): answers after `after_ms`, re-INVITEs to T.38 (`m=image` at
    /// `[rtp_port]`) `fax_after_ms` later and, when `t38_taken`, notes the exchange's answer
    /// (FAX <its image port>) — else expects 488 (noted as NO-T38); hangs up `hold_ms` after
    /// that.
    AnswersThenFaxes {
        after_ms: u64,
        fax_after_ms: u64,
        hold_ms: u64,
        t38_taken: bool,
    },
    /// Answers the exchange's keep-alive OPTIONS (and notes it as KEEPALIVE).
    AnswersKeepAlive,
    /// Gets an unsolicited message-summary NOTIFY saying whether messages wait, notes it as
    /// LAMP, answers 200 (each such NOTIFY is a transaction of its own: one per run).
    HearsMessageLamp { waiting: bool },
    /// Rings until cancelled; the CANCEL must (or must not) say the call was completed elsewhere.
    RingsUntilCancelled { completed_elsewhere: bool },
    /// Answers after `after_ms`, notes our BYE and never answers it (a phone gone from the
    /// network), staying silent for 20 s.
    AnswersThenIgnoresBye { after_ms: u64 },
    /// 486 Busy Here.
    Busy,
}

/// The event file a phone scenario writes: `EVENT <unix seconds> [details]` per line (INVITE:
/// the RTP port offered to the phone; CALLER: the caller ID it was shown).
pub const PHONE_EVENTS: &str = "events.txt";

fn note(event: &str, extra: &str) -> String {
    format!(r#"<exec command="echo {event} $(date +%s.%N) {extra} >> {PHONE_EVENTS}"/>"#)
}

/// A request the answered phone sends in its dialog (the dialog's From captured as `from_uri`,
/// `from_tag`): `method` with CSeq `cseq`, `headers` (each ending in a newline) and `body`.
fn phone_sends(method: &str, cseq: u32, headers: &str, body: &str) -> String {
    let retrans = if method == "ACK" { "" } else { r#" retrans="500""# };
    let length = if body.is_empty() { "0" } else { "[len]" };
    format!(
        r#"<send{retrans}><![CDATA[
{method} [$from_uri] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
From: <sip:[service]@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
To: <[$from_uri]>;tag=[$from_tag]
Call-ID: [call_id]
CSeq: {cseq} {method}
{headers}Max-Forwards: 70
Content-Length: {length}

{body}]]></send>
"#
    )
}

/// The answered phone hangs up after `hold_ms` (its dialog's From captured as `from_uri`,
/// `from_tag`).
fn phone_hangs_up(hold_ms: u64) -> String {
    format!("<pause milliseconds=\"{hold_ms}\"/>\n") + &phone_sends("BYE", 100, "", "") + "<recv response=\"200\"/>\n"
}

/// A registered phone (sipp in server mode on the port it registered from).
pub fn phone(behaviour: Phone) -> String {
    // sipp refuses variables a scenario never reads, so each behaviour captures only what it
    // uses: where to send RTP (all), the INVITE's CSeq (for the 487), its From (for our BYE).
    let captures = match behaviour {
        Phone::RingsUntilCancelled { .. } => {
            r#"<ereg regexp="[0-9]+" search_in="hdr" header="CSeq:" assign_to="cseq"/>"#.to_string()
        }
        Phone::AnswersThenHangsUp { .. }
        | Phone::AnswersThenFaxes { .. }
        | Phone::AnswersThenTransfers { .. }
        | Phone::AnswersThenIsReplaced { .. }
        | Phone::AnswersThenPresses { .. } => {
            r#"<ereg regexp="&lt;([^&gt;]*)&gt;.*tag=([^;]*)" search_in="hdr" header="From:" assign_to="from,from_uri,from_tag"/>
<exec command="echo FROM $(date +%s.%N) 0 [$from] >> events.txt"/>"#
                .to_string()
        }
        _ => String::new(),
    };
    let invite = format!(
        r#"<recv request="INVITE">
<action>
<ereg regexp="m=audio ([0-9]+)" search_in="body" assign_to="m_line,m_port"/>
<ereg regexp="sip:([^@]*)@" search_in="hdr" header="From:" assign_to="from_match,caller"/>
<ereg regexp="&quot;([^&quot;]*)&quot;" search_in="hdr" header="From:" assign_to="shown_all,shown"/>
<log message="[$shown_all]"/>
{captures}
{}
{}
{}
</action>
</recv>
"#,
        note("INVITE", "[$m_port] [$m_line]"),
        note("CALLER", "[$caller] [$from_match]"),
        note("SHOWN", "[$shown]")
    );
    let response = |status: &str, body: bool| {
        let (content, sdp) = if body {
            (
                "Content-Type: application/sdp\nContent-Length: [len]",
                "\nv=0\no=phone 1 1 IN IP4 [local_ip]\ns=-\nc=IN IP4 [local_ip]\nt=0 0\n\
                 m=audio [rtp_port] RTP/AVP 8 101\na=rtpmap:8 PCMA/8000\na=rtpmap:101 telephone-event/8000\n",
            )
        } else {
            ("Content-Length: 0", "")
        };
        format!(
            r#"<send><![CDATA[
SIP/2.0 {status}
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:[service]@[local_ip]:[local_port]>
{content}
{sdp}
]]></send>
"#
        )
    };
    let ringing = response("180 Ringing", false);
    let bye_received = format!(
        "<recv request=\"BYE\"><action>{}</action></recv>\n{OK_TO_LAST_REQUEST}",
        note("BYE", "")
    );
    let answer = |after_ms: u64| {
        format!(
            "<pause milliseconds=\"{after_ms}\"/>\n<nop><action>{}</action></nop>\n{}<recv request=\"ACK\"/>\n",
            note("ANSWER", ""),
            response("200 OK", true)
        )
    };
    if let Phone::HearsMessageLamp { waiting } = behaviour {
        let body = message_notify(0, if waiting { "yes" } else { "no" }, "");
        return scenario("phone hears its message-waiting lamp", &body);
    }
    if let Phone::AnswersKeepAlive = behaviour {
        let body = format!(
            "<recv request=\"OPTIONS\"><action>{}</action></recv>\n{OK_TO_LAST_REQUEST}",
            note("KEEPALIVE", "")
        );
        return scenario("phone answers a keep-alive", &body);
    }
    let body = match behaviour {
        Phone::Answers { after_ms } => invite + &ringing + &answer(after_ms) + &bye_received,
        Phone::AnswersThenIgnoresBye { after_ms } => {
            let ignored = format!(
                "<recv request=\"BYE\"><action>{}</action></recv>\n<pause milliseconds=\"20000\"/>\n",
                note("BYE", "")
            );
            invite + &ringing + &answer(after_ms) + &ignored
        }
        Phone::AnswersAndHearsInfoDigit { after_ms } => {
            let info = format!(
                r#"<recv request="INFO">
<action>
<ereg regexp="Signal=([0-9*#A-D])" search_in="body" check_it="true" assign_to="signal,key"/>
{}
</action>
</recv>
"#,
                note("DIGIT", "[$key] [$signal]")
            );
            invite + &ringing + &answer(after_ms) + &info + OK_TO_LAST_REQUEST + &bye_received
        }
        Phone::AnswersThenIsReplaced { after_ms } => {
            invite
                + &ringing
                + &answer(after_ms)
                + &format!(
                    "<nop><action>{}</action></nop>\n",
                    note(
                        "DIALOG",
                        "[call_id] [$from_tag] [pid]SIPpTag01[call_number] [$from_uri]"
                    )
                )
                + &format!(
                    r#"<recv request="NOTIFY">
<action><ereg regexp="SIP/2.0 200" search_in="body" check_it="true" assign_to="frag"/>
<log message="[$frag]"/></action>
</recv>
{OK_TO_LAST_REQUEST}"#
                )
                + &bye_received
        }
        Phone::EarlyMediaThenAnswers { after_ms } => {
            invite + &response("183 Session Progress", true) + &answer(after_ms) + &bye_received
        }
        Phone::AnswersAndIsHeld { after_ms } => {
            let held = |offered: &str, answered: &str| {
                format!(
                    r#"<recv request="INVITE">
<action><ereg regexp="a={offered}" search_in="body" check_it="true" assign_to="offer_{offered}"/>
<log message="[$offer_{offered}]"/></action>
</recv>
"#
                ) + &response("200 OK", true).replace(
                    "a=rtpmap:101 telephone-event/8000\n",
                    &format!("a=rtpmap:101 telephone-event/8000\na={answered}\n"),
                ) + "<recv request=\"ACK\"/>\n"
            };
            invite
                + &ringing
                + &answer(after_ms)
                + &held("sendonly", "recvonly")
                + &held("sendrecv", "sendrecv")
                + &bye_received
        }
        Phone::AnswersThenHangsUp { after_ms, hold_ms } => {
            invite + &ringing + &answer(after_ms) + &phone_hangs_up(hold_ms)
        }
        Phone::AnswersThenFaxes {
            after_ms,
            fax_after_ms,
            hold_ms,
            t38_taken,
        } => {
            let contact = "Contact: <sip:[service]@[local_ip]:[local_port]>\nContent-Type: application/sdp\n";
            // One branch for the re-INVITE and the ACK of a refusal (same transaction).
            const T38_BRANCH: &str = "z9hG4bK-t38-[call_number]";
            let answered = match t38_taken {
                true => format!(
                    r#"<recv response="200">
<action><ereg regexp="m=image ([0-9]+) udptl t38" search_in="body" check_it="true" assign_to="image_line,image_port"/>
<log message="[$image_line]"/>
{}</action>
</recv>
"#,
                    note("FAX", "[$image_port]")
                ),
                false => format!(
                    "<recv response=\"488\"><action>{}</action></recv>\n",
                    note("NO-T38", "")
                ),
            };
            let reinvite = format!("<pause milliseconds=\"{fax_after_ms}\"/>\n")
                + &phone_sends("INVITE", 60, contact, T38_SDP).replace("[branch]", T38_BRANCH)
                + "<recv response=\"100\" optional=\"true\"/>\n"
                + &answered
                + &match t38_taken {
                    true => phone_sends("ACK", 60, "", ""),
                    false => phone_sends("ACK", 60, "", "").replace("[branch]", T38_BRANCH),
                };
            invite + &ringing + &answer(after_ms) + &reinvite + &phone_hangs_up(hold_ms)
        }
        Phone::AnswersThenPresses {
            after_ms,
            press_after_ms,
            digit,
            hangs_up_after_ms,
        } => {
            let press = format!(
                "<pause milliseconds=\"{press_after_ms}\"/>\n<nop><action>{}</action></nop>\n",
                note("PRESS", "")
            ) + &phone_sends(
                "INFO",
                50,
                "Content-Type: application/dtmf-relay\n",
                &format!("Signal={digit}\nDuration=160\n"),
            );
            // Declined, the exchange's BYE may overtake its 200 to the INFO (two transactions,
            // no order between them on UDP): then the late 200 is a dead call's message.
            let then = match hangs_up_after_ms {
                Some(ms) => "<recv response=\"200\"/>\n".to_string() + &phone_hangs_up(ms),
                None => "<recv response=\"200\" optional=\"true\"/>\n".to_string() + &bye_received,
            };
            invite + &ringing + &answer(after_ms) + &press + &then
        }
        Phone::ChallengesThenAnswers { user, after_ms } => {
            let challenge = response("407 Proxy Authentication Required", false).replace(
                "Content-Length: 0",
                "Proxy-Authenticate: Digest realm=\"carrier\", nonce=\"c4rr13r\", algorithm=MD5\nContent-Length: 0",
            );
            let authenticated = format!(
                r#"<recv request="INVITE">
<action><ereg regexp="username=.{user}." search_in="hdr" header="Proxy-Authorization:" check_it="true" assign_to="authorized"/>
<log message="[$authorized]"/></action>
</recv>
"#
            );
            invite + &challenge + "<recv request=\"ACK\"/>\n" + &authenticated + &answer(after_ms) + &bye_received
        }
        Phone::AnswersThenTransfers { after_ms, to } => {
            let notify = |status: &str| {
                format!(
                    r#"<recv request="NOTIFY">
<action><ereg regexp="SIP/2.0 {status}" search_in="body" check_it="true" assign_to="frag_{status}"/>
<log message="[$frag_{status}]"/></action>
</recv>
{OK_TO_LAST_REQUEST}"#
                )
            };
            invite
                + &ringing
                + &answer(after_ms)
                + "<pause milliseconds=\"300\"/>\n"
                + &phone_sends(
                    "REFER",
                    100,
                    &format!(
                        "Contact: <sip:[service]@[local_ip]:[local_port]>\nRefer-To: <sip:{to}@[remote_ip]:[remote_port]>\n\
                         Referred-By: <sip:[service]@[local_ip]:[local_port]>\n"
                    ),
                    "",
                )
                + "<recv response=\"202\"/>\n"
                + &notify("100")
                + &notify("200")
                + &bye_received
        }
        Phone::RingsUntilCancelled { completed_elsewhere } => {
            let check = if completed_elsewhere {
                "check_it"
            } else {
                "check_it_inverse"
            };
            invite
                + &ringing
                + &format!(
                    r#"<recv request="CANCEL">
<action>
<ereg regexp="cause=200" search_in="hdr" header="Reason:" {check}="true" assign_to="reason"/>
{}
</action>
</recv>
"#,
                    note("CANCEL", "0 [$reason]")
                )
                + &response("200 OK", false)
                + r#"<send><![CDATA[
SIP/2.0 487 Request Terminated
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
CSeq: [$cseq] INVITE
Content-Length: 0

]]></send>
<recv request="ACK"/>
"#
        }
        Phone::AnswersKeepAlive | Phone::HearsMessageLamp { .. } => unreachable!("handled above"),
        Phone::Busy => invite + &response("486 Busy Here", false) + "<recv request=\"ACK\"/>\n",
    };
    scenario(&format!("phone: {behaviour:?}"), &body)
}
