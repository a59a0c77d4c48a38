//! Kamailio in front of the nodes, with the repository's config (deploy/kamailio/), on a port
//! of its own on loopback.

use std::net::{SocketAddr, UdpSocket};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Proxy {
    /// Where phones and callers send their requests.
    pub sip: SocketAddr,
    child: Child,
    dir: tempfile::TempDir,
}

impl Proxy {
    /// A free UDP address on loopback for a proxy (the nodes need it before it starts).
    pub fn free_address() -> SocketAddr {
        UdpSocket::bind("127.0.0.1:0").unwrap().local_addr().unwrap()
    }

    /// Starts Kamailio at `sip` in front of `nodes` (dispatcher set 1), and waits until a
    /// request through it is answered.
    pub async fn start(sip: SocketAddr, nodes: &[SocketAddr]) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("nodes.list");
        let lines: String = nodes.iter().map(|n| format!("1 sip:{n}\n")).collect();
        std::fs::write(&list, lines).unwrap();
        let config = concat!(env!("CARGO_MANIFEST_DIR"), "/../deploy/kamailio/kamailio.cfg");
        let log = std::fs::File::create(dir.path().join("kamailio.log")).unwrap();
        let child = Command::new("kamailio")
            .args(["-DD", "-E", "-m", "256", "-f", config, "-l", &format!("udp:{sip}")])
            .arg("-A")
            .arg(format!("NODES_LIST=\"{}\"", list.display()))
            .arg("-Y")
            .arg(dir.path())
            .arg("-w")
            .arg(dir.path())
            // Its own process group: Drop stops Kamailio's children with it.
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("kamailio (Debian package kamailio; tests/run-all.sh installs it)");
        let proxy = Proxy { sip, child, dir };
        proxy.answers(Duration::from_secs(20)).await;
        proxy
    }

    /// Kamailio's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("kamailio.log")).unwrap_or_default()
    }

    /// Waits until an OPTIONS sent to the proxy gets a 200 (from a node behind it).
    async fn answers(&self, within: Duration) {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let local = socket.local_addr().unwrap();
        let deadline = Instant::now() + within;
        let mut buf = vec![0u8; 4096];
        for attempt in 0.. {
            let options = format!(
                "OPTIONS sip:ping@{sip} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bKready{attempt};rport\r\n\
                 Max-Forwards: 70\r\nFrom: <sip:test@{local}>;tag=ready\r\nTo: <sip:ping@{sip}>\r\n\
                 Call-ID: ready-{attempt}@{local}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
                sip = self.sip
            );
            socket.send_to(options.as_bytes(), self.sip).await.unwrap();
            if let Ok(Ok(n)) = tokio::time::timeout(Duration::from_millis(300), socket.recv(&mut buf)).await
                && buf[..n].starts_with(b"SIP/2.0 200")
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "Kamailio at {} did not answer in {within:?}:\n{}",
                self.sip,
                self.log()
            );
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the process group of our own child; no memory is involved.
        unsafe { libc::kill(-(self.child.id() as libc::pid_t), libc::SIGKILL) };
        let _ = self.child.wait();
    }
}
