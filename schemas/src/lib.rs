//! tillflow's input and output contract, with no execution in it.
//!
//! - [`event`]: the canonical events and reference records, as typed Rust values;
//! - [`raw`]: the permissive wire shape and the validation that turns it into an [`Event`];
//! - [`formats`]: NDJSON, CSV and Parquet readers yielding one [`Record`] per input event;
//! - [`tables`]: the events as flat Arrow tables (what the reference SQL runs over);
//! - [`views`]: the row type and Arrow schema of every view.
//!
//! Money is integer cents ([`Cents`]), instants are milliseconds since the Unix epoch
//! ([`Millis`]), days are days since the Unix epoch ([`Day`]).

pub mod error;
pub mod event;
pub mod formats;
pub mod id;
pub mod money;
pub mod raw;
pub mod tables;
pub mod time;
pub mod views;

pub use error::InputError;
pub use event::*;
pub use formats::{Format, Record};
pub use id::{Id, Key, Text};
pub use money::Cents;
pub use time::{Day, Millis};

/// A tick of processing: the dataflow's timestamp (DESIGN.md, Time). Over files it counts the
/// input's cuts (or ticks of event time); live, ticks of wall time since the Unix epoch.
pub type Epoch = u64;
