//! The tillflow pipeline: sources, the dataflow assembly, sinks, and the commands of the binary.
//!
//! - [`source`]: finding and reading input files, epochs, dedup, dead letters;
//! - [`flatten`]: accepted events into the dataflow's input collections;
//! - [`dataflow`]: the graph (one call per view) and its execution on N workers;
//! - [`persist`]: views written as Delta Lake tables;
//! - [`run`]: `tillflow run` end to end, with its summary;
//! - [`eval`]: `tillflow eval`, exceptions scored against a generated chain's ground truth;
//! - [`report`]: `tillflow report`, the district manager's morning report;
//! - [`sql`]: `tillflow sql`, one query or a REPL;
//! - [`demo`]: `tillflow demo`.

pub mod dataflow;
pub mod demo;
pub mod eval;
pub mod flatten;
pub mod persist;
pub mod report;
pub mod run;
pub mod source;
pub mod sql;

use tillflow_schemas::views::{
    CustomerSegment, DeadLetter, Exception, InventoryPosition, LaborDemand, RefundVoidAnomaly, RuleBreak,
    SegmentProfile, SkuMargin, ViewRow,
};

/// Every view a run persists, by table name.
pub const VIEWS: &[&str] = &[
    SkuMargin::NAME,
    InventoryPosition::NAME,
    RuleBreak::NAME,
    RefundVoidAnomaly::NAME,
    LaborDemand::NAME,
    Exception::NAME,
    CustomerSegment::NAME,
    SegmentProfile::NAME,
    DeadLetter::NAME,
];
