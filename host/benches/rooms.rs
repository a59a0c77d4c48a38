//! Supervised calls: what a call costs once it moves from the relay into a room of its own
//! with a supervisor listening (`call/room.rs`, `media/mixer.rs`): three members — the caller,
//! the employee (coached) and the supervisor (a listener) — mixed every 20 ms, each sent the
//! others' voices in its own stream.
//!
//! `cargo bench -p switchboard --bench rooms -- [ROOMS...] [--secs N]` (default 50 100 200
//! rooms, 10 s each). The rooms run on one thread with its own tokio runtime (one mixing task
//! per room, as in the exchange); a load generator on another thread plays every member's
//! phone: one 160-byte PCMA packet every 20 ms. Reported: packets sent and received, the mixer
//! thread's CPU share and its CPU per room.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::mpsc as std_mpsc;
use std::time::Duration;

use switchboard::media::mixer::{Role, Rooms};
use switchboard::media::{BridgeSide, Codec, MediaOffer, RtpSocket};
use tokio::net::UdpSocket;

mod common;
use common::{bind, play_phones, thread_cpu};

/// The members of a supervised call and how each is heard.
const ROLES: [Role; 3] = [Role::Talker, Role::Coached, Role::Listener];

fn main() {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut rooms = Vec::new();
    let mut secs = 10u64;
    while let Some(arg) = args.next() {
        if arg == "--secs" {
            secs = args.next().and_then(|s| s.parse().ok()).expect("--secs N");
        } else if let Ok(n) = arg.parse() {
            rooms.push(n);
        }
    }
    if rooms.is_empty() {
        rooms = vec![50, 100, 200];
    }
    println!("rooms  sent      received  mixer-CPU%  µs/room/tick");
    for n in rooms {
        let length = Duration::from_secs(secs);
        let (sent, received, cpu, wall) = run(n, length);
        let ticks = wall.as_secs_f64() / 0.020;
        println!(
            "{n:<6} {sent:<9} {received:<9} {:<11.1} {:.1}",
            100.0 * cpu.as_secs_f64() / wall.as_secs_f64(),
            cpu.as_secs_f64() * 1e6 / (ticks * n as f64),
        );
    }
}

/// Runs `rooms` supervised calls for `length`: (sent, received, mixer CPU, wall time).
fn run(rooms: usize, length: Duration) -> (u64, u64, Duration, Duration) {
    let phones: Vec<[std::net::UdpSocket; 3]> = (0..rooms).map(|_| [bind(), bind(), bind()]).collect();
    let ours: Vec<[std::net::UdpSocket; 3]> = (0..rooms).map(|_| [bind(), bind(), bind()]).collect();
    let targets: Vec<[SocketAddr; 3]> = ours
        .iter()
        .map(|o| [0, 1, 2].map(|i| o[i].local_addr().unwrap()))
        .collect();
    let members: Vec<[(std::net::UdpSocket, SocketAddr); 3]> = ours
        .into_iter()
        .zip(&phones)
        .map(|(o, p)| {
            let [a, b, c] = o;
            [
                (a, p[0].local_addr().unwrap()),
                (b, p[1].local_addr().unwrap()),
                (c, p[2].local_addr().unwrap()),
            ]
        })
        .collect();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let (cpu_tx, cpu_rx) = std_mpsc::channel();
    let mixer = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let rooms = Rooms::default();
            let mut seats = Vec::new();
            for (i, room) in members.into_iter().enumerate() {
                let name = format!("call-{i}");
                for ((socket, phone), role) in room.into_iter().zip(ROLES) {
                    let media = MediaOffer {
                        remote: phone,
                        codec: Codec::Pcma,
                        payload_type: 8,
                        telephone_event: None,
                        ptime: 20,
                    };
                    let socket = Arc::new(RtpSocket::plain(UdpSocket::from_std(socket).unwrap()));
                    let side = BridgeSide::new(socket, media, 1);
                    let member = rooms.join(&name, side, Duration::from_secs(60));
                    member.set_role(role);
                    seats.push(member);
                }
            }
            let start = thread_cpu();
            let _ = stop_rx.await;
            cpu_tx.send(thread_cpu() - start).unwrap();
            drop(seats);
        });
    });

    let playing: Vec<(&std::net::UdpSocket, SocketAddr)> = phones
        .iter()
        .zip(&targets)
        .flat_map(|(phones, targets)| phones.iter().zip(targets.iter().copied()))
        .collect();
    let (sent, received, wall) = play_phones(&playing, length);
    let _ = stop_tx.send(());
    let cpu = cpu_rx.recv().unwrap();
    mixer.join().unwrap();
    (sent, received, cpu, wall)
}
