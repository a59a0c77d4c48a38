//! Fax to a fax extension: an ATA registered as an employee answers a call, re-INVITEs to
//! T.38, and the exchange passes the offer on to the caller, answers with the caller's answer,
//! and relays the UDPTL datagrams both ways untouched.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;

use crate::harness::{RtpPeer, Server};
use crate::hunt::{Desk, finished, phones_listening};
use crate::sipp::{self, Phone, SippRun};
use tokio::task::JoinHandle;

const NUMBER: &str = "+15550100320";

/// UDPTL datagrams as a fax sends them (sequence number, then an IFP packet): not RTP.
fn udptl(sequence: u16) -> Vec<u8> {
    let mut datagram = sequence.to_be_bytes().to_vec();
    datagram.extend_from_slice(&[0x06, 0xd0, 0x01, 0x80, 0x00, 0x00]);
    datagram
}

/// A caller (`sipp`, taking T.38 or not) calls the fax line (extension 150), which answers and
/// re-INVITEs to T.38: the fax's desk, its sipp, the caller's sipp and RTP peer.
async fn fax_is_called(server: &Server, t38_taken: bool) -> (Desk, JoinHandle<SippRun>, JoinHandle<SippRun>, RtpPeer) {
    let fax = Desk::register(server, "fax", "150").await;
    server.assign(NUMBER, "hunt", json!({ "members": ["fax"] })).await;
    let fax_phone = fax.expect(
        server,
        Phone::AnswersThenFaxes {
            after_ms: 200,
            fax_after_ms: 500,
            hold_ms: if t38_taken { 3000 } else { 2500 },
            t38_taken,
        },
    );
    phones_listening().await;
    let caller_rtp = RtpPeer::bind().await;
    let scenario = match t38_taken {
        true => sipp::caller_takes_fax(),
        false => sipp::caller_refuses_fax(),
    };
    let caller = tokio::spawn(sipp::call(server.sip, scenario, NUMBER, caller_rtp.port()));
    (fax, fax_phone, caller, caller_rtp)
}

/// The fax line (extension 150) answers; its T.38 re-INVITE reaches the caller, whose answer
/// reaches the fax; fax datagrams sent either way arrive unchanged on the other side.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fax_machines_t38_reinvite_is_passed_on_and_its_datagrams_relayed() {
    let server = Server::start().await;
    let (fax, fax_phone, caller, caller_rtp) = fax_is_called(&server, true).await;

    let agreed = fax.wait_for("FAX", Duration::from_secs(10)).await;
    let to_exchange = SocketAddr::from(([127, 0, 0, 1], agreed.port().expect("the exchange's T.38 port")));
    // The fax machine sends; the caller receives the datagrams as they were.
    for sequence in 0..20 {
        fax.rtp.send_raw(&udptl(sequence), to_exchange).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let exchange_at_caller = caller_rtp.first_packet_from(Duration::from_secs(5)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let at_caller: Vec<Vec<u8>> = caller_rtp.received().into_iter().map(|r| r.data).collect();
    assert_eq!(
        at_caller,
        (0..20).map(udptl).collect::<Vec<_>>(),
        "the caller got the fax's datagrams"
    );
    // The caller's side answers back.
    for sequence in 100..110 {
        caller_rtp.send_raw(&udptl(sequence), exchange_at_caller).await;
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let at_fax: Vec<Vec<u8>> = fax
        .rtp
        .received()
        .into_iter()
        .map(|r| r.data)
        .filter(|d| d.first() != Some(&0x80))
        .collect();
    assert_eq!(
        at_fax,
        (100..110).map(udptl).collect::<Vec<_>>(),
        "the fax got the caller's datagrams"
    );

    finished(&server, "fax", fax_phone).await;
    let run = caller.await.unwrap();
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    assert!(server.log().contains("T.38 agreed"), "{}", server.log());
}

/// The caller's side takes no T.38 (488): the fax machine's re-INVITE is refused with 488 too,
/// and the call stays on G.711 — audio from the fax still reaches the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_t38_offer_the_other_side_refuses_is_refused_and_audio_goes_on() {
    let server = Server::start().await;
    let (fax, fax_phone, caller, caller_rtp) = fax_is_called(&server, false).await;
    let answered = fax.wait_for("INVITE", Duration::from_secs(10)).await;
    let to_exchange = SocketAddr::from(([127, 0, 0, 1], answered.port().expect("the exchange's RTP port")));
    fax.wait_for("NO-T38", Duration::from_secs(10)).await;
    // G.711 from the fax machine still reaches the caller.
    let tone = switchboard::media::Prompt::tone(1100.0, 600, 0);
    fax.rtp.send_pcma(tone.samples(), to_exchange).await;
    caller_rtp.first_packet_from(Duration::from_secs(5)).await;
    finished(&server, "fax", fax_phone).await;
    let run = caller.await.unwrap();
    assert!(run.success, "caller: {}\nserver log:\n{}", run.output, server.log());
    assert!(caller_rtp.received().len() >= 10, "the caller heard the fax's tone");
}
