//! Several nodes on one PostgreSQL database: each mirrors its calls in progress into the
//! database and says every few seconds that it is alive, so any node lists every node's calls
//! and can hang up another node's call (it tells that node through NOTIFY). A node that stops
//! saying it is alive drops out of the list, and its rows are cleared. On SQLite there is one
//! node and none of this runs.
//!
//! The nodes also tell each other their lines' states, for busy lamps (`lines.rs`), and the
//! wrong passwords they count (`guesses.rs`).

mod guesses;
mod lines;
mod queues;

pub use guesses::GuessCounters;
pub use queues::QueueBoards;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::call::Feature;
use crate::call::record::unix_ms;
use crate::live::LiveCall;
use crate::sip::Presences;
use crate::store::{Change, Store, Tenant, until_reachable};
use crate::tenant::CompanyId;

/// How often a node says it is alive.
const HEARTBEAT: Duration = Duration::from_secs(5);
/// A node silent for this long is gone (three heartbeats missed).
const GONE_AFTER: Duration = Duration::from_secs(3 * HEARTBEAT.as_secs());
const GONE_AFTER_MS: i64 = GONE_AFTER.as_millis() as i64;
/// How often a node counts the other nodes' calls, for each company's limit of calls at once.
const COUNT_OTHERS_EVERY: Duration = Duration::from_secs(1);
/// A notice's size: PostgreSQL takes payloads under 8000 bytes.
const MAX_NOTICE: usize = 7_000;
/// News gathered into one round of notices at most (a burst waits for the next round).
const MAX_BATCH: usize = 1_000;

pub struct Cluster {
    store: Store,
    /// This process's node id (new on every start).
    node: String,
    /// Each company's calls in progress on the other live nodes, as last counted.
    elsewhere: parking_lot::Mutex<HashMap<CompanyId, i64>>,
    /// Every company's lines, which the nodes tell each other about.
    presences: Arc<Presences>,
    /// Wrong passwords, which the nodes tell each other about.
    guesses: GuessCounters,
    /// The live nodes' ids (this one's among them), as of the last heartbeat: each keeps its
    /// share of the phones alive.
    nodes: parking_lot::Mutex<Vec<String>>,
}

/// A new node id: a node is new on every start.
pub fn new_node_id() -> String {
    hex::encode(rand::random::<[u8; 6]>())
}

impl Cluster {
    /// Joins the cluster when the store is shared (PostgreSQL); `None` on SQLite.
    pub async fn join(
        store: &Store,
        node: &str,
        presences: Arc<Presences>,
        guesses: GuessCounters,
    ) -> anyhow::Result<Option<Arc<Cluster>>> {
        if !store.is_shared() {
            return Ok(None);
        }
        let cluster = Arc::new(Cluster {
            store: store.clone(),
            node: node.to_owned(),
            elsewhere: Default::default(),
            presences,
            guesses,
            nodes: Default::default(),
        });
        lines::share(store.clone(), cluster.node.clone(), cluster.presences.clone());
        guesses::share(store, &cluster.node, &cluster.guesses);
        cluster.store.node_seen(&cluster.node, unix_ms()).await?;
        cluster.count_nodes(unix_ms()).await;
        let alive = cluster.clone();
        tokio::spawn(async move {
            let mut every = tokio::time::interval(HEARTBEAT);
            // Since when this node has reached the database at every heartbeat. Another node is
            // judged gone only once this one has heard for as long as it takes to call a node
            // gone: after an outage of the database (or of this node's way to it), everyone's
            // last heartbeat is old, and the nodes still alive need their next to say so.
            let mut reaching_since = Some(tokio::time::Instant::now());
            loop {
                every.tick().await;
                let now = unix_ms();
                if let Err(e) = alive.store.node_seen(&alive.node, now).await {
                    tracing::warn!(error = %e, "could not tell the other nodes this one is alive");
                    reaching_since = None;
                    continue;
                }
                alive.count_nodes(now).await;
                let since = *reaching_since.get_or_insert_with(tokio::time::Instant::now);
                if since.elapsed() < GONE_AFTER {
                    continue;
                }
                match alive.store.forget_nodes(now - GONE_AFTER_MS).await {
                    Ok(cut) => {
                        for call in cut {
                            tracing::warn!(call = %call.id, dialled = %call.dialled, "a node that is gone had this call: recorded as cut");
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not clear nodes that are gone"),
                }
            }
        });
        let counting = Arc::downgrade(&cluster);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(COUNT_OTHERS_EVERY);
            loop {
                every.tick().await;
                let Some(cluster) = counting.upgrade() else { return };
                let counted = cluster
                    .store
                    .calls_by_company(&cluster.node, unix_ms() - GONE_AFTER_MS)
                    .await;
                match counted {
                    Ok(counts) => *cluster.elsewhere.lock() = counts.into_iter().collect(),
                    Err(e) => tracing::warn!(error = %e, "could not count the other nodes' calls"),
                }
            }
        });
        tracing::info!(node = %cluster.node, "joined the nodes sharing the database");
        Ok(Some(cluster))
    }

    /// Lists `call` for every node while the returned guard lives (the call's record, queued
    /// before the guard drops, is written before the call is unlisted). The writes happen off
    /// the call's path, in order: the row goes after it came, however short the call — a
    /// listing is never cut off mid-way, or it could land after the unlisting. While the database is
    /// unreachable, each is tried again until it is done, so a call that ends during an outage
    /// is unlisted after it. (The heartbeat says in the log that the database is away, not each
    /// call.)
    pub fn mirror(&self, call: &LiveCall) -> Mirrored {
        let (ended, wait_for_end) = tokio::sync::oneshot::channel::<()>();
        let (store, node, call) = (self.store.clone(), self.node.clone(), call.clone());
        tokio::spawn(async move {
            let tenant = store.company(call.company);
            let listed = until_reachable(None, || false, || tenant.put_live_call(&node, &call)).await;
            if let Err(e) = listed {
                tracing::warn!(error = %e, call = %call.id, "could not list the call for the other nodes");
            }
            let _ = wait_for_end.await;
            // The call's record is queued by now: the listing goes once the record is written.
            // A node killed in between leaves the listing, and another node writes a stand-in
            // (`node-lost`) for it; unlisted first, the call could end up with neither.
            store.flush_call_records().await;
            let unlisted = until_reachable(None, || false, || store.remove_live_call(&call.id)).await;
            if let Err(e) = unlisted {
                tracing::warn!(error = %e, call = %call.id, "could not unlist the call");
            }
        });
        Mirrored { _ended: ended }
    }

    /// Reads which nodes are alive at `now`.
    async fn count_nodes(&self, now: i64) {
        match self.store.live_nodes(now - GONE_AFTER_MS).await {
            Ok(nodes) => {
                let mut known = self.nodes.lock();
                if *known != nodes {
                    tracing::info!(?nodes, "the live nodes");
                    *known = nodes;
                }
            }
            Err(e) => tracing::warn!(error = %e, "could not read which nodes are alive"),
        }
    }

    /// Another node's notice of its lines' states (`Change::Lines`).
    pub fn lines_heard(&self, notice: &str) {
        lines::heard(notice, &self.node, &self.presences);
    }

    /// Another node's notice of the wrong passwords it counted (`Change::Guesses`).
    pub fn guesses_heard(&self, notice: &str) {
        guesses::heard(notice, &self.node, &self.guesses);
    }

    /// Company `company`'s calls in progress on the other nodes, as counted at most a second
    /// ago: its plan's limit of calls at once holds across the nodes (give or take the calls
    /// that began within that second).
    pub fn calls_elsewhere(&self, company: CompanyId) -> i64 {
        self.elsewhere.lock().get(&company).copied().unwrap_or(0)
    }

    /// Every node's calls of the company in progress, oldest first.
    pub async fn calls(&self, tenant: &Tenant) -> anyhow::Result<Vec<LiveCall>> {
        Ok(tenant.live_calls(None, unix_ms() - GONE_AFTER_MS).await?)
    }

    /// Asks the node that has the company's call `id` to hang it up; false when no live node
    /// has it.
    pub async fn hang_up(&self, tenant: &Tenant, id: &str) -> anyhow::Result<bool> {
        self.tell_node_of(tenant, id, Change::HangUp(id.to_owned())).await
    }

    /// Asks the node that has call `id` for `feature` (a three-way call, a supervisor); false
    /// when no live node has it.
    pub async fn ask(&self, tenant: &Tenant, id: &str, feature: &Feature) -> anyhow::Result<bool> {
        let change = Change::Feature {
            call: id.to_owned(),
            feature: feature.encode(),
        };
        self.tell_node_of(tenant, id, change).await
    }

    /// Announces `change` when a live node has the company's call `id`.
    async fn tell_node_of(&self, tenant: &Tenant, id: &str, change: Change) -> anyhow::Result<bool> {
        let found = tenant.live_calls(Some(id), unix_ms() - GONE_AFTER_MS).await?;
        if found.is_empty() {
            return Ok(false);
        }
        self.store.announce(change).await;
        Ok(true)
    }
}

impl crate::sip::KeepAliveShare for Cluster {
    fn keeps(&self, contact: &str) -> bool {
        in_share(contact, &self.nodes.lock(), &self.node)
    }
}

/// Whether `key` is node `me`'s among `nodes` (sorted ids): each key is one node's, by a hash
/// every node computes alike. A node not among them yet keeps every key (one more keep-alive
/// rather than none).
fn in_share(key: &str, nodes: &[String], me: &str) -> bool {
    use sha2::Digest;
    let Some(rank) = nodes.iter().position(|node| node == me) else {
        return true;
    };
    let digest = sha2::Sha256::digest(key.as_bytes());
    let hash = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    hash % nodes.len() as u64 == rank as u64
}

/// Notices from `node` carrying `entries`, each under PostgreSQL's payload limit: the node's id
/// on the first line, then an entry a line.
fn notices(node: &str, entries: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut notices = Vec::new();
    let mut notice = String::new();
    for entry in entries {
        if !notice.is_empty() && notice.len() + 1 + entry.len() > MAX_NOTICE {
            notices.push(std::mem::take(&mut notice));
        }
        if notice.is_empty() {
            notice.push_str(node);
        }
        notice.push('\n');
        notice.push_str(&entry);
    }
    if !notice.is_empty() {
        notices.push(notice);
    }
    notices
}

/// The node that sent `notice`, and its entries; `None` for this node's own notices.
fn from_another<'a>(notice: &'a str, own: &str) -> Option<(&'a str, std::str::Lines<'a>)> {
    let mut entries = notice.lines();
    let node = entries.next().filter(|node| *node != own)?;
    Some((node, entries))
}

/// The call is listed for the other nodes while this lives.
pub struct Mirrored {
    _ended: tokio::sync::oneshot::Sender<()>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{CallRecord, CallResult};
    use crate::store::CallFilter;
    use crate::store::test_support::TestDatabase;
    use crate::throttle::{GuessLimits, Guesses};

    /// A call that ends is unlisted only once its record is written: at every moment, the other
    /// nodes find the one or the other (a node killed in between leaves the listing, for which
    /// they write a stand-in).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_is_unlisted_only_once_its_record_is_written() {
        let Some(db) = TestDatabase::create("switchboard_test").await else {
            return;
        };
        let store = Store::open(&db.url).await.unwrap();
        let guesses = GuessCounters {
            sip: Arc::new(Guesses::new(GuessLimits::SIP)),
            logins: Arc::new(Guesses::new(GuessLimits::API)),
        };
        let cluster = Cluster::join(&store, &new_node_id(), Arc::default(), guesses)
            .await
            .unwrap()
            .unwrap();
        let tenant = store.company(CompanyId::HOME);
        for n in 0..10 {
            let id = format!("c{n}");
            let call = LiveCall {
                id: id.clone(),
                company: CompanyId::HOME,
                node: None,
                caller: "+15550100001".into(),
                dialled: "101".into(),
                started_at: unix_ms(),
                stop: Default::default(),
                requests: None,
            };
            let listed = async || !tenant.live_calls(Some(&id), 0).await.unwrap().is_empty();
            let mirrored = cluster.mirror(&call);
            while !listed().await {
                tokio::task::yield_now().await;
            }
            let record = CallRecord {
                id: id.clone(),
                sip_call_id: format!("{n}@test"),
                caller: call.caller.clone(),
                dialled: call.dialled.clone(),
                flow: None,
                started_at: call.started_at,
                answered_at: None,
                answered_by: None,
                ended_at: unix_ms(),
                outcome: "caller-hangup".into(),
                trace: Vec::new(),
                legs: Vec::new(),
                result: CallResult::Abandoned,
                offered_to: Vec::new(),
                ended_in: None,
                wait_ms: 0,
            };
            tenant.save_call_record(record, false).await;
            drop(mirrored);
            let only = CallFilter {
                id: Some(id.clone()),
                limit: 1,
                ..CallFilter::default()
            };
            // Listed first, then recorded: once the listing is gone, the record is there.
            while listed().await {}
            assert_eq!(tenant.call_records(&only).await.unwrap().len(), 1, "{id}");
        }
    }

    /// Every phone is kept alive by one node of the live ones, and the phones are spread over
    /// them; a node not counted yet keeps them all.
    #[test]
    fn each_phone_is_one_nodes_share() {
        let nodes: Vec<String> = ["a1", "b2", "c3"].map(String::from).into();
        let mut by_node = [0; 3];
        for n in 0..300 {
            let contact = format!("sip:phone{n}@192.0.2.{}:5060", n % 250);
            let keepers: Vec<usize> = (0..3).filter(|&i| in_share(&contact, &nodes, &nodes[i])).collect();
            assert_eq!(keepers.len(), 1, "{contact}: {keepers:?}");
            by_node[keepers[0]] += 1;
        }
        assert!(by_node.iter().all(|&n| n > 50), "{by_node:?}");
        assert!(in_share("sip:x@192.0.2.1", &nodes, "d4"));
    }
}
