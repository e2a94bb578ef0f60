//! `pipeline_stats`: the pipeline describing itself, one row per live epoch.

use super::{Columns, ViewRow};
use crate::Millis;

#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct PipelineStat {
    pub epoch: u64,
    /// When the epoch's snapshot was published (UTC).
    pub published_at: Millis,
    /// Records received during the epoch, and what became of them.
    pub events_in: u64,
    pub accepted: u64,
    pub duplicates: u64,
    pub dead_lettered: u64,
    /// Records waiting for their store's record after the epoch (counted as received once judged).
    pub pending: u64,
    /// The watermark after the epoch: latest event time less the allowed lateness.
    pub watermark: Option<Millis>,
    /// Publish time less the latest event time seen.
    pub lag_ms: Option<i64>,
    /// Rows held by every view after the epoch, and per view as JSON (`{"sku_margin": 120, …}`).
    pub state_rows: u64,
    pub view_rows: String,
    /// From the epoch's close until every view had settled.
    pub compute_ms: u64,
    /// Building the Arrow snapshot and handing it to SQL.
    pub publish_ms: u64,
    /// The duration of the persist (it runs in the background) that completed during this epoch, if one did.
    pub persist_ms: Option<u64>,
}

impl ViewRow for PipelineStat {
    const NAME: &'static str = "pipeline_stats";
    const PARTITION: Option<&'static str> = None;

    fn columns(c: &mut Columns<'_, Self>) {
        c.int("epoch", |r| r.epoch as i64)
            .timestamp("published_at", |r| r.published_at)
            .int("events_in", |r| r.events_in as i64)
            .int("accepted", |r| r.accepted as i64)
            .int("duplicates", |r| r.duplicates as i64)
            .int("dead_lettered", |r| r.dead_lettered as i64)
            .int("pending", |r| r.pending as i64)
            .opt_timestamp("watermark", |r| r.watermark)
            .opt_int("lag_ms", |r| r.lag_ms)
            .int("state_rows", |r| r.state_rows as i64)
            .text("view_rows", |r| &r.view_rows)
            .int("compute_ms", |r| r.compute_ms as i64)
            .int("publish_ms", |r| r.publish_ms as i64)
            .opt_int("persist_ms", |r| r.persist_ms.map(|ms| ms as i64));
    }
}
