//! Queues across nodes (`call::queue::QueueBoard`): each node writes what its lines did — a
//! caller joined, was offered, left; an agent talked or let an offer ring out — into the
//! database, in order, off the caller's path; every node's distributor reads the others' before
//! it offers a caller. While the database is unreachable the writes wait and are tried again
//! (in order), and each node serves its own callers as if alone.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::call::queue::{AgentRest, BoardNews, Elsewhere, QueueBoard};
use crate::call::record::unix_ms;
use crate::store::{self, Store, until_reachable};
use crate::tenant::CompanyId;

/// Every company's queues of this node, on the board the nodes share.
pub struct QueueBoards {
    store: Store,
    node: String,
    writes: mpsc::UnboundedSender<Write>,
}

/// One thing a line did, to be written.
struct Write {
    company: CompanyId,
    department: String,
    news: BoardNews,
}

impl QueueBoards {
    /// Starts writing node `node`'s lines to the shared database.
    pub fn start(store: &Store, node: &str) -> Arc<Self> {
        let (writes, mut written) = mpsc::unbounded_channel::<Write>();
        let (writer, node_id) = (store.clone(), node.to_owned());
        tokio::spawn(async move {
            while let Some(write) = written.recv().await {
                let done = until_reachable(None, || false, || apply(&writer, &node_id, &write)).await;
                if let Err(e) = done {
                    tracing::warn!(error = %e, department = %write.department, news = ?write.news, "could not tell the other nodes of a queue's change");
                }
            }
        });
        Arc::new(QueueBoards {
            store: store.clone(),
            node: node.to_owned(),
            writes,
        })
    }

    /// Company `company`'s part of the board.
    pub fn of(self: &Arc<Self>, company: CompanyId) -> Arc<dyn QueueBoard> {
        Arc::new(CompanyBoard {
            boards: self.clone(),
            company,
        })
    }
}

async fn apply(store: &Store, node: &str, write: &Write) -> store::Result<()> {
    let tenant = store.company(write.company);
    let department = write.department.as_str();
    match &write.news {
        BoardNews::Joined {
            place,
            internal,
            joined_at,
        } => {
            tenant
                .queue_place_joined(node, department, *place as i64, *internal, *joined_at)
                .await
        }
        BoardNews::Offered { place, offered } => {
            tenant
                .queue_place_offered(node, department, *place as i64, *offered)
                .await
        }
        BoardNews::Left { place } => tenant.queue_place_left(node, department, *place as i64).await,
        BoardNews::Rests(rest) => {
            let rest = store::AgentRest {
                login: rest.login.clone(),
                idle_since: rest.idle_since,
                rest_until: rest.rest_until,
            };
            tenant.queue_agent_rests(department, &rest).await
        }
    }
}

struct CompanyBoard {
    boards: Arc<QueueBoards>,
    company: CompanyId,
}

#[async_trait::async_trait]
impl QueueBoard for CompanyBoard {
    fn tell(&self, department: &str, news: BoardNews) {
        let write = Write {
            company: self.company,
            department: department.to_owned(),
            news,
        };
        // The writer lives as long as the runtime.
        let _ = self.boards.writes.send(write);
    }

    async fn elsewhere(&self, department: &str) -> anyhow::Result<Elsewhere> {
        let boards = &self.boards;
        let (waiting, agents) = boards
            .store
            .company(self.company)
            .queue_elsewhere(&boards.node, department, unix_ms() - super::GONE_AFTER_MS)
            .await?;
        Ok(Elsewhere {
            waiting: waiting.into_iter().map(|w| (w.internal, w.joined_at)).collect(),
            agents: agents
                .into_iter()
                .map(|a| AgentRest {
                    login: a.login,
                    idle_since: a.idle_since,
                    rest_until: a.rest_until,
                })
                .collect(),
        })
    }
}
