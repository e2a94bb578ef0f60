//! What tillflow's tests share, so that each view's reference test can sit beside it in
//! `operators/` and the end-to-end tests in `tests/it/` use the same events and oracles:
//!
//! - [`events`]: event constructors and random streams that exercise every view;
//! - [`support`]: the dataflow run over events fed through admission, the reference SQL over the
//!   same events, rows as text;
//! - [`retention_reference`]: the events the references read once days leave the retention;
//! - [`segments_reference`]: the batch reference of the customer segments, written apart from them;
//! - [`views`]: a view checked against its reference at every epoch.

pub mod events;
pub mod retention_reference;
pub mod segments_reference;
pub mod support;
pub mod views;
