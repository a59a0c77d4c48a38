//! Relay capacity: how many bridged G.711 calls one core of relay carries, and its CPU per
//! packet.
//!
//! `cargo bench -p switchboard --bench relay -- [CALLS...] [--secs N]` (default 100 250 500
//! 1000 calls, 10 s each). For each step, the real relay (`media::bridge::relay`, as a bridged
//! call runs it) runs on one thread with its own tokio runtime; a load generator on another
//! thread plays both phones of every call: one 160-byte PCMA packet every 20 ms in each
//! direction, all on loopback. Reported: packets sent and received, loss, and the relay
//! thread's CPU time per relayed packet (from /proc/thread-self/stat, 10 ms ticks).

use std::net::{SocketAddr, UdpSocket as StdSocket};
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use switchboard::media::{BridgeSide, Codec, MediaOffer, RtpSocket, bridge};
use tokio::net::UdpSocket;

mod common;
use common::{bind, play_phones, thread_cpu};

fn main() {
    // As in the exchange: the relay's packet counters count into a real recorder.
    let _metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .expect("metrics recorder");
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut calls = Vec::new();
    let mut secs = 10u64;
    while let Some(arg) = args.next() {
        if arg == "--secs" {
            secs = args.next().and_then(|s| s.parse().ok()).expect("--secs N");
        } else if let Ok(n) = arg.parse() {
            calls.push(n);
        }
    }
    if calls.is_empty() {
        calls = vec![100, 250, 500, 1000];
    }
    println!("calls  sent      received  loss%    relay-CPU%  µs/packet");
    for n in calls {
        let r = run(n, Duration::from_secs(secs));
        println!(
            "{n:<6} {:<9} {:<9} {:<8.3} {:<11.1} {:.2}",
            r.sent,
            r.received,
            100.0 * (r.sent - r.received) as f64 / r.sent.max(1) as f64,
            100.0 * r.relay_cpu.as_secs_f64() / r.wall.as_secs_f64(),
            r.relay_cpu.as_secs_f64() * 1e6 / r.received.max(1) as f64,
        );
    }
}

struct Outcome {
    sent: u64,
    received: u64,
    relay_cpu: Duration,
    wall: Duration,
}

/// A call's two phones (the generator's sockets) and the relay's two sockets towards them.
struct Call {
    phones: [StdSocket; 2],
    relay: [StdSocket; 2],
}

fn run(calls: usize, length: Duration) -> Outcome {
    let calls: Vec<Call> = (0..calls)
        .map(|_| Call {
            phones: [bind(), bind()],
            relay: [bind(), bind()],
        })
        .collect();
    let sides: Vec<[(StdSocket, SocketAddr); 2]> = calls
        .iter()
        .map(|c| [0, 1].map(|i| (c.relay[i].try_clone().unwrap(), c.phones[i].local_addr().unwrap())))
        .collect();
    let targets: Vec<[SocketAddr; 2]> = calls
        .iter()
        .map(|c| [0, 1].map(|i| c.relay[i].local_addr().unwrap()))
        .collect();
    let phones: Vec<[StdSocket; 2]> = calls.into_iter().map(|c| c.phones).collect();

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (cpu_tx, cpu_rx) = std_mpsc::channel();
    let relay = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            for pair in sides {
                let [a, b] = pair.map(|(socket, phone)| {
                    let media = MediaOffer {
                        remote: phone,
                        codec: Codec::Pcma,
                        payload_type: 8,
                        telephone_event: None,
                        ptime: 20,
                    };
                    let socket = Arc::new(RtpSocket::plain(UdpSocket::from_std(socket).unwrap()));
                    BridgeSide::new(socket, media, 1)
                });
                tokio::spawn(async move { bridge::relay(&a, &b, Duration::from_secs(60)).await });
            }
            let start = thread_cpu();
            let _ = stop_rx.await;
            cpu_tx.send(thread_cpu() - start).unwrap();
        });
    });

    let playing: Vec<(&StdSocket, SocketAddr)> = phones
        .iter()
        .zip(&targets)
        .flat_map(|(phones, targets)| phones.iter().zip(targets.iter().copied()))
        .collect();
    let (sent, received, wall) = play_phones(&playing, length);
    let _ = stop_tx.send(());
    let relay_cpu = cpu_rx.recv().unwrap();
    relay.join().unwrap();
    Outcome {
        sent,
        received,
        relay_cpu,
        wall,
    }
}
