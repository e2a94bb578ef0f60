//! `access_log`: every statement a SQL server runs or refuses, every post of events over HTTP, and
//! every refused sign-in or token, with who, from where, what it read and how it ended. The
//! servers record entries here; the live pipeline publishes them with each epoch and persists
//! them like the views. No surface can write to it.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::Utc;
use tillflow_schemas::views::AccessEntry;

/// How a statement or login ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Not allowed: a refused login, a write, a table outside the user's grant.
    Refused,
    Error,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Error => "error",
        }
    }
}

/// The entries recorded since the pipeline last took them.
#[derive(Debug, Default)]
pub struct AccessLog {
    pending: Mutex<Vec<AccessEntry>>,
}

impl AccessLog {
    pub fn record(&self, entry: AccessEntry) {
        self.pending.lock().unwrap_or_else(|e| e.into_inner()).push(entry);
    }

    /// Takes the entries recorded since the last call.
    pub fn drain(&self) -> Vec<AccessEntry> {
        std::mem::take(&mut *self.pending.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// Who is asking, and over which surface.
#[derive(Clone, Debug)]
pub struct Caller {
    pub user: String,
    pub surface: &'static str,
    pub client: String,
}

/// One statement being served: counts the rows sent and records itself in the log when dropped
/// (when its answer has been sent, has failed, or the client stopped reading it).
#[derive(Debug)]
pub struct Audit {
    log: Arc<AccessLog>,
    entry: AccessEntry,
    started: Instant,
    outcome: Outcome,
}

impl Audit {
    pub fn begin(log: &Arc<AccessLog>, caller: &Caller, statement: &str, tables: &[String]) -> Audit {
        let entry = AccessEntry {
            at: Utc::now().timestamp_millis(),
            user: caller.user.clone(),
            surface: caller.surface.to_string(),
            client: caller.client.clone(),
            statement: statement.to_string(),
            tables: tables.join(","),
            ..AccessEntry::default()
        };
        Audit { log: Arc::clone(log), entry, started: Instant::now(), outcome: Outcome::Ok }
    }

    /// Counts one row sent, or marks the statement failed.
    pub fn sent<T, E>(&mut self, item: &Result<T, E>) {
        match item {
            Ok(_) => self.entry.rows += 1,
            Err(_) => self.outcome = Outcome::Error,
        }
    }

    /// Counts `rows` rows sent.
    pub fn sent_rows(&mut self, rows: u64) {
        self.entry.rows += rows;
    }

    pub fn end(&mut self, outcome: Outcome) {
        self.outcome = outcome;
    }
}

impl Drop for Audit {
    fn drop(&mut self) {
        let mut entry = std::mem::take(&mut self.entry);
        entry.duration_ms = self.started.elapsed().as_millis() as u64;
        entry.outcome = self.outcome.as_str().to_string();
        self.log.record(entry);
    }
}

/// Records a refused login.
pub fn refused_login(log: &AccessLog, caller: &Caller, reason: &str) {
    log.record(AccessEntry {
        at: Utc::now().timestamp_millis(),
        user: caller.user.clone(),
        surface: caller.surface.to_string(),
        client: caller.client.clone(),
        statement: format!("login refused: {reason}"),
        outcome: Outcome::Refused.as_str().to_string(),
        ..AccessEntry::default()
    });
}

/// The tables `sql` names, sorted (for the access log; none if it does not parse).
pub fn tables_named(sql: &str) -> Vec<String> {
    use datafusion::sql::parser::DFParser;
    let Ok(statements) = DFParser::parse_sql(sql) else { return Vec::new() };
    let mut tables: Vec<String> = statements
        .iter()
        .filter_map(|statement| datafusion::sql::resolve::resolve_table_references(statement, true).ok())
        .flat_map(|(tables, _ctes)| tables)
        .map(|table| table.table().to_string())
        .collect();
    tables.sort();
    tables.dedup();
    tables
}
