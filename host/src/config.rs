//! Configuration: command-line flags, then environment variables, then a TOML file, then
//! defaults (in that order of precedence). Secrets (the API token, the carrier's password) may
//! also come from a file of their own (`--api-token-file`, `--outbound-password-file`: what
//! systemd credentials and container secrets provide), and never show in `Debug` output.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use ipnet::IpNet;
use serde::Deserialize;

use crate::sip::TrunkLogin;

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// TOML file with any of the settings below (snake_case keys, e.g. `sip_listen = "0.0.0.0:5060"`).
    #[arg(long, env = "SWITCHBOARD_CONFIG")]
    pub config: Option<PathBuf>,
    /// SIP UDP address [default: 0.0.0.0:5060].
    #[arg(long, env = "SWITCHBOARD_SIP_LISTEN")]
    pub sip_listen: Option<SocketAddr>,
    /// HTTP API address [default: 127.0.0.1:8080].
    #[arg(long, env = "SWITCHBOARD_HTTP_LISTEN")]
    pub http_listen: Option<SocketAddr>,
    /// Database: a SQLite file path or sqlite:// URL, or postgres://user:password@host/db
    /// (also read from DATABASE_URL) [default: ./switchboard.db].
    #[arg(long, env = "SWITCHBOARD_DATABASE")]
    pub database: Option<String>,
    /// RTP port range, FIRST-LAST [default: 10000-20000].
    #[arg(long, env = "SWITCHBOARD_RTP_PORTS")]
    pub rtp_ports: Option<String>,
    /// IP address for RTP (bound and advertised in SDP) [default: the address callers reach SIP on].
    #[arg(long, env = "SWITCHBOARD_MEDIA_IP")]
    pub media_ip: Option<IpAddr>,
    /// Networks allowed to deliver calls (trunks), comma-separated CIDRs [default: 127.0.0.0/8,::1/128].
    #[arg(long, env = "SWITCHBOARD_TRUNKS", value_delimiter = ',')]
    pub trunks: Option<Vec<IpNet>>,
    /// SIP proxies in front of this node (Kamailio, with several nodes), comma-separated
    /// address:port: they are trusted to say where the requests they relay came from (the Via
    /// they stamp), and a phone registered through one is called back through it (Path, RFC
    /// 3327) [default: none].
    #[arg(long = "sip-proxy", env = "SWITCHBOARD_SIP_PROXY", value_delimiter = ',')]
    pub sip_proxies: Option<Vec<SocketAddr>>,
    /// Digest realm employees' phones authenticate in [default: switchboard]. Passwords are
    /// stored as hashes that include it: changing it means setting passwords again.
    #[arg(long, env = "SWITCHBOARD_SIP_REALM")]
    pub sip_realm: Option<String>,
    /// The operator's own SIP domain (its home company's): a new company gets the test domain
    /// `<slug>.<this domain>` unless the operator names another [default: none; phones of the
    /// home company may register to any address of the exchange].
    #[arg(long, env = "SWITCHBOARD_SIP_DOMAIN")]
    pub sip_domain: Option<String>,
    /// The carrier's SIP address (IP:PORT) that calls to external numbers go through; none:
    /// external numbers cannot be dialled.
    #[arg(long, env = "SWITCHBOARD_OUTBOUND_TRUNK")]
    pub outbound_trunk: Option<SocketAddr>,
    /// The caller ID presented on calls out through the trunk (the company's main number),
    /// unless a flow sets another [default: the caller's own number].
    #[arg(long, env = "SWITCHBOARD_OUTBOUND_CALLER_ID")]
    pub outbound_caller_id: Option<String>,
    /// User name the carrier gave us (for its digest challenges, and for registering).
    #[arg(long, env = "SWITCHBOARD_OUTBOUND_USERNAME")]
    pub outbound_username: Option<String>,
    /// Password for `outbound_username` (better: `--outbound-password-file`).
    #[arg(long, env = "SWITCHBOARD_OUTBOUND_PASSWORD", hide_env_values = true)]
    pub outbound_password: Option<Secret>,
    /// A file whose content (trailing newline dropped) is the password for `outbound_username`.
    #[arg(long, env = "SWITCHBOARD_OUTBOUND_PASSWORD_FILE")]
    pub outbound_password_file: Option<PathBuf>,
    /// Keep the exchange registered with the carrier (for carriers that send calls only to
    /// registered customers) [default: false].
    #[arg(long, env = "SWITCHBOARD_OUTBOUND_REGISTER")]
    pub outbound_register: Option<bool>,
    /// Seconds between keep-alive OPTIONS to each registered phone, which keep NAT bindings
    /// open; 0 turns them off [default: 30].
    #[arg(long, env = "SWITCHBOARD_NAT_KEEPALIVE_SECS")]
    pub nat_keepalive_secs: Option<u64>,
    /// Seconds between looks for due callback requests and follow-ups, which the exchange then
    /// calls back (the employee first, then the contact); 0 turns that off [default: 30].
    #[arg(long, env = "SWITCHBOARD_CALLBACK_CHECK_SECS")]
    pub callback_check_secs: Option<u64>,
    /// An API token to accept (besides those in the database; better: `--api-token-file`).
    #[arg(long, env = "SWITCHBOARD_API_TOKEN", hide_env_values = true)]
    pub api_token: Option<Secret>,
    /// A file whose content (trailing newline dropped) is an API token to accept.
    #[arg(long, env = "SWITCHBOARD_API_TOKEN_FILE")]
    pub api_token_file: Option<PathBuf>,
    /// Guest CPU time a flow may use per call, in milliseconds [default: 500].
    #[arg(long, env = "SWITCHBOARD_FLOW_CPU_MS")]
    pub flow_cpu_ms: Option<u64>,
    /// Concurrent flow instances (the pooling allocator's size) [default: 1000].
    #[arg(long, env = "SWITCHBOARD_MAX_CALLS")]
    pub max_calls: Option<u32>,
    /// The country calling code calls out are national in, until an admin sets the company's
    /// outbound rules (`PUT /outbound-rules`) [default: 1].
    #[arg(long, env = "SWITCHBOARD_COUNTRY_CODE")]
    pub country_code: Option<String>,
    /// The longest a connected call may last, in seconds; then both parties are hung up
    /// [default: 14400, four hours].
    #[arg(long, env = "SWITCHBOARD_MAX_CALL_SECS")]
    pub max_call_secs: Option<u64>,
    /// Where mail goes out: `smtp://host:port` (plain, or `?tls=required` for STARTTLS),
    /// `smtps://host:port` (TLS), with `user:password@` when the server wants a login (better:
    /// `--smtp-url-file`). Without it the exchange sends no mail and says so once at start.
    #[arg(long, env = "SWITCHBOARD_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<Secret>,
    /// A file whose content (trailing newline dropped) is the `--smtp-url`.
    #[arg(long, env = "SWITCHBOARD_SMTP_URL_FILE")]
    pub smtp_url_file: Option<PathBuf>,
    /// The sender of the exchange's mail [default: Switchboard <switchboard@localhost>].
    #[arg(long, env = "SWITCHBOARD_MAIL_FROM")]
    pub mail_from: Option<String>,
    /// Seconds before the first retry of a mail the server did not take; each retry waits
    /// twice as long, up to an hour [default: 30].
    #[arg(long, env = "SWITCHBOARD_MAIL_RETRY_SECS", hide = true)]
    pub mail_retry_secs: Option<u64>,
    /// The console's address as people reach it, e.g. `https://pbx.example.com` (set-password
    /// links in mail point there) [default: the address the admin's browser used].
    #[arg(long, env = "SWITCHBOARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Open the public sign-up page (`/console/signup`, `POST /signup`): anyone may register a
    /// company, which gets a test domain and a small plan. Needs `--public-url` and mail.
    #[arg(long, env = "SWITCHBOARD_SIGNUP")]
    pub signup: bool,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    sip_listen: Option<SocketAddr>,
    http_listen: Option<SocketAddr>,
    database: Option<String>,
    rtp_ports: Option<String>,
    media_ip: Option<IpAddr>,
    trunks: Option<Vec<IpNet>>,
    sip_proxies: Option<Vec<SocketAddr>>,
    sip_realm: Option<String>,
    sip_domain: Option<String>,
    outbound_trunk: Option<SocketAddr>,
    outbound_caller_id: Option<String>,
    outbound_username: Option<String>,
    outbound_password: Option<Secret>,
    outbound_password_file: Option<PathBuf>,
    outbound_register: Option<bool>,
    nat_keepalive_secs: Option<u64>,
    callback_check_secs: Option<u64>,
    api_token: Option<Secret>,
    api_token_file: Option<PathBuf>,
    flow_cpu_ms: Option<u64>,
    max_calls: Option<u32>,
    country_code: Option<String>,
    max_call_secs: Option<u64>,
    smtp_url: Option<Secret>,
    smtp_url_file: Option<PathBuf>,
    mail_from: Option<String>,
    mail_retry_secs: Option<u64>,
    public_url: Option<String>,
    #[serde(default)]
    signup: bool,
    /// Trunks with more than an address (`[[trunk]]` tables).
    #[serde(default)]
    trunk: Vec<TrunkFile>,
}

/// A `[[trunk]]` table: a carrier or peer PBX known by its addresses (and, if given, the host its
/// From must name), or by a digest account (`username` with `password` or `password_file`).
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct TrunkFile {
    name: String,
    #[serde(default)]
    addresses: Vec<IpNet>,
    from_host: Option<String>,
    username: Option<String>,
    password: Option<Secret>,
    password_file: Option<PathBuf>,
}

/// A trunk as configured.
#[derive(Debug, Clone)]
pub struct TrunkConfig {
    pub name: String,
    pub addresses: Vec<IpNet>,
    pub from_host: Option<String>,
    /// A digest account: user name and password.
    pub account: Option<(String, Secret)>,
}

/// The settings `serve` runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub sip_listen: SocketAddr,
    pub http_listen: SocketAddr,
    pub database: String,
    pub rtp_ports: (u16, u16),
    pub media_ip: Option<IpAddr>,
    pub trunks: Vec<IpNet>,
    pub sip_proxies: Vec<SocketAddr>,
    pub sip_realm: String,
    pub sip_domain: Option<String>,
    pub outbound_trunk: Option<SocketAddr>,
    pub outbound_caller_id: Option<String>,
    pub outbound_login: Option<TrunkLogin>,
    pub outbound_register: bool,
    /// `None`: no keep-alives.
    pub nat_keepalive: Option<Duration>,
    /// `None`: due callbacks are not called automatically.
    pub callback_check: Option<Duration>,
    pub api_token: Option<Secret>,
    pub flow_cpu: Duration,
    pub max_calls: u32,
    pub country_code: String,
    pub max_call: Duration,
    /// Where mail goes out (none: no mail).
    pub smtp_url: Option<Secret>,
    pub mail_from: String,
    pub mail_retry: Duration,
    /// The console's address as people reach it (none: the admin's browser's).
    pub public_url: Option<String>,
    /// The public sign-up is open.
    pub signup: bool,
    /// Trunks configured with more than an address (besides `trunks`).
    pub trunk_configs: Vec<TrunkConfig>,
}

impl ServeArgs {
    pub fn resolve(self) -> anyhow::Result<Config> {
        let file: FileConfig = match &self.config {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
                toml::from_str(&text).map_err(|e| anyhow::anyhow!("config file {}: {e}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let rtp = self
            .rtp_ports
            .or(file.rtp_ports)
            .unwrap_or_else(|| "10000-20000".into());
        let config = Config {
            sip_listen: self
                .sip_listen
                .or(file.sip_listen)
                .unwrap_or(([0, 0, 0, 0], 5060).into()),
            http_listen: self
                .http_listen
                .or(file.http_listen)
                .unwrap_or(([127, 0, 0, 1], 8080).into()),
            database: self
                .database
                .or_else(|| std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()))
                .or(file.database)
                .unwrap_or_else(|| "./switchboard.db".into()),
            rtp_ports: parse_range(&rtp)?,
            media_ip: self.media_ip.or(file.media_ip),
            trunks: self.trunks.or(file.trunks).unwrap_or_else(|| {
                vec![
                    "127.0.0.0/8".parse().expect("literal"),
                    "::1/128".parse().expect("literal"),
                ]
            }),
            sip_proxies: self.sip_proxies.or(file.sip_proxies).unwrap_or_default(),
            sip_realm: self
                .sip_realm
                .or(file.sip_realm)
                .unwrap_or_else(|| "switchboard".into()),
            sip_domain: self.sip_domain.or(file.sip_domain),
            outbound_trunk: self.outbound_trunk.or(file.outbound_trunk),
            outbound_caller_id: self.outbound_caller_id.or(file.outbound_caller_id),
            outbound_login: match (
                self.outbound_username.or(file.outbound_username),
                secret(
                    self.outbound_password.or(file.outbound_password),
                    self.outbound_password_file.or(file.outbound_password_file),
                    "outbound_password",
                )?,
            ) {
                (Some(username), Some(password)) => Some(TrunkLogin {
                    username,
                    password: password.expose().to_string(),
                }),
                (None, None) => None,
                _ => anyhow::bail!("outbound_username and outbound_password go together"),
            },
            outbound_register: self.outbound_register.or(file.outbound_register).unwrap_or(false),
            nat_keepalive: Some(self.nat_keepalive_secs.or(file.nat_keepalive_secs).unwrap_or(30))
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            callback_check: Some(self.callback_check_secs.or(file.callback_check_secs).unwrap_or(30))
                .filter(|s| *s > 0)
                .map(Duration::from_secs),
            api_token: secret(
                self.api_token.or(file.api_token),
                self.api_token_file.or(file.api_token_file),
                "api_token",
            )?,
            flow_cpu: Duration::from_millis(self.flow_cpu_ms.or(file.flow_cpu_ms).unwrap_or(500)),
            max_calls: self.max_calls.or(file.max_calls).unwrap_or(1000).max(1),
            country_code: match self.country_code.or(file.country_code) {
                Some(code) if (1..=3).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()) => code,
                Some(code) => anyhow::bail!("country_code {code:?}: write 1 to 3 digits, e.g. 1 or 44"),
                None => "1".into(),
            },
            max_call: Duration::from_secs(self.max_call_secs.or(file.max_call_secs).unwrap_or(4 * 3600).max(1)),
            smtp_url: secret(
                self.smtp_url.or(file.smtp_url),
                self.smtp_url_file.or(file.smtp_url_file),
                "smtp_url",
            )?,
            mail_from: self
                .mail_from
                .or(file.mail_from)
                .unwrap_or_else(|| "Switchboard <switchboard@localhost>".into()),
            mail_retry: Duration::from_secs(self.mail_retry_secs.or(file.mail_retry_secs).unwrap_or(30).max(1)),
            public_url: match self.public_url.or(file.public_url) {
                Some(url) if !(url.starts_with("http://") || url.starts_with("https://")) => {
                    anyhow::bail!("public_url must start with http:// or https://: {url:?}")
                }
                url => url.map(|u| u.trim_end_matches('/').to_owned()),
            },
            signup: self.signup || file.signup,
            trunk_configs: file
                .trunk
                .into_iter()
                .map(TrunkFile::resolve)
                .collect::<anyhow::Result<_>>()?,
        };
        if config.signup && config.public_url.is_none() {
            // The set-password link would otherwise carry whatever host the stranger's request named.
            anyhow::bail!("signup needs public_url: the links in sign-up mail point there");
        }
        if config.signup && config.smtp_url.is_none() {
            anyhow::bail!("signup needs smtp_url: a new company's admin gets his set-password link by mail");
        }
        Ok(config)
    }
}

impl TrunkFile {
    fn resolve(self) -> anyhow::Result<TrunkConfig> {
        let name = self.name;
        let what = format!("trunk {name:?}");
        let password = secret(self.password, self.password_file, &format!("{what} password"))?;
        let account = match (self.username, password) {
            (Some(username), Some(password)) => Some((username, password)),
            (None, None) => None,
            _ => anyhow::bail!("{what}: username and password (or password_file) go together"),
        };
        if self.addresses.is_empty() && account.is_none() {
            anyhow::bail!("{what}: give its addresses, or a username and password it authenticates with");
        }
        Ok(TrunkConfig {
            name,
            addresses: self.addresses,
            from_host: self.from_host,
            account,
        })
    }
}

/// A secret setting: given directly, or read from a file (not both).
fn secret(given: Option<Secret>, file: Option<PathBuf>, name: &str) -> anyhow::Result<Option<Secret>> {
    match (given, file) {
        (Some(_), Some(_)) => anyhow::bail!("{name} and {name}_file: give one of them"),
        (given, None) => Ok(given),
        (None, Some(path)) => {
            let text =
                std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("{name}_file {}: {e}", path.display()))?;
            let value = text.trim_end_matches(['\r', '\n']);
            if value.is_empty() {
                anyhow::bail!("{name}_file {} is empty", path.display());
            }
            Ok(Some(Secret(value.to_string())))
        }
    }
}

/// A setting that must not be shown: `Debug` prints `***`.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Secret(s.to_string()))
    }
}

fn parse_range(text: &str) -> anyhow::Result<(u16, u16)> {
    let bad = || anyhow::anyhow!("RTP ports {text:?}: write FIRST-LAST, e.g. 10000-20000");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let (a, b): (u16, u16) = (
        a.trim().parse().map_err(|_| bad())?,
        b.trim().parse().map_err(|_| bad())?,
    );
    if a < 1024 || b <= a {
        return Err(bad());
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_beat_the_file_and_defaults_fill_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sb.toml");
        std::fs::write(
            &path,
            "http_listen = \"127.0.0.1:9000\"\nsip_listen = \"127.0.0.1:5070\"\n",
        )
        .unwrap();
        let args = ServeArgs {
            config: Some(path),
            sip_listen: Some("127.0.0.1:5080".parse().unwrap()),
            ..Default::default()
        };
        let c = args.resolve().unwrap();
        assert_eq!(c.sip_listen, "127.0.0.1:5080".parse().unwrap());
        assert_eq!(c.http_listen, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(c.database, "./switchboard.db");
        assert_eq!(c.rtp_ports, (10000, 20000));
    }

    #[test]
    fn secrets_come_from_files_and_never_show() {
        let dir = tempfile::tempdir().unwrap();
        let (token, password) = (dir.path().join("token"), dir.path().join("password"));
        std::fs::write(&token, "sb_from_a_file\n").unwrap();
        std::fs::write(&password, "carrier-s3cret\n").unwrap();
        let c = ServeArgs {
            api_token_file: Some(token.clone()),
            outbound_username: Some("acme".into()),
            outbound_password_file: Some(password),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(c.api_token.as_ref().map(Secret::expose), Some("sb_from_a_file"));
        assert_eq!(c.outbound_login.as_ref().unwrap().password, "carrier-s3cret");
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("sb_from_a_file") && !shown.contains("carrier-s3cret"),
            "{shown}"
        );
        let both = ServeArgs {
            api_token: Some("x".parse().unwrap()),
            api_token_file: Some(token),
            ..Default::default()
        };
        assert!(both.resolve().unwrap_err().to_string().contains("give one of them"));
    }

    #[test]
    fn trunks_are_known_by_address_and_from_host_or_by_account() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sb.toml");
        std::fs::write(
            &path,
            "[[trunk]]\nname = \"carrier\"\naddresses = [\"203.0.113.0/28\"]\nfrom_host = \"sip.carrier.example\"\n\
             [[trunk]]\nname = \"branch\"\nusername = \"branch\"\npassword = \"s3cret-branch\"\n",
        )
        .unwrap();
        let c = ServeArgs {
            config: Some(path.clone()),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        assert_eq!(c.trunk_configs.len(), 2);
        assert_eq!(c.trunk_configs[0].from_host.as_deref(), Some("sip.carrier.example"));
        assert_eq!(c.trunk_configs[1].account.as_ref().unwrap().0, "branch");
        assert!(!format!("{c:?}").contains("s3cret-branch"));
        std::fs::write(&path, "[[trunk]]\nname = \"nowhere\"\n").unwrap();
        let err = ServeArgs {
            config: Some(path),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(err.to_string().contains("nowhere"), "{err}");
    }

    #[test]
    fn bad_values_are_explained() {
        assert!(parse_range("20000-10000").is_err());
        assert!(parse_range("abc").is_err());
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sb.toml");
        std::fs::write(&path, "sip_port = 1\n").unwrap();
        let err = ServeArgs {
            config: Some(path),
            ..Default::default()
        }
        .resolve()
        .unwrap_err();
        assert!(err.to_string().contains("sip_port"), "{err}");
    }
}
