//! The tillflow pipeline: sources, the dataflow assembly, sinks, and the commands of the binary.
//!
//! - [`source`]: finding and reading input files, epochs, dedup, dead letters;
//! - [`flatten`]: accepted events into the dataflow's input collections;
//! - [`dataflow`]: the graph (one call per view) and its execution on N workers;
//! - [`persist`]: views written as Delta Lake tables;
//! - [`run`]: `tillflow run` end to end, with its summary;
//! - [`sql`]: `tillflow sql`, one query or a REPL;
//! - [`demo`]: `tillflow demo`.

pub mod dataflow;
pub mod demo;
pub mod flatten;
pub mod persist;
pub mod run;
pub mod source;
pub mod sql;

use tillflow_schemas::views::{DeadLetter, InventoryPosition, SkuMargin, ViewRow};

/// Every view a run persists, by table name.
pub const VIEWS: &[&str] = &[SkuMargin::NAME, InventoryPosition::NAME, DeadLetter::NAME];
