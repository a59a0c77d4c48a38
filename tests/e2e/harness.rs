//! The harness: starts the real binary on free loopback ports, talks to its API, and owns the
//! caller's RTP endpoint.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UdpSocket;

pub const TOKEN: &str = "e2e-secret-token";

pub struct Server {
    child: tokio::process::Child,
    pub sip: SocketAddr,
    pub http: String,
    log: PathBuf,
    dir: tempfile::TempDir,
    http_client: reqwest::Client,
    token: Option<String>,
}

impl Server {
    /// A fresh exchange that accepts [`TOKEN`].
    pub async fn start() -> Server {
        Self::start_in(tempfile::tempdir().unwrap(), Some(TOKEN)).await.0
    }

    /// Starts the exchange on the database in `dir`; returns it and what it printed on stdout.
    pub async fn start_in(dir: tempfile::TempDir, token: Option<&str>) -> (Server, Vec<String>) {
        Self::start_with(dir, token, &[]).await
    }

    /// A fresh exchange that accepts [`TOKEN`], started with more `serve` flags.
    pub async fn start_flagged(flags: &[&str]) -> Server {
        Self::start_with(tempfile::tempdir().unwrap(), Some(TOKEN), flags)
            .await
            .0
    }

    /// [`Server::start_in`] with more `serve` flags.
    pub async fn start_with(dir: tempfile::TempDir, token: Option<&str>, flags: &[&str]) -> (Server, Vec<String>) {
        Self::start_logging(dir, token, flags, Some("info,switchboard=debug,rsipstack=warn")).await
    }

    /// A fresh exchange that logs as it does by default (no `RUST_LOG`): for tests of how much
    /// it logs.
    pub async fn start_quiet() -> Server {
        let dir = tempfile::tempdir().unwrap();
        Self::start_logging(dir, Some(TOKEN), &[], None).await.0
    }

    /// [`Server::start_with`], logging at `rust_log` (`RUST_LOG`; none: the default).
    pub async fn start_logging(
        dir: tempfile::TempDir,
        token: Option<&str>,
        flags: &[&str],
        rust_log: Option<&str>,
    ) -> (Server, Vec<String>) {
        let log = dir.path().join("switchboard.log");
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"));
        command
            .arg("serve")
            .args(["--sip-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0"]);
        if !flags.contains(&"--database") {
            command.arg("--database").arg(dir.path().join("switchboard.db"));
        }
        command
            .args(flags)
            .env_remove("SWITCHBOARD_API_TOKEN")
            .env_remove("DATABASE_URL")
            // The exchange calls due callbacks back by itself; only the tests of that turn it on
            // (`--callback-check-secs`), so that no other test's phone rings unexpectedly.
            .env("SWITCHBOARD_CALLBACK_CHECK_SECS", "0")
            .env_remove("RUST_LOG");
        if let Some(filter) = rust_log {
            command.env("RUST_LOG", filter);
        }
        if let Some(token) = token {
            command.env("SWITCHBOARD_API_TOKEN", token);
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("start switchboard");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut printed = Vec::new();
        let ready = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                printed.push(line.clone());
                if line.starts_with("switchboard ready:") {
                    return line;
                }
            }
            panic!(
                "switchboard exited before it was ready: {}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        })
        .await
        .expect("switchboard did not start in time");
        let field = |key: &str| {
            ready
                .split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {ready}"))
                .to_string()
        };
        let sip = field("sip=udp:").parse().unwrap();
        let http = field("http=");
        // The lines after "ready" (the bootstrap token) up to the console's address, the last.
        let rest = tokio::time::timeout(Duration::from_secs(30), async {
            while let Ok(Some(line)) = lines.next_line().await {
                let last = line.starts_with("console:");
                printed.push(line);
                if last {
                    break;
                }
            }
        });
        rest.await.expect("switchboard printed its console's address");
        // The pipe stays open for whatever else it prints.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let server = Server {
            child,
            sip,
            http,
            log,
            dir,
            http_client: reqwest::Client::new(),
            token: token.map(str::to_owned),
        };
        (server, printed)
    }

    /// Stops the exchange and hands back its data directory (to start it again on the same data).
    pub async fn stop(mut self) -> tempfile::TempDir {
        self.child.kill().await.unwrap();
        self.dir
    }

    /// Asks the exchange to stop as a service manager does (SIGTERM) and waits for it to exit;
    /// its exit status and its data directory.
    pub async fn terminate(mut self) -> (std::process::ExitStatus, tempfile::TempDir) {
        let pid = self.child.id().expect("running") as libc::pid_t;
        // SAFETY: kill(2) sends a signal to our own child; no memory is involved.
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let status = tokio::time::timeout(Duration::from_secs(15), self.child.wait())
            .await
            .expect("the exchange stops within 15 s of SIGTERM")
            .unwrap();
        (status, self.dir)
    }

    /// Uses another token for the API from now on.
    pub fn use_token(&mut self, token: &str) {
        self.token = Some(token.to_owned());
    }

    /// How many bytes the server has logged so far.
    /// The exchange's log file (for tasks that outlive a borrow of the server).
    pub fn log_path(&self) -> PathBuf {
        self.log.clone()
    }

    pub fn log_bytes(&self) -> u64 {
        std::fs::metadata(&self.log).map(|m| m.len()).unwrap_or_default()
    }

    /// The server's log so far (for assertion messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let request = self.http_client.request(method, format!("{}{path}", self.http));
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    /// A request with an employee's token instead of the admin's.
    pub fn request_as(&self, token: &str, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http_client
            .request(method, format!("{}{path}", self.http))
            .bearer_auth(token)
    }

    /// `GET path` with an employee's token; the JSON body.
    pub async fn get_json_as(&self, token: &str, path: &str) -> Value {
        let r = self.request_as(token, reqwest::Method::GET, path).send().await.unwrap();
        r.json().await.unwrap()
    }

    /// Creates an employee with the `user` role and logs them in; their token.
    pub async fn user_token(&self, login: &str, extension: &str) -> String {
        let password = "correct-horse";
        let employee = serde_json::json!({ "login": login, "password": password, "extension": extension });
        let (status, body) = self.send(reqwest::Method::POST, "/employees", employee).await;
        assert_eq!(status, 201, "{body}");
        self.login(login, password).await
    }

    /// An employee's token from `POST /login`.
    pub async fn login(&self, login: &str, password: &str) -> String {
        let r = self
            .http_client
            .post(format!("{}/login", self.http))
            .json(&serde_json::json!({ "login": login, "password": password }))
            .send()
            .await
            .unwrap();
        let body: Value = r.json().await.unwrap();
        body["token"]
            .as_str()
            .unwrap_or_else(|| panic!("login: {body}"))
            .to_owned()
    }

    /// Gives `number` the default chain (business hours, the menu, the departments).
    pub async fn assign_default(&self, number: &str) {
        let (status, body) = self
            .send(
                reqwest::Method::PUT,
                &format!("/numbers/{number}"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }

    pub async fn assign(&self, number: &str, flow: &str, settings: Value) {
        let r = self
            .request(reqwest::Method::PUT, &format!("/numbers/{number}"))
            .json(&serde_json::json!({ "flow": flow, "settings": settings }))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "assign {number}: {}", r.text().await.unwrap());
    }

    pub async fn upload(&self, name: &str, wasm: Vec<u8>) -> reqwest::Response {
        self.request(reqwest::Method::POST, &format!("/flows?name={name}"))
            .body(wasm)
            .send()
            .await
            .unwrap()
    }

    /// GET `path` and its JSON body.
    /// A JSON request; the status and the JSON body (null when there is none).
    pub async fn send(&self, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
        let r = self.request(method, path).json(&body).send().await.unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let response = self.request(reqwest::Method::GET, path).send().await.unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    /// The call record for calls to `dialled`, waiting for it to be written.
    pub async fn call_record(&self, dialled: &str) -> Value {
        let record_of = |calls: &Value| {
            let calls = calls["calls"].as_array()?;
            calls.iter().find(|c| c["dialled"] == dialled).cloned()
        };
        let calls = self.get_json_until("/calls", |calls| record_of(calls).is_some()).await;
        record_of(&calls).expect("waited for")
    }

    /// The record of the `n`th call to `dialled` (counting from 1), waiting for it to be written.
    pub async fn nth_call(&self, dialled: &str, n: usize) -> Value {
        let to_dialled = |calls: &Value| -> Vec<Value> {
            let calls = calls["calls"].as_array().cloned().unwrap_or_default();
            calls.into_iter().filter(|c| c["dialled"] == dialled).collect()
        };
        let calls = self
            .get_json_until("/calls", |calls| to_dialled(calls).len() >= n)
            .await;
        let mut calls = to_dialled(&calls);
        calls.sort_by_key(|c| c["started_at"].as_i64());
        calls.swap_remove(n - 1)
    }

    /// `/metrics` as Prometheus text.
    pub async fn metrics(&self) -> String {
        let response = reqwest::get(format!("{}/metrics", self.http)).await.unwrap();
        assert_eq!(response.status(), 200);
        response.text().await.unwrap()
    }

    /// GETs `path` until `done` says yes of its JSON (up to 15 s; then the test fails with the
    /// last body and the server's log).
    pub async fn get_json_until(&self, path: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let body = self.get_json(path).await;
            if done(&body) {
                return body;
            }
            assert!(Instant::now() < deadline, "{path}: {body}\nlog:\n{}", self.log());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A sipp caller calls `number` and stays until the exchange hangs up; its RTP endpoint,
    /// with what it heard.
    pub async fn call_until_bye(&self, number: &'static str) -> RtpPeer {
        let caller_rtp = RtpPeer::bind().await;
        let run = crate::sipp::call(self.sip, crate::sipp::caller_waits_for_bye(), number, caller_rtp.port()).await;
        assert!(run.success, "caller: {}\nserver log:\n{}", run.output, self.log());
        caller_rtp
    }

    /// The process's resident memory now, in KiB (from /proc).
    pub fn rss_kib(&self) -> u64 {
        let pid = self.child.id().expect("running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS")
    }

    /// CPU time the process used so far (user + system), from /proc.
    pub fn cpu_time(&self) -> Duration {
        let pid = self.child.id().expect("running");
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
        // Fields after the command name (which may hold spaces) — utime and stime are the 14th
        // and 15th of the whole line.
        let after = &stat[stat.rfind(')').unwrap() + 2..];
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }
}

const IN_NETNS: &str = "SWITCHBOARD_TEST_IN_NETNS";

/// Runs `body` in a network namespace that has only loopback: the test named `test` re-runs
/// itself under `unshare -n` (root needed). For replays of foreign messages, whose headers name
/// hosts that are not ours: whatever the exchange does, nothing can leave the machine.
pub fn in_loopback_namespace<F: std::future::Future<Output = ()>>(test: &str, body: impl FnOnce() -> F) {
    if std::env::var_os(IN_NETNS).is_some() {
        return tokio::runtime::Runtime::new().unwrap().block_on(body());
    }
    let status = std::process::Command::new("unshare")
        .args(["-n", "sh", "-c", "ip link set lo up && exec \"$0\" \"$@\""])
        .arg(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(IN_NETNS, "1")
        .status()
        .expect("run unshare (util-linux) and ip (iproute2)");
    assert!(
        status.success(),
        "{test} failed inside its network namespace (unshare -n needs root)"
    );
}

/// The value of the first header named one of `names` (lower case; compact forms included).
pub fn sip_header(message: &[u8], names: &[&str]) -> Option<String> {
    String::from_utf8_lossy(message).lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        names
            .contains(&name.trim().to_ascii_lowercase().as_str())
            .then(|| value.trim().to_string())
    })
}

/// Sends an OPTIONS (its Call-ID made from `tag`) and returns the status line of its answer,
/// ignoring anything else that arrives on the probe's socket. A datagram can be lost when a
/// replay has just filled the server's socket buffer, so it asks up to three times.
pub async fn options_probe(server: SocketAddr, tag: &str) -> Option<String> {
    for attempt in 0..3 {
        if let Some(status) = options_once(server, &format!("{tag}-{attempt}")).await {
            return Some(status);
        }
    }
    None
}

async fn options_once(server: SocketAddr, tag: &str) -> Option<String> {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = socket.local_addr().unwrap().port();
    let call_id = format!("probe-{tag}@test");
    let probe = format!(
        "OPTIONS sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bKprobe{tag};rport\r\n\
         From: <sip:probe@127.0.0.1>;tag=p{tag}\r\nTo: <sip:{server}>\r\nCall-ID: {call_id}\r\n\
         CSeq: 1 OPTIONS\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
    );
    socket.send_to(probe.as_bytes(), server).await.unwrap();
    let mut buf = vec![0u8; 65536];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
        if sip_header(&buf[..n], &["call-id", "i"]).as_deref() == Some(call_id.as_str()) {
            return String::from_utf8_lossy(&buf[..n]).lines().next().map(str::to_owned);
        }
    }
    None
}

/// Where Debian's sip-tester keeps its pcaps (G.711 voice, RFC 2833 digits).
pub const PCAPS: &str = "/usr/share/sip-tester";

/// The trace events of a call record.
pub fn trace(record: &Value) -> Vec<String> {
    record["trace"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

/// One received RTP datagram.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub from: SocketAddr,
    pub data: Vec<u8>,
}

/// The caller's RTP endpoint.
pub struct RtpPeer {
    socket: Arc<UdpSocket>,
    received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl RtpPeer {
    pub async fn bind() -> RtpPeer {
        Self::bind_on("127.0.0.1").await
    }

    /// An RTP endpoint at another loopback address (a stranger's "host", e.g. 127.0.0.4).
    pub async fn bind_on(ip: &str) -> RtpPeer {
        let socket = Arc::new(UdpSocket::bind((ip, 0)).await.unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (socket.clone(), received.clone());
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = s.recv_from(&mut buf).await {
                r.lock().push(Received {
                    at: Instant::now(),
                    from,
                    data: buf[..n].to_vec(),
                });
            }
        });
        RtpPeer { socket, received, task }
    }

    pub fn port(&self) -> u16 {
        self.socket.local_addr().unwrap().port()
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().clone()
    }

    /// The exchange's RTP address, once its first packet arrived.
    pub async fn first_packet_from(&self, within: Duration) -> SocketAddr {
        let deadline = Instant::now() + within;
        loop {
            if let Some(p) = self.received.lock().first() {
                return p.from;
            }
            assert!(Instant::now() < deadline, "no RTP from the exchange");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends one datagram as it is (a T.38 fax stream's UDPTL, which is not RTP).
    pub async fn send_raw(&self, datagram: &[u8], to: SocketAddr) {
        self.socket.send_to(datagram, to).await.unwrap();
    }

    /// Sends 8 kHz audio to `to` as PCMA, 20 ms a packet, paced in real time.
    pub async fn send_pcma(&self, samples: &[i16], to: SocketAddr) {
        let mut interval = tokio::time::interval(Duration::from_millis(20));
        let ssrc: u32 = 0x5eed;
        for (i, frame) in samples.chunks(160).enumerate() {
            interval.tick().await;
            let mut packet = vec![0x80, 8];
            packet.extend_from_slice(&(i as u16).to_be_bytes());
            packet.extend_from_slice(&(i as u32 * 160).to_be_bytes());
            packet.extend_from_slice(&ssrc.to_be_bytes());
            packet.extend(frame.iter().map(|s| switchboard::media::g711::linear_to_alaw(*s)));
            self.socket.send_to(&packet, to).await.unwrap();
        }
    }

    /// Types `digits` as RFC 4733 events (payload type 101): per key three packets of the tone
    /// growing in duration, then three End packets, 100 ms apart from the next key.
    pub async fn send_digits(&self, digits: &str, to: SocketAddr) {
        let ssrc: u32 = 0xd1d1;
        let mut seq: u16 = 0;
        for (k, digit) in digits.chars().enumerate() {
            let event = match digit {
                '0'..='9' => digit as u8 - b'0',
                '*' => 10,
                '#' => 11,
                other => panic!("not a DTMF key: {other}"),
            };
            let timestamp = 8000 * k as u32;
            for step in 0..6u16 {
                let end = step >= 3;
                let duration = 160 * (step.min(3) + 1);
                let mut packet = vec![0x80, 101 | if step == 0 { 0x80 } else { 0 }];
                packet.extend_from_slice(&seq.to_be_bytes());
                packet.extend_from_slice(&timestamp.to_be_bytes());
                packet.extend_from_slice(&ssrc.to_be_bytes());
                packet.extend_from_slice(&[event, if end { 0x80 | 10 } else { 10 }]);
                packet.extend_from_slice(&duration.to_be_bytes());
                self.socket.send_to(&packet, to).await.unwrap();
                seq = seq.wrapping_add(1);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Sends a pcap's RTP packets to `to` with their recorded spacing.
    pub async fn play_pcap(&self, pcap: &Path, to: SocketAddr) {
        self.play_pcap_for(pcap, to, Duration::MAX).await;
    }

    /// Sends the packets of the pcap's first `limit`; returns how many.
    pub async fn play_pcap_for(&self, pcap: &Path, to: SocketAddr, limit: Duration) -> usize {
        let start = tokio::time::Instant::now();
        let packets: Vec<_> = pcap_rtp(pcap).into_iter().filter(|(at, _)| *at < limit).collect();
        let sent = packets.len();
        for (offset, packet) in packets {
            tokio::time::sleep_until(start + offset).await;
            self.socket.send_to(&packet, to).await.unwrap();
        }
        sent
    }
}

impl Drop for RtpPeer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The UDP payloads of a classic pcap file (Ethernet, IPv4), with their offsets in time.
pub fn pcap_rtp(path: &Path) -> Vec<(Duration, Vec<u8>)> {
    let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let u32_at = |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap());
    assert_eq!(u32_at(&data, 0), 0xa1b2_c3d4, "little-endian microsecond pcap expected");
    assert_eq!(u32_at(&data, 20), 1, "Ethernet link type expected");
    let mut out = Vec::new();
    let mut first = None;
    let mut i = 24;
    while i + 16 <= data.len() {
        let t = Duration::from_secs(u32_at(&data, i) as u64) + Duration::from_micros(u32_at(&data, i + 4) as u64);
        let len = u32_at(&data, i + 8) as usize;
        let frame = &data[i + 16..i + 16 + len];
        i += 16 + len;
        let ip = &frame[14..];
        let udp = &ip[((ip[0] & 0x0f) as usize) * 4..];
        let first = *first.get_or_insert(t);
        out.push((t - first, udp[8..].to_vec()));
    }
    out
}
