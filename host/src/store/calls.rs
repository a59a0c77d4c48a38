//! Call records: what happened on each call, with its legs and decision trace.

use sqlx::Row;

use super::live::NODE_LOST;
use super::{CompanyId, Store, Tenant};
use crate::records::{CallRecord, CallResult};

/// Which call records to list; `None` fields do not filter.
#[derive(Debug, Clone, Default)]
pub struct CallFilter {
    pub id: Option<String>,
    pub caller: Option<String>,
    pub dialled: Option<String>,
    pub outcome: Option<String>,
    /// `answered`, `missed`, `voicemail`, `failed`, `self-service`.
    pub result: Option<CallResult>,
    /// Started at or after (Unix ms).
    pub since: Option<i64>,
    /// Started before (Unix ms): the next page starts before the last record's `started_at`.
    pub until: Option<i64>,
    pub limit: i64,
    /// Leave each record's decision trace out (empty): what reports read, many at a time.
    pub without_trace: bool,
    /// Only calls this employee took part in.
    pub party: Option<Party>,
}

/// An employee as his calls name him (`CallRecord::parties`): by his login, or by his extension.
#[derive(Debug, Clone)]
pub struct Party {
    pub login: String,
    pub extension: String,
}

impl Tenant {
    /// Writes one call record now (calls queue theirs: [`Tenant::save_call_record`]).
    pub async fn insert_call_record(&self, rec: &CallRecord) -> super::Result<()> {
        self.store.insert_call_records(&[(self.id, rec)]).await
    }

    /// Login of the employee who last talked to `spellings` (one number, written as it may
    /// have been recorded) since `since`: the employee who answered its call, or who called it.
    pub async fn last_connected(&self, spellings: &[String; 2], since: i64) -> super::Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT answered_by FROM call_records
             WHERE company_id = $1 AND answered_by IS NOT NULL AND started_at >= $2
               AND (caller IN ($3, $4) OR dialled IN ($3, $4))
             ORDER BY started_at DESC LIMIT 1",
        )
        .bind(self.company())
        .bind(since)
        .bind(&spellings[0])
        .bind(&spellings[1])
        .fetch_optional(self.pool())
        .await
        .map_err(super::Error::from)
    }

    /// Whether `spellings` (one number, written as it may have been recorded) called the
    /// company before.
    pub async fn called_before(&self, spellings: &[String; 2]) -> super::Result<bool> {
        let found: Option<i64> =
            sqlx::query_scalar("SELECT 1 FROM call_records WHERE company_id = $1 AND caller IN ($2, $3) LIMIT 1")
                .bind(self.company())
                .bind(&spellings[0])
                .bind(&spellings[1])
                .fetch_optional(self.pool())
                .await?;
        Ok(found.is_some())
    }

    /// The newest call records first, as `filter` selects them.
    pub async fn call_records(&self, filter: &CallFilter) -> super::Result<Vec<CallRecord>> {
        // Only the filters given are in the query, so that the planner picks the index that
        // serves them (a `$n IS NULL OR …` for each would leave it one plan for all).
        enum Param<'a> {
            Text(&'a str),
            Owned(String),
            Int(i64),
        }
        let mut params = vec![Param::Int(self.company())];
        let mut sql = String::from(
            "SELECT id, sip_call_id, caller, dialled, flow_sha256, started_at, answered_at, answered_by, ended_at, outcome,",
        );
        sql.push_str(if filter.without_trace {
            " '[]' AS trace,"
        } else {
            " trace,"
        });
        sql.push_str(" legs, result, offered_to, ended_in, wait_ms FROM call_records WHERE company_id = $1");
        let texts = [
            ("caller", filter.caller.as_deref()),
            ("dialled", filter.dialled.as_deref()),
            ("outcome", filter.outcome.as_deref()),
            ("id", filter.id.as_deref()),
            ("result", filter.result.map(CallResult::as_str)),
        ];
        for (column, value) in texts {
            if let Some(value) = value {
                params.push(Param::Text(value));
                sql.push_str(&format!(" AND {column} = ${}", params.len()));
            }
        }
        if let Some(party) = &filter.party {
            // Off the `call_parties` index: his login or his extension.
            let first = params.len() + 1;
            params.extend([
                Param::Int(self.company()),
                Param::Owned(format!("login:{}", party.login)),
                Param::Owned(format!("ext:{}", party.extension)),
            ]);
            let (login, extension) = (first + 1, first + 2);
            sql.push_str(&format!(
                " AND id IN (SELECT call_id FROM call_parties WHERE company_id = ${first} AND party IN (${login}, ${extension}))"
            ));
        }
        for (condition, value) in [("started_at >=", filter.since), ("started_at <", filter.until)] {
            if let Some(value) = value {
                params.push(Param::Int(value));
                sql.push_str(&format!(" AND {condition} ${}", params.len()));
            }
        }
        params.push(Param::Int(filter.limit));
        sql.push_str(&format!(" ORDER BY started_at DESC, id DESC LIMIT ${}", params.len()));
        let mut query = sqlx::query(&sql);
        for param in params {
            query = match param {
                Param::Text(text) => query.bind(text),
                Param::Owned(text) => query.bind(text),
                Param::Int(int) => query.bind(int),
            };
        }
        let rows = query.fetch_all(self.pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(CallRecord {
                    id: r.get("id"),
                    sip_call_id: r.get("sip_call_id"),
                    caller: r.get("caller"),
                    dialled: r.get("dialled"),
                    flow: r.get("flow_sha256"),
                    started_at: r.get("started_at"),
                    answered_at: r.get("answered_at"),
                    answered_by: r.get("answered_by"),
                    ended_at: r.get("ended_at"),
                    outcome: r.get("outcome"),
                    trace: serde_json::from_str(r.get::<&str, _>("trace"))?,
                    legs: serde_json::from_str(r.get::<&str, _>("legs"))?,
                    // Written from the enum; a value from a newer version reads as the default.
                    result: r.get::<&str, _>("result").parse().unwrap_or_default(),
                    offered_to: serde_json::from_str(r.get::<&str, _>("offered_to"))?,
                    ended_in: r.get("ended_in"),
                    wait_ms: r.get("wait_ms"),
                })
            })
            .collect()
    }
}

/// Columns of a call record as `insert_call_records` writes (and binds) them.
const RECORD_COLUMNS: [&str; 17] = [
    "id",
    "company_id",
    "sip_call_id",
    "caller",
    "dialled",
    "flow_sha256",
    "started_at",
    "answered_at",
    "answered_by",
    "ended_at",
    "outcome",
    "trace",
    "legs",
    "result",
    "offered_to",
    "ended_in",
    "wait_ms",
];
/// Of [`RECORD_COLUMNS`], those a call's own record cannot change of a stand-in record.
const RECORD_KEY: [&str; 2] = ["id", "company_id"];

impl Store {
    /// Writes call records, each with the company whose call it was (the [`Tenant`] that
    /// queued it), and who took part in each, in one transaction: a few statements for the
    /// whole group, since each statement is a round trip to the database's thread.
    pub(super) async fn insert_call_records(&self, group: &[(CompanyId, &CallRecord)]) -> super::Result<()> {
        if group.is_empty() {
            return Ok(());
        }
        let mut tx = self.pool.begin().await?;
        write_call_records(&mut tx, group).await?;
        tx.commit().await?;
        Ok(())
    }
}

/// [`Store::insert_call_records`] within the transaction `tx`.
pub(super) async fn write_call_records(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    group: &[(CompanyId, &CallRecord)],
) -> super::Result<()> {
    if group.is_empty() {
        return Ok(()); // "VALUES" with no rows is no statement
    }
    let rows: Vec<String> = (0..group.len())
        .map(|r| {
            let first = r * RECORD_COLUMNS.len() + 1;
            let cells: Vec<String> = (first..first + RECORD_COLUMNS.len()).map(|i| format!("${i}")).collect();
            format!("({})", cells.join(", "))
        })
        .collect();
    // A record already there is kept — the same record written again, after a commit whose
    // answer the database connection lost — unless it is the stand-in "node-lost" record the
    // other nodes wrote while they could not hear from this node: the call's own record,
    // written when the node is back, says more.
    let replaced: Vec<String> = RECORD_COLUMNS
        .iter()
        .filter(|c| !RECORD_KEY.contains(c))
        .map(|c| format!("{c} = excluded.{c}"))
        .collect();
    let sql = format!(
        "INSERT INTO call_records ({}) VALUES {}
         ON CONFLICT (id) DO UPDATE SET {} WHERE call_records.outcome = '{NODE_LOST}' AND excluded.company_id = call_records.company_id",
        RECORD_COLUMNS.join(", "),
        rows.join(", "),
        replaced.join(", ")
    );
    let mut insert = sqlx::query(&sql);
    for (company, rec) in group {
        insert = insert
            .bind(&rec.id)
            .bind(company.0)
            .bind(&rec.sip_call_id)
            .bind(&rec.caller)
            .bind(&rec.dialled)
            .bind(&rec.flow)
            .bind(rec.started_at)
            .bind(rec.answered_at)
            .bind(&rec.answered_by)
            .bind(rec.ended_at)
            .bind(&rec.outcome)
            .bind(serde_json::to_string(&rec.trace)?)
            .bind(serde_json::to_string(&rec.legs)?)
            .bind(rec.result.as_str())
            .bind(serde_json::to_string(&rec.offered_to)?)
            .bind(&rec.ended_in)
            .bind(rec.wait_ms);
    }
    insert.execute(&mut **tx).await?;
    let parties: Vec<(CompanyId, &CallRecord, String)> = group
        .iter()
        .flat_map(|(company, rec)| rec.parties().into_iter().map(move |p| (*company, *rec, p)))
        .collect();
    if !parties.is_empty() {
        let rows: Vec<String> = (0..parties.len())
            .map(|i| format!("(${}, ${}, ${}, ${})", 4 * i + 1, 4 * i + 2, 4 * i + 3, 4 * i + 4))
            .collect();
        let sql = format!(
            "INSERT INTO call_parties (company_id, party, started_at, call_id) VALUES {} ON CONFLICT DO NOTHING",
            rows.join(", ")
        );
        let mut insert = sqlx::query(&sql);
        for (company, rec, party) in &parties {
            insert = insert.bind(company.0).bind(party).bind(rec.started_at).bind(&rec.id);
        }
        insert.execute(&mut **tx).await?;
    }
    Ok(())
}
