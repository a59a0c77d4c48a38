//! What the benchmarks share: loopback sockets for the simulated phones, reading what they
//! received, and a thread's CPU time.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket as StdSocket};
use std::time::Duration;

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
