//! `exception_history`: each exception's life, folded from the `exceptions` view's changes epoch
//! by epoch and from the managers' `exception_action` events, in the order they were admitted.
//!
//! Not a differential operator: a life depends on the order things happened in (acknowledged,
//! then changed, is reopened; changed, then acknowledged, is not), so the live driver folds it
//! beside the dataflow, and the ingest log keeps every row it changes (a restart does not
//! recompute the past epochs). Reference: a state machine written apart, in the tests
//! (`tests/it/history.rs`), over the same change stream and actions.
//!
//! The rules:
//! - first seen: `open`, version 1;
//! - its figures get worse (its severity rises; its amount grows; without an amount, its evidence
//!   changes): an `acknowledged` one is `reopened` (version + 1). Figures that ease (a 7-day
//!   total as a day leaves the window) leave it acknowledged; an open or reopened one stays so; a
//!   `dismissed` one stays dismissed (the manager judged it, with a reason);
//! - gone from `exceptions`: `cleared`; back again: `reopened` (version + 1);
//! - `acknowledge`, `dismiss` (with its reason as the note): the status, unless cleared;
//!   `assign`, `note`: who has it, the note; `reopen`: `reopened` (version + 1);
//! - every action records what, by whom and when (`last_action*`, `acknowledged_*`);
//! - an action on an exception never seen, or of another store, is refused (a dead letter);
//! - an exception whose business day leaves the retention leaves the history (it did not clear).

use std::collections::BTreeMap;

use tillflow_schemas::views::{Exception, ExceptionHistory, Severity, Status};
use tillflow_schemas::{ActionKind, ExceptionAction, Millis};

/// Every exception's history, and the exceptions as the latest epoch left them.
#[derive(Debug, Default)]
pub struct History {
    rows: BTreeMap<String, ExceptionHistory>,
    current: BTreeMap<String, Exception>,
    /// Restored from the ingest log: the next epoch's exceptions are the whole view, and any row
    /// still waiting that is not among them has cleared meanwhile.
    restored: bool,
}

impl History {
    pub fn rows(&self) -> impl Iterator<Item = &ExceptionHistory> {
        self.rows.values()
    }

    /// Why `action` would be refused, if it would.
    pub fn refuses(&self, action: &ExceptionAction) -> Option<String> {
        match self.rows.get(action.exception_id.as_str()) {
            None => Some(format!(
                "no exception `{}`: act on an exception_id listed in `exceptions` or `exception_history`",
                action.exception_id
            )),
            Some(row) if row.store_id != action.store_id.as_str() => Some(format!(
                "exception `{}` is of store `{}`, not `{}`",
                action.exception_id, row.store_id, action.store_id
            )),
            Some(_) => None,
        }
    }

    /// Forgets the exceptions of business days before `day`: their days have left the
    /// retention, and so have they (they did not clear).
    pub fn forget_before(&mut self, day: tillflow_schemas::Day) {
        self.rows.retain(|_, row| row.business_date >= day);
        self.current.retain(|_, exception| exception.business_date >= day);
    }

    /// Puts back a row the ingest log kept.
    pub fn restore(&mut self, row: ExceptionHistory) {
        self.restored = true;
        self.rows.insert(row.exception_id.clone(), row);
    }

    /// Applies one epoch's changes of `exceptions` (published at `at`); the rows changed.
    pub fn observe(&mut self, changes: &[(Exception, isize)], at: Millis) -> Vec<ExceptionHistory> {
        let mut touched = std::collections::BTreeSet::new();
        // Retractions first: a changed exception is its old row out and its new one in.
        for (row, _) in changes.iter().filter(|(_, diff)| *diff < 0) {
            if self.current.get(row.exception_id.as_str()) == Some(row) {
                self.current.remove(row.exception_id.as_str());
            }
            touched.insert(row.exception_id.to_string());
        }
        for (row, _) in changes.iter().filter(|(_, diff)| *diff > 0) {
            self.current.insert(row.exception_id.to_string(), row.clone());
            touched.insert(row.exception_id.to_string());
        }
        if std::mem::take(&mut self.restored) {
            let waiting = self.rows.values().filter(|r| r.status != Status::Cleared).map(|r| r.exception_id.clone());
            touched.extend(waiting.collect::<Vec<_>>());
        }
        let mut changed = Vec::new();
        for id in touched {
            let now = self.current.get(&id);
            let before = self.rows.get(&id).cloned();
            let after = match (before.clone(), now) {
                (None, None) => None,
                (None, Some(exception)) => Some(first_seen(exception, at)),
                (Some(row), None) => Some(cleared(row, at)),
                (Some(row), Some(exception)) => Some(seen_again(row, exception, at)),
            };
            if let Some(after) = after
                && Some(&after) != before.as_ref()
            {
                self.rows.insert(id, after.clone());
                changed.push(after);
            }
        }
        changed
    }

    /// Applies an admitted action (see [`History::refuses`]); the row it changed.
    pub fn act(&mut self, action: &ExceptionAction) -> Option<ExceptionHistory> {
        let row = self.rows.get_mut(action.exception_id.as_str())?;
        let user = action.user.to_string();
        match action.action {
            ActionKind::Acknowledge => {
                if row.status != Status::Cleared {
                    row.status = Status::Acknowledged;
                }
                row.acknowledged_by = Some(user.clone());
                row.acknowledged_at = Some(action.ts);
            }
            ActionKind::Dismiss => {
                if row.status != Status::Cleared {
                    row.status = Status::Dismissed;
                }
                row.note = action.note.as_ref().map(|n| n.to_string());
            }
            ActionKind::Assign => row.assigned_to = action.assignee.as_ref().map(|a| a.to_string()),
            ActionKind::Note => row.note = action.note.as_ref().map(|n| n.to_string()),
            ActionKind::Reopen => {
                row.status = Status::Reopened;
                row.version += 1;
                row.cleared = None;
            }
        }
        row.last_action =
            Some(tillflow_schemas::raw::name_of(tillflow_schemas::raw::ACTION_KINDS, action.action).into());
        row.last_action_by = Some(user);
        row.last_action_at = Some(action.ts);
        row.last_changed = row.last_changed.max(action.ts);
        row.actions += 1;
        Some(row.clone())
    }
}

/// Whether the row holds what `exception` says (severity, amount, evidence).
fn says(row: &ExceptionHistory, exception: &Exception) -> bool {
    row.severity == exception.severity.name() && row.amount == exception.amount && row.evidence == exception.evidence
}

fn first_seen(exception: &Exception, at: Millis) -> ExceptionHistory {
    ExceptionHistory {
        exception_id: exception.exception_id.to_string(),
        store_id: exception.store_id.to_string(),
        district: exception.district.to_string(),
        kind: exception.kind.to_string(),
        subject: exception.subject.to_string(),
        business_date: exception.business_date,
        severity: exception.severity.name().into(),
        amount: exception.amount,
        evidence: exception.evidence.clone(),
        status: Status::Open,
        version: 1,
        first_seen: at,
        last_changed: at,
        cleared: None,
        acknowledged_by: None,
        acknowledged_at: None,
        assigned_to: None,
        note: None,
        last_action: None,
        last_action_by: None,
        last_action_at: None,
        actions: 0,
    }
}

fn cleared(mut row: ExceptionHistory, at: Millis) -> ExceptionHistory {
    if row.status != Status::Cleared {
        row.status = Status::Cleared;
        row.cleared = Some(at);
        row.last_changed = at;
    }
    row
}

fn seen_again(mut row: ExceptionHistory, exception: &Exception, at: Millis) -> ExceptionHistory {
    if row.status != Status::Cleared && says(&row, exception) {
        return row;
    }
    row.status = match row.status {
        Status::Acknowledged if !worse(&row, exception) => Status::Acknowledged,
        Status::Cleared | Status::Acknowledged => {
            row.version += 1;
            row.cleared = None;
            Status::Reopened
        }
        status => status,
    };
    row.severity = exception.severity.name().into();
    row.amount = exception.amount;
    row.evidence = exception.evidence.clone();
    row.last_changed = at;
    row
}

/// Whether `exception` says worse than `row` last did: a higher severity; at the same severity a
/// larger amount at stake, or, without an amount, other evidence (a rate cannot be ordered from
/// its text).
pub fn worse(row: &ExceptionHistory, exception: &Exception) -> bool {
    let (before, now) = (Severity::weight_of(&row.severity), Severity::weight_of(exception.severity.name()));
    if before != now {
        return now > before;
    }
    match (row.amount, exception.amount) {
        (Some(before), Some(now)) => now.0.abs() > before.0.abs(),
        _ => row.evidence != exception.evidence,
    }
}
