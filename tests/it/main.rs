//! tillflow's end-to-end tests, in one binary: the views against their references, bad input,
//! and the command line used as a user would.

mod bad_input;
mod cli;
mod clock;
mod clover;
mod cluster;
mod corpus;
mod eval;
mod hand_computed;
mod history;
mod lightspeed;
mod live;
mod pg;
mod privacy;
mod replay;
mod retention;
mod segments;
mod shopify;
mod square;
mod storage;
mod support;
mod views;
