//! baresip, a real softphone, as an employee: it registers with digest auth, auto-answers a
//! call the hunt flow rings it with, and talks (a WAV file as its microphone) through our relay;
//! the caller's voice reaches it the other way (its sndfile module dumps what it decoded).

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::harness::{RtpPeer, Server, trace};
use crate::registrar::{PASSWORD, add_employee};
use crate::sipp;

const NUMBER: &str = "+15550100300";

fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts baresip as `login`, registering with `server`, speaking `microphone` (8 kHz WAV).
fn start_baresip(server: &Server, dir: &std::path::Path, login: &str, microphone: &str) -> tokio::process::Child {
    let rtp = free_udp_port() & !1;
    let config = format!(
        "poll_method epoll\nsip_listen 127.0.0.1:{sip}\nrtp_ports {rtp}-{rtp_end}\n\
         audio_player aubridge,nil\naudio_alert aubridge,nil\naudio_source aufile,{microphone}\n\
         module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule aufile.so\nmodule aubridge.so\n\
         module sndfile.so\nsnd_path {dumps}\n\
         module_app account.so\nmodule_app menu.so\n",
        dumps = dir.display(),
        sip = free_udp_port(),
        rtp_end = rtp + 10,
    );
    std::fs::write(dir.join("config"), config).unwrap();
    let account = format!(
        "<sip:{login}@{}>;auth_pass={PASSWORD};answermode=auto;regint=60;audio_codecs=PCMA\n",
        server.sip
    );
    std::fs::write(dir.join("accounts"), account).unwrap();
    tokio::process::Command::new("baresip")
        .arg("-f")
        .arg(dir)
        .args(["-t", "60"])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("baresip.log")).unwrap())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("start baresip (Debian package baresip-core)")
}

/// Root mean square of A-law audio.
fn alaw_rms(payloads: &[Vec<u8>]) -> f64 {
    let samples: Vec<f64> = payloads
        .iter()
        .flatten()
        .map(|b| switchboard::media::g711::alaw_to_linear(*b) as f64)
        .collect();
    (samples.iter().map(|s| s * s).sum::<f64>() / samples.len().max(1) as f64).sqrt()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn baresip_registers_auto_answers_and_its_voice_reaches_the_caller() {
    let server = Server::start().await;
    add_employee(&server, "alice", "101").await;
    let dir = tempfile::tempdir().unwrap();
    let microphone = concat!(env!("CARGO_MANIFEST_DIR"), "/prompts/ivr-greeting.wav");
    let _phone = start_baresip(&server, dir.path(), "alice", microphone);

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let registrations = server.get_json("/registrations").await;
        if registrations["registrations"].as_array().is_some_and(|r| !r.is_empty()) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "baresip did not register; its log:\n{}",
            std::fs::read_to_string(dir.path().join("baresip.log")).unwrap_or_default()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    server.assign(NUMBER, "hunt", json!({ "members": ["alice"] })).await;
    let caller_rtp = RtpPeer::bind().await;
    let caller = tokio::spawn(sipp::call(
        server.sip,
        sipp::caller_hangs_up(2500),
        NUMBER,
        caller_rtp.port(),
    ));
    // The caller talks too (sip-tester's G.711 voice), from where the exchange reaches it.
    let to_exchange = caller_rtp.first_packet_from(Duration::from_secs(10)).await;
    let voice = std::path::Path::new("/usr/share/sip-tester/g711a.pcap");
    caller_rtp
        .play_pcap_for(voice, to_exchange, Duration::from_millis(1500))
        .await;
    let run = caller.await.unwrap();
    let phone_log = std::fs::read_to_string(dir.path().join("baresip.log")).unwrap_or_default();
    assert!(
        run.success,
        "caller: {}\nbaresip:\n{phone_log}\nserver:\n{}",
        run.output,
        server.log()
    );

    // baresip's voice, relayed: PCMA at 50 packets a second, and speech, not silence.
    let received = caller_rtp.received();
    let voice: Vec<Vec<u8>> = received
        .iter()
        .filter(|p| p.data.len() == 172 && p.data[1] & 0x7f == 8)
        .map(|p| p.data[12..].to_vec())
        .collect();
    assert!(
        voice.len() >= 60,
        "only {} voice packets in ~2 s\nbaresip:\n{phone_log}",
        voice.len()
    );
    let rms = alaw_rms(&voice);
    assert!(rms > 300.0, "the relayed audio is near silence (RMS {rms:.0})");

    let record = server.call_record(NUMBER).await;
    assert!(
        trace(&record)
            .iter()
            .any(|e| e.contains("Answered") && e.contains("alice")),
        "{record}"
    );
    // The caller's BYE reached the phone.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !std::fs::read_to_string(dir.path().join("baresip.log"))
        .unwrap_or_default()
        .contains("terminated")
    {
        assert!(Instant::now() < deadline, "baresip never saw the call end");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And the caller's voice reached baresip: its sndfile module keeps what it decoded, in a
    // WAV whose header gets its length when the call ends there (so: wait for it).
    let deadline = Instant::now() + Duration::from_secs(5);
    let (secs, loud) = loop {
        let heard = std::fs::read_dir(dir.path())
            .unwrap()
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"));
        let measured = heard.and_then(|path| {
            let reader = hound::WavReader::open(&path).ok()?;
            let rate = reader.spec().sample_rate as f64;
            let samples: Vec<i16> = reader.into_samples().filter_map(Result::ok).collect();
            let rms = (samples.iter().map(|s| (*s as f64).powi(2)).sum::<f64>() / samples.len().max(1) as f64).sqrt();
            (!samples.is_empty()).then(|| (samples.len() as f64 / rate, rms))
        });
        match measured {
            Some(m) => break m,
            None if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(100)).await,
            None => panic!("no decoded-audio dump from baresip\n{phone_log}"),
        }
    };
    assert!((1.0..4.0).contains(&secs), "baresip heard {secs:.2} s of the call");
    assert!(loud > 300.0, "what baresip heard is near silence (RMS {loud:.0})");
}
