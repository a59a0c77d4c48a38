//! `switchboard serve`: open the store, load the flows, start SIP and HTTP.

use std::sync::Arc;

use crate::api::{self, ApiState, LoginThrottle, Tokens, hash_token, new_token};
use crate::call::Feature;
use crate::call::record::unix_ms;
use crate::call::{DialEnv, MediaEnv, OutboundRules, TollGate};
use crate::callbacks::CallbackScheduler;
use crate::cluster::{self, Cluster, GuessCounters, QueueBoards};
use crate::companies::Companies;
use crate::config::Config;
use crate::exchange::Exchange;
use crate::flow::CompanyNumbers;
use crate::flow::{BUILTIN_FLOWS, FlowEngine, FlowLimits, FlowRegistry};
use crate::live::LiveCalls;
use crate::location::{OutboundTrunk, StoreLocation};
use crate::mail::Mailer;
use crate::media::mixer::Rooms;
use crate::media::{PortRange, Prompt, PromptLibrary};
use crate::offices::{CompanyCallbacks, Offices, Queueing};
use crate::sip::{Authenticator, SipServer, Trunk, TrunkAccount, Trunks};
use crate::store::{Change, Store};
use crate::tenant::CompanyId;
use crate::web::HttpClient;

/// The operator's domain when `--sip-domain` names none: new companies' test domains are
/// `<slug>.switchboard.test` (RFC 6761 `.test`: never on the Internet's DNS).
const DEFAULT_OPERATOR_DOMAIN: &str = "switchboard.test";

/// A bridged call in which neither party sent RTP for this long is dead (a phone lost power or
/// network and will never send its BYE).
const RTP_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// The mailer, and its sender task when an SMTP server is configured; without one, mail is off
/// (said once).
fn start_mail(store: &Store, config: &Config) -> anyhow::Result<Mailer> {
    let Some(url) = &config.smtp_url else {
        tracing::info!("mail is off: no --smtp-url, so no access details or voicemail go out by mail");
        return Ok(Mailer::off());
    };
    let transport = lettre::AsyncSmtpTransport::<lettre::Tokio1Executor>::from_url(url.expose())
        .map_err(|e| anyhow::anyhow!("smtp_url: {e}"))?
        .build();
    let mailer = Mailer::new(store.clone(), &config.mail_from)?;
    tokio::spawn(mailer.clone().run_sender(transport, config.mail_retry));
    tracing::info!(from = %config.mail_from, "mail is on");
    Ok(mailer)
}

pub async fn serve(config: Config) -> anyhow::Result<()> {
    // The process-wide recorder behind every `metrics::` counter; rendered by `/metrics`.
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new().install_recorder()?;
    let store = Store::open(&config.database).await?;
    let engine = FlowEngine::new(FlowLimits {
        cpu_budget: config.flow_cpu,
        // A flow runs around its connected calls (a menu before, a dial after): twice the
        // longest connected call.
        max_call: config.max_call.saturating_mul(2),
        max_instances: config.max_calls,
        ..FlowLimits::default()
    })?;
    // Uploads are compiled on trial by this same binary first (flow/admission.rs).
    let registry = FlowRegistry::new(store.clone(), engine).with_trial_compiler(std::env::current_exe()?);
    let registry = Arc::new(registry);
    for (name, wasm) in BUILTIN_FLOWS {
        registry
            .add_builtin(name, wasm)
            .await
            .map_err(|e| anyhow::anyhow!("built-in flow {name}: {e}"))?;
    }
    registry.refresh().await?;

    let bootstrap = bootstrap_token(&store, &config).await?;
    if let Some(domain) = &config.sip_domain {
        store.set_home_domain(domain).await?;
    }
    let companies = Companies::load(store.clone(), config.sip_realm.clone()).await?;
    companies.keep_fresh(std::time::Duration::from_secs(60));
    let prompts = Arc::new(PromptLibrary::with_builtins());
    load_prompts(&store, &prompts).await?;
    let media = Arc::new(MediaEnv {
        ports: PortRange::new(config.rtp_ports.0, config.rtp_ports.1),
        prompts: prompts.clone(),
        media_ip: config.media_ip,
        rooms: Rooms::default(),
    });
    let sip = SipServer::bind(config.sip_listen).await?;
    let location = Arc::new(StoreLocation::new(
        store.clone(),
        companies.clone(),
        config.outbound_trunk.map(|target| OutboundTrunk {
            target,
            caller_id: config.outbound_caller_id.clone(),
            login: config.outbound_login.clone(),
        }),
    ));
    // The parts every company's calls share; `Offices` puts in each company's own.
    let presence = sip.presences().of(CompanyId::HOME);
    let home = Arc::new(location.company(CompanyId::HOME, presence.clone()));
    let callbacks_due = Arc::new(tokio::sync::Notify::new());
    let toll = TollGate::new(OutboundRules::national(&config.country_code));
    let home_tenant = store.company(CompanyId::HOME);
    // With several nodes on the database, this one's name among them, and its queues' board.
    let node = cluster::new_node_id();
    let queueing = Queueing {
        callbacks_due: callbacks_due.clone(),
        boards: store.is_shared().then(|| QueueBoards::start(&store, &node)),
    };
    let (queues, callbacks) = CompanyCallbacks::with_queues(home_tenant, home.clone(), toll.clone(), &queueing);
    let shared = DialEnv {
        queues,
        callbacks,
        company: CompanyId::HOME,
        dialer: sip.dialer(),
        mailboxes: sip.mailboxes(),
        presence,
        handovers: Arc::default(),
        supervision: Arc::default(),
        contacts: Arc::new(crate::icm::CompanyIcm {
            registry: registry.clone(),
            tenant: store.company(CompanyId::HOME),
        }),
        directory: home.clone(),
        calendar: home.clone(),
        history: home,
        web: Arc::new(HttpClient::new()?),
        rtp_timeout: RTP_TIMEOUT,
        max_call: config.max_call,
        toll,
        numbers: Arc::new(CompanyNumbers {
            registry: registry.clone(),
            company: CompanyId::HOME,
        }),
    };
    let offices = Arc::new(Offices::new(
        shared,
        store.clone(),
        location.clone(),
        registry.clone(),
        sip.presences(),
        config.country_code.clone(),
        queueing,
    ));
    if let Some(every) = config.callback_check {
        CallbackScheduler {
            store: store.clone(),
            offices: offices.clone(),
            media: media.clone(),
            every,
            calling: Default::default(),
            due_now: callbacks_due,
        }
        .spawn();
    }
    let mail = start_mail(&store, &config)?;
    let live = Arc::new(LiveCalls::default());
    let trunks = trunks(&config);
    let auth = Arc::new(Authenticator::new(
        store.secret("nonce").await?,
        location.clone(),
        trunks.clone(),
    ));
    let logins = Arc::new(LoginThrottle::default());
    let guesses = GuessCounters {
        sip: auth.guesses(),
        logins: logins.guesses(),
    };
    let cluster = Cluster::join(&store, &node, sip.presences(), guesses).await?;
    follow_other_nodes(
        &store,
        &registry,
        &prompts,
        &live,
        &offices,
        &companies,
        cluster.clone(),
    )
    .await?;
    let exchange = Arc::new(Exchange {
        registry: registry.clone(),
        live: live.clone(),
        cluster: cluster.clone(),
        store: store.clone(),
        media,
        offices: offices.clone(),
        companies: companies.clone(),
        mail: mail.clone(),
    });
    let proxies = crate::sip::Proxies::new(config.sip_proxies.clone());
    sip.serve(trunks, proxies, exchange, auth)?;
    if let Some(every) = config.nat_keepalive {
        let share = cluster.clone().map(|c| c as Arc<dyn crate::sip::KeepAliveShare>);
        sip.keep_phones_reachable(location.clone(), share, every);
    }
    match (config.outbound_register, config.outbound_trunk, &config.outbound_login) {
        (true, Some(carrier), Some(login)) => sip.register_with(carrier, login.clone()),
        (true, ..) => anyhow::bail!("outbound_register needs outbound_trunk, outbound_username and outbound_password"),
        _ => {}
    }

    let tokens = Tokens {
        configured: config.api_token.iter().map(|t| hash_token(t.expose())).collect(),
    };
    let api = api::router(ApiState {
        registry,
        store: store.clone(),
        tokens,
        companies,
        operator_domain: config
            .sip_domain
            .clone()
            .unwrap_or_else(|| DEFAULT_OPERATOR_DOMAIN.into()),
        sip: sip.local_addr(),
        prompts,
        metrics: Some(metrics),
        live: live.clone(),
        cluster,
        logins,
        offices,
        mail,
        public_url: config.public_url.clone(),
        signup: Arc::new(api::SignupDesk::new(config.signup)),
    });
    // The console asks the API in-process; both are served on one listener.
    let app = api.clone().merge(crate::console::router(api, live));
    let listener = tokio::net::TcpListener::bind(config.http_listen).await?;
    let http = listener.local_addr()?;

    // One line for people and scripts (the tests read the bound ports from it).
    say(&format!(
        "switchboard ready: sip=udp:{} http=http://{} database={}",
        sip.local_addr(),
        http,
        without_password(&config.database)
    ));
    if let Some(token) = bootstrap {
        say(&format!("API token (shown once, keep it): {token}"));
        say(&format!(
            "console: http://{http}/ (log in as `operator`, with the API token as the password)"
        ));
    } else {
        say(&format!("console: http://{http}/"));
    }
    tracing::info!(sip = %sip.local_addr(), %http, "switchboard ready");

    let stop = tokio_util::sync::CancellationToken::new();
    tokio::spawn({
        let stop = stop.clone();
        async move {
            stop_asked().await;
            tracing::info!("shutting down");
            stop.cancel();
        }
    });
    // Logins are throttled by the client's address.
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app).with_graceful_shutdown(stop.clone().cancelled_owned());
    // Open requests get a moment to finish; the console's live streams never do.
    tokio::select! {
        done = served => done?,
        _ = async { stop.cancelled().await; tokio::time::sleep(HTTP_GRACE).await } => {
            tracing::info!("HTTP connections still open after {HTTP_GRACE:?}: closed");
        }
    }
    sip.shutdown();
    // Records of calls that just ended are still queued (store/journal.rs).
    store.flush_call_records_within(RECORDS_GRACE).await;
    Ok(())
}

/// How long a stopping exchange waits for an unreachable database to take the call records
/// still queued (then they go to the log in full).
const RECORDS_GRACE: std::time::Duration = std::time::Duration::from_secs(20);

/// How long a stopping exchange waits for open HTTP requests.
const HTTP_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Ctrl-C, or SIGTERM (what systemd, Docker and Kubernetes send to stop a service).
async fn stop_asked() {
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(e) => {
                tracing::warn!("SIGTERM cannot stop the exchange gracefully: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = terminate => {}
    }
}

/// A line on standard output. Whoever started the exchange may have closed his end of it (a
/// supervisor that read the ready line and went on): `println!` would then panic and take the
/// exchange down, so a line nobody reads is dropped instead.
fn say(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}

/// Puts every company's uploaded prompts into the library (over built-ins of the same name, for
/// that company's calls).
async fn load_prompts(store: &Store, prompts: &PromptLibrary) -> anyhow::Result<()> {
    for (company, name, wav) in store.prompts().await? {
        match Prompt::from_wav(&wav) {
            Ok(prompt) => prompts.insert_for(company, &name, prompt),
            Err(e) => tracing::error!(%name, error = %e, "stored prompt unreadable; skipped"),
        }
    }
    Ok(())
}

/// On PostgreSQL, several nodes may share the database: what one changes in the tables this
/// node keeps in memory (routes, prompts) is reloaded when it is announced.
async fn follow_other_nodes(
    store: &Store,
    registry: &Arc<FlowRegistry>,
    prompts: &Arc<PromptLibrary>,
    live: &Arc<LiveCalls>,
    offices: &Arc<Offices>,
    companies: &Arc<Companies>,
    cluster: Option<Arc<Cluster>>,
) -> anyhow::Result<()> {
    let Some(mut changes) = store.changes().await? else {
        return Ok(());
    };
    let (store, registry, prompts, live) = (store.clone(), registry.clone(), prompts.clone(), live.clone());
    let (offices, companies) = (offices.clone(), companies.clone());
    tokio::spawn(async move {
        while let Some(change) = changes.recv().await {
            tracing::debug!(?change, "reloading after a change");
            let reloaded = match change {
                Change::Numbers => registry.refresh().await.map_err(anyhow::Error::from),
                Change::Prompts => load_prompts(&store, &prompts).await,
                Change::Employees => {
                    store.employees_changed();
                    Ok(())
                }
                Change::Registrations(employee) => {
                    store.registrations_changed(Some(employee));
                    Ok(())
                }
                // Whatever was announced while this node was not listening: read it all again.
                Change::Missed => reload_after_missed(&store, &registry, &prompts, &offices, &companies).await,
                Change::OutboundRules => offices.reload_rules().await,
                Change::Companies => companies.reload().await.map_err(anyhow::Error::from),
                // Only the node that has the call can end it; the others do not know it.
                Change::HangUp(ref call) => {
                    live.end(call);
                    Ok(())
                }
                Change::Lines(ref notice) => {
                    if let Some(cluster) = &cluster {
                        cluster.lines_heard(notice);
                    }
                    Ok(())
                }
                Change::Guesses(ref notice) => {
                    if let Some(cluster) = &cluster {
                        cluster.guesses_heard(notice);
                    }
                    Ok(())
                }
                Change::Feature { ref call, ref feature } => {
                    if let Some(feature) = Feature::decode(feature) {
                        let (live, call) = (live.clone(), call.clone());
                        tokio::spawn(async move {
                            if let Err(why) = live.ask(&call, feature.clone()).await {
                                tracing::info!(%call, ?feature, ?why, "feature asked by another node: not under way");
                            }
                        });
                    }
                    Ok(())
                }
            };
            if let Err(e) = reloaded {
                tracing::error!(error = %e, ?change, "could not reload after a change");
            }
        }
    });
    Ok(())
}

/// Reads again what nodes keep in memory of the database and announce changes of: routing,
/// prompts, outbound rules, companies; employees and registrations are marked stale (read
/// again on use).
async fn reload_after_missed(
    store: &Store,
    registry: &FlowRegistry,
    prompts: &PromptLibrary,
    offices: &Offices,
    companies: &Companies,
) -> anyhow::Result<()> {
    store.employees_changed();
    store.registrations_changed(None);
    registry.refresh().await?;
    load_prompts(store, prompts).await?;
    offices.reload_rules().await?;
    companies.reload().await?;
    Ok(())
}

/// The trunks: `--trunks` networks, and `[[trunk]]` tables (their passwords as digest HA1s in
/// the exchange's realm).
fn trunks(config: &Config) -> Trunks {
    let mut trunks = vec![Trunk {
        name: "trunks".into(),
        addresses: config.trunks.clone(),
        from_host: None,
        account: None,
    }];
    trunks.extend(config.trunk_configs.iter().map(|t| Trunk {
        name: t.name.clone(),
        addresses: t.addresses.clone(),
        from_host: t.from_host.clone(),
        account: t.account.as_ref().map(|(username, password)| TrunkAccount {
            username: username.clone(),
            ha1: crate::sip::digest::ha1(username, &config.sip_realm, password.expose()),
        }),
    }));
    Trunks::new(trunks)
}

/// On a fresh install with no token configured, make the operator's, keep its hash and show it
/// once.
async fn bootstrap_token(store: &Store, config: &Config) -> anyhow::Result<Option<String>> {
    if config.api_token.is_some() || store.token_count().await? > 0 {
        return Ok(None);
    }
    let token = new_token();
    store
        .add_operator_token(&hash_token(&token), "bootstrap", unix_ms(), None)
        .await?;
    Ok(Some(token))
}

/// A database URL fit for a log line: `postgres://user:secret@host/db` → `postgres://user@host/db`.
fn without_password(url: &str) -> String {
    match (url.split_once("://"), url.rfind('@')) {
        (Some((scheme, rest)), Some(_)) => {
            let (credentials, host) = rest.rsplit_once('@').expect("has @");
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}@{host}")
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_urls_are_printed_without_passwords() {
        use super::without_password;
        assert_eq!(
            without_password("postgres://sb:s3cr@t@db:5432/x"),
            "postgres://sb@db:5432/x"
        );
        assert_eq!(without_password("postgres://sb@db/x"), "postgres://sb@db/x");
        assert_eq!(without_password("./switchboard.db"), "./switchboard.db");
    }
}
