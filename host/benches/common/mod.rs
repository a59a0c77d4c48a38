//! What the benchmarks share: loopback sockets for the simulated phones, the phones playing
//! G.711 in real time, and a thread's CPU time.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket as StdSocket};
use std::time::{Duration, Instant};

use switchboard::media::rtp::RtpSender;

/// A non-blocking UDP socket on loopback.
pub fn bind() -> StdSocket {
    let s = StdSocket::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))).expect("bind (raise ulimit -n for many calls)");
    s.set_nonblocking(true).unwrap();
    s
}

/// Reads whatever the phones received; how many datagrams.
pub fn drain<'a>(phones: impl IntoIterator<Item = &'a StdSocket>, buf: &mut [u8]) -> u64 {
    let mut n = 0;
    for socket in phones {
        while socket.recv_from(buf).is_ok() {
            n += 1;
        }
    }
    n
}

/// CPU time (user + system) of the calling thread so far.
pub fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses and may hold spaces).
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    // utime and stime are fields 14 and 15 of the line; after the name, fields count from 3.
    Duration::from_millis((ticks(11) + ticks(12)) * 10)
}

/// Every phone (its socket, and where it sends) plays one 172-byte PCMA packet (160 bytes of
/// audio) every 20 ms for `length`, on its own RTP stream; whatever the phones receive is
/// counted. Returns (packets sent, packets received, wall time).
pub fn play_phones(phones: &[(&StdSocket, SocketAddr)], length: Duration) -> (u64, u64, Duration) {
    let mut senders: Vec<RtpSender> = phones.iter().map(|_| RtpSender::new(rand::random(), 0, 0)).collect();
    let (mut sent, mut received) = (0u64, 0u64);
    let mut packet = [0u8; 172];
    let mut buf = [0u8; 2048];
    let payload = [0xd5u8; 160];
    let start = Instant::now();
    let mut next = start;
    while start.elapsed() < length {
        for ((phone, target), sender) in phones.iter().zip(&mut senders) {
            let n = sender.write(&mut packet, 8, &payload, 160);
            if phone.send_to(&packet[..n], target).is_ok() {
                sent += 1;
            }
        }
        received += drain(phones.iter().map(|(p, _)| *p), &mut buf);
        next += Duration::from_millis(20);
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    // Let the last packets through.
    std::thread::sleep(Duration::from_millis(200));
    received += drain(phones.iter().map(|(p, _)| *p), &mut buf);
    (sent, received, start.elapsed())
}
