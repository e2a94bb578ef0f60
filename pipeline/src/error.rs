//! The pipeline's errors: one enum, [`Error`], and its [`Result`].
//!
//! The variants come in three groups: what the user can fix (an input, a flag, a config file, a
//! district), failures of the machine around tillflow (storage, ports, the ingest log), and
//! tillflow's own failures (a worker, the persister, a view's schema). Errors of the crates below
//! convert with `?` and print as they do. Each message is one line that says what went wrong and,
//! where the user can act, what to do.
//!
//! A message that already holds its cause (`cannot create DIR: CAUSE`) does not also give it as
//! its [`source`](std::error::Error::source), so a printed chain ([`Chain`], anyhow's `{:#}` in
//! the binary) names it once.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;

use arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use deltalake::DeltaTableError;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // What the user can fix.
    /// An input path [`crate::source::discover`] cannot use; its message says which and why.
    #[error("{0}")]
    Input(String),
    /// A live input that does not exist.
    #[error("input `{}` does not exist: pass files or folders of events, or - for stdin", .0.display())]
    InputMissing(PathBuf),
    #[error("cannot read config file {}: {error}", .path.display())]
    ConfigUnreadable { path: PathBuf, error: std::io::Error },
    /// A config file that is not valid TOML or sets an unknown or bad flag; the message names the line.
    #[error("config file {}: {error}", .path.display())]
    BadConfig { path: PathBuf, error: Box<toml::de::Error> },
    #[error("cannot read {}: eval scores a chain made by `tillflow generate`", .path.display())]
    NoGroundTruth { path: PathBuf, source: std::io::Error },
    #[error("{} is not a ground truth file", .path.display())]
    NotGroundTruth { path: PathBuf, source: serde_json::Error },
    #[error(
        "{} is not an ingest log: pass a live run's --out folder, or the {} folder in it",
        .path.display(),
        crate::serve::INGEST_LOG
    )]
    NotAnIngestLog { path: PathBuf },
    #[error("`{0}` is not a date like 2026-03-08")]
    NotADate(String),
    /// A district the views do not know, with those they know.
    #[error("no district `{district}` in the views; districts: {}", .known.join(", "))]
    NoDistrict { district: String, known: Vec<String> },
    #[error("no sales in district `{0}` yet")]
    NoSales(String),
    /// The alert channels cannot be set up (their folder under `--out`, the HTTP client).
    #[error("alerts: {0}")]
    Alerts(String),
    /// A store the views do not know.
    #[error("no store `{0}` in the views: `tillflow sql \"SELECT store_id FROM stores\"` lists them")]
    NoStore(String),
    /// A SQL server asked to listen beyond this machine without users or TLS.
    #[error(
        "{flag} {addr} is reachable from other machines: configure [tls] (or --tls-cert and --tls-key) and \
         {} in --config first (docs/access.md), or listen on 127.0.0.1",
        if *flag == "--listen" { "[[ingest_tokens]]" } else { "[[users]]" }
    )]
    Unprotected { flag: &'static str, addr: SocketAddr },
    #[error(transparent)]
    Tls(tillflow_queries::access::gate::TlsError),
    #[error("cannot listen for HTTP on {addr} (is the port taken? pick another with --listen)")]
    HttpListen { addr: SocketAddr, source: std::io::Error },
    #[error("cannot listen for {server} clients on {addr} (is the port taken? pick another address)")]
    SqlListen { server: &'static str, addr: SocketAddr, source: std::io::Error },
    /// A query sent to a running tillflow's Flight SQL server failed, or found no server.
    #[error("{0}")]
    Remote(String),

    // What failed around tillflow: storage, the ingest log.
    #[error("cannot create {}: {error}", .path.display())]
    CreateFolder { path: PathBuf, error: std::io::Error },
    #[error(
        "cannot remove {at} to write it anew (an erased customer may be in it): {error}; check its permissions, then run `tillflow vacuum --erasures`"
    )]
    RemoveTable { at: String, error: std::io::Error },
    #[error("writing view {view} to {url}: {error}")]
    WriteView { view: String, url: String, error: Box<DeltaTableError> },
    #[error("opening {url}: {error}")]
    OpenTable { url: String, error: Box<DeltaTableError> },
    #[error("vacuuming {url}: {error}")]
    Vacuum { url: String, error: Box<DeltaTableError> },
    #[error("cannot open the ingest log in {at}")]
    OpenIngestLog { at: String, source: std::io::Error },
    #[error("cannot read the ingest log in {at}: {error}")]
    ReadIngestLog { at: String, error: std::io::Error },

    // tillflow's own failures.
    /// The dataflow over files failed: the cluster did not start, a worker or the input reader
    /// stopped; the message says which.
    #[error("{0}")]
    Dataflow(String),
    /// The live pipeline stopped: the ingest log could not be written, or a worker failed; the
    /// message says which and what to do.
    #[error("{0}")]
    Live(String),
    /// The thread writing live snapshots to storage panicked.
    #[error(transparent)]
    PseudonymKey(#[from] crate::pseudonyms::KeyError),
    #[error("the persister failed")]
    PersisterFailed,
    /// A thread writing a view at the end of a run panicked.
    #[error("a view writer failed")]
    WriterPanicked,
    /// A view's partition column is not a date: its schema and its table disagree.
    #[error("partition column {0} is not a date")]
    PartitionNotDate(String),

    // The crates below, as they print. Delta's errors are boxed to keep `Result`s small.
    #[error(transparent)]
    Queries(Box<tillflow_queries::Error>),
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    #[error(transparent)]
    Delta(Box<DeltaTableError>),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Utf8(#[from] std::string::FromUtf8Error),
    #[error(transparent)]
    Readline(#[from] rustyline::error::ReadlineError),
}

impl From<tillflow_queries::Error> for Error {
    fn from(error: tillflow_queries::Error) -> Self {
        Error::Queries(Box::new(error))
    }
}

impl From<DeltaTableError> for Error {
    fn from(error: DeltaTableError) -> Self {
        Error::Delta(Box::new(error))
    }
}

/// An error and its sources on one line, joined by `: ` (as anyhow's `{:#}` prints them): for
/// logs and the SQL session.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}
