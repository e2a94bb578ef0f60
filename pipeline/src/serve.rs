//! `tillflow run --follow`: the live pipeline with its listeners (HTTP ingest and metrics, Postgres
//! wire, Flight SQL), followers and persister, until Ctrl-C or SIGTERM.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use tillflow_queries::access::audit::AccessLog;
use tillflow_queries::access::{Directory, Gate, TlsFiles, User};
use tillflow_queries::live::Hub;
use tillflow_queries::persisted::root_url;
use url::Url;

use crate::error::Chain;
use crate::ingest_access::{ClientAddr, IngestToken, TlsListener, Tokens};
use crate::journal::{Entry, Journal, Place};
use crate::live::{self, LiveConfig, Metrics, Persistable};
use crate::persist::{Dirty, vacuum, write_table};
use crate::source::Counts;
use crate::{Error, Result, follow, http, tables};

#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Files, folders, or `-` for stdin; may be empty when events come over HTTP only.
    pub inputs: Vec<PathBuf>,
    pub out: String,
    pub live: LiveConfig,
    pub listen: Option<SocketAddr>,
    pub pg: Option<SocketAddr>,
    pub flight: Option<SocketAddr>,
    /// Persisted versions younger than this stay readable with `as_of`; older files are vacuumed.
    pub keep_history: Duration,
    /// The platforms' webhooks (`POST /v1/sources/shopify`, `/v1/sources/square`), those configured.
    pub sources: crate::platforms::Sources,
    /// Who may sign in to the SQL servers; none: no sign-in, loopback only.
    pub users: Vec<User>,
    /// The servers' certificate and key; with them, TLS only (SQL and HTTP).
    pub tls: Option<TlsFiles>,
    /// Who may post to `/v1/events`; none: anyone who reaches it (loopback only).
    pub ingest_tokens: Vec<IngestToken>,
    /// `[[alerts]]`: where new and reopened exceptions, and briefings, are pushed.
    pub alerts: Vec<crate::alerts::Channel>,
}

/// The folder under `--out` holding the ingest log.
pub const INGEST_LOG: &str = "_ingest_log";

/// Refuses to serve beyond this machine without TLS and a way to sign in: users for SQL, tokens
/// for HTTP ingest.
fn protected(flag: &'static str, addr: Option<SocketAddr>, config: &ServeConfig) -> Result<()> {
    let signs_in = match flag {
        "--listen" => !config.ingest_tokens.is_empty(),
        _ => !config.users.is_empty(),
    };
    match addr {
        Some(addr) if !(addr.ip().is_loopback() || signs_in && config.tls.is_some()) => {
            Err(Error::Unprotected { flag, addr })
        }
        _ => Ok(()),
    }
}

pub fn serve(config: ServeConfig, runtime: &tokio::runtime::Runtime) -> Result<Counts> {
    protected("--listen", config.listen, &config)?;
    protected("--pg", config.pg, &config)?;
    protected("--flight", config.flight, &config)?;
    if let Some(tls) = &config.tls {
        tls.read().map_err(Error::Tls)?;
    }
    let access_log = Arc::new(AccessLog::default());
    let gate = Arc::new(Gate::new(config.users.clone(), config.tls.clone(), Arc::clone(&access_log)));
    let root = root_url(&config.out)?;
    let missing: Vec<_> = config.inputs.iter().filter(|p| p.as_os_str() != "-" && !p.exists()).collect();
    if let Some(path) = missing.first() {
        return Err(Error::InputMissing(path.to_path_buf()));
    }
    let views = config.live.tuning.views;
    let hub = Hub::new(tables().into_iter().filter(|t| views.has(t.name)).map(|t| (t.name, t.schema)).collect());
    let metrics = Arc::new(Metrics::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (feed, deliveries) = mpsc::sync_channel(1024);
    let _guard = runtime.enter();
    let mut listening = Vec::new();

    if let Some(addr) = config.listen {
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .map_err(|source| Error::HttpListen { addr, source })?;
        let scheme = if config.tls.is_some() { "https" } else { "http" };
        let platforms: String = [
            ("Shopify", config.sources.shopify.is_some()),
            ("Square", config.sources.square.is_some()),
            ("Clover", config.sources.clover.is_some()),
            ("Lightspeed", config.sources.lightspeed.is_some()),
        ]
        .into_iter()
        .filter(|(_, on)| *on)
        .map(|(name, _)| format!(", {name} webhooks on {scheme}://{addr}/v1/sources/{}", name.to_lowercase()))
        .collect();
        let directory: Arc<dyn Directory> = Arc::clone(&hub) as Arc<dyn Directory>;
        let tokens = (!config.ingest_tokens.is_empty()).then(|| Tokens::new(&config.ingest_tokens, directory));
        let log = Arc::clone(&access_log);
        let console = crate::console::Console {
            hub: Arc::clone(&hub),
            root: root.clone(),
            gate: Arc::clone(&gate),
            loopback: addr.ip().is_loopback(),
        };
        let app = http::router(feed.clone(), Arc::clone(&metrics), config.sources.clone(), tokens, log, console)
            .into_make_service_with_connect_info::<ClientAddr>();
        match &config.tls {
            Some(files) => {
                tillflow_queries::access::gate::use_ring();
                let acceptor = tokio_rustls::TlsAcceptor::from(files.server_config().map_err(Error::Tls)?);
                runtime.spawn(async move { axum::serve(TlsListener { tcp: listener, acceptor }, app).await });
            }
            None => {
                runtime.spawn(async move { axum::serve(listener, app).await });
            }
        }
        let signing = match config.ingest_tokens.len() {
            0 => String::new(),
            n => format!(", {n} ingest tokens"),
        };
        listening
            .push(format!("HTTP ingest on {scheme}://{addr}/v1/events{}{signing} (metrics on /metrics)", platforms));
        listening.push(format!("the console on {scheme}://{addr}/"));
    }
    let signing_in = match (gate.authenticates(), gate.tls.is_some()) {
        (true, true) => format!(", {} users, TLS only", config.users.len()),
        (true, false) => format!(", {} users", config.users.len()),
        (false, true) => ", TLS only, no sign-in".to_string(),
        (false, false) => String::new(),
    };
    if let Some(addr) = config.pg {
        let server = tillflow_queries::pg::serve(Arc::clone(&hub), root.clone(), addr, Arc::clone(&gate));
        spawn_sql_server(runtime, "Postgres", addr, &stop, server)?;
        listening.push(format!("Postgres wire on {addr} (psql -h {} -p {}{signing_in})", addr.ip(), addr.port()));
    }
    if let Some(addr) = config.flight {
        let server = tillflow_queries::flight::serve(Arc::clone(&hub), root.clone(), addr, Arc::clone(&gate));
        spawn_sql_server(runtime, "Flight SQL", addr, &stop, server)?;
        listening.push(format!("Arrow Flight SQL on {addr} (tillflow sql --connect {addr}{signing_in})"));
    }
    let opening = |source| Error::OpenIngestLog { at: format!("{root}{INGEST_LOG}"), source };
    let journal = match Place::under(&root, INGEST_LOG, runtime.handle()).map_err(opening)? {
        Some(place) => Some(Journal::open(&place).map_err(opening)?),
        None => {
            tracing::warn!("--out {root} is in memory: no ingest log, so input is not durable");
            None
        }
    };
    let mut resume: HashMap<String, u64> = HashMap::new();
    for (source, position) in journal.iter().flat_map(|(_, logged)| logged.iter().map(Entry::origin)) {
        let read = resume.entry(source.to_string()).or_default();
        *read = (*read).max(position);
    }
    let followers = follow::spawn(&config.inputs, config.live.tick / 2, &feed, &stop, resume);
    drop(feed);
    {
        let stop = Arc::clone(&stop);
        runtime.spawn(async move {
            shutdown_signal().await;
            stop.store(true, Ordering::Relaxed);
        });
    }

    let (persist_send, persist_receive) = mpsc::channel::<Persistable>();
    let persister = {
        let (handle, metrics, root) = (runtime.handle().clone(), Arc::clone(&metrics), root.clone());
        let keep_history = config.keep_history;
        std::thread::spawn(move || persist_loop(&persist_receive, &handle, &root, keep_history, &metrics))
    };
    for line in &listening {
        eprintln!("tillflow: {line}");
    }
    eprintln!(
        "tillflow: one epoch every {:?}; views persisted to {root} every {:?}; Ctrl-C stops",
        config.live.tick, config.live.persist_every
    );
    let persist: Arc<dyn Fn(Persistable) + Send + Sync> = Arc::new(move |snapshot| {
        let _ = persist_send.send(snapshot);
    });
    let attempts = Arc::new(crate::alerts::Deliveries::default());
    if !config.alerts.is_empty() {
        let sender =
            crate::alerts::Sender::new(Arc::clone(&hub), root.clone(), config.alerts.clone(), Arc::clone(&attempts))?;
        runtime.spawn(sender.run(Arc::clone(&stop)));
        let names: Vec<&str> = config.alerts.iter().map(|c| c.name.as_str()).collect();
        eprintln!("tillflow: alerts to {}", names.join(", "));
    }
    let publishing = live::Publishing { hub, metrics, persist, access_log, deliveries: attempts };
    let counts = live::run(config.live, deliveries, publishing, Arc::clone(&stop), journal).map_err(Error::Live)?;
    stop.store(true, Ordering::Relaxed);
    persister.join().map_err(|_| Error::PersisterFailed)?;
    drop(followers);
    Ok(counts)
}

/// Checks `addr` is free, then runs `server` in the background; if it stops with an error, so does tillflow.
fn spawn_sql_server<E: std::fmt::Display>(
    runtime: &tokio::runtime::Runtime,
    name: &'static str,
    addr: SocketAddr,
    stop: &Arc<AtomicBool>,
    server: impl std::future::Future<Output = Result<(), E>> + Send + 'static,
) -> Result<()> {
    std::net::TcpListener::bind(addr).map_err(|source| Error::SqlListen { server: name, addr, source })?;
    let stop = Arc::clone(stop);
    runtime.spawn(async move {
        if let Err(e) = server.await {
            tracing::error!("the {name} server on {addr} stopped: {e}");
            stop.store(true, Ordering::Relaxed);
        }
    });
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut terminate) => {
            tokio::select! {
                _ = interrupt => {}
                _ = terminate.recv() => {}
            }
        }
        Err(_) => {
            let _ = interrupt.await;
        }
    }
}

/// How often old table versions are vacuumed (and once more on the way out).
const VACUUM_EVERY: Duration = Duration::from_secs(3600);

/// Writes each snapshot handed over, coalescing those that queued up meanwhile, and vacuums
/// versions older than `keep_history`.
fn persist_loop(
    receive: &mpsc::Receiver<Persistable>,
    runtime: &tokio::runtime::Handle,
    root: &Url,
    keep_history: Duration,
    metrics: &Metrics,
) {
    let tables_known = tables();
    // What the failed writes left unwritten: added to the next snapshot's changes.
    let mut overdue: Vec<(&'static str, Dirty)> = Vec::new();
    let mut last_vacuum = Instant::now();
    while let Ok(mut next) = receive.recv() {
        while let Ok((epoch, tables)) = receive.try_recv() {
            // A later snapshot replaces an earlier one; what either changed is due.
            let mut changes: Vec<Dirty> = next.1.into_iter().map(|t| t.2).collect();
            for (dirty, table) in changes.iter_mut().zip(&tables) {
                dirty.merge(table.2.clone());
            }
            next = (epoch, tables.into_iter().zip(changes).map(|((n, b, _), c)| (n, b, c)).collect());
        }
        let (epoch, mut tables) = next;
        for (name, dirty) in overdue.drain(..) {
            if let Some(table) = tables.iter_mut().find(|t| t.0 == name) {
                table.2.merge(dirty);
            }
        }
        let started = Instant::now();
        for (name, batches, dirty) in tables.into_iter().filter(|t| t.2 != Dirty::Clean) {
            let table = tables_known.iter().find(|t| t.name == name).expect("a known table");
            let batch =
                arrow::compute::concat_batches(&table.schema, &batches).expect("batches of one view share its schema");
            let write =
                || runtime.block_on(write_table(root, name, table.partition, batch.clone(), Some(epoch), &dirty));
            if crate::retry(&format!("persisting {name} at epoch {epoch}"), write).is_err() {
                overdue.push((name, dirty));
            }
        }
        metrics.persist_ms.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        if overdue.is_empty() {
            metrics.persists.fetch_add(1, Ordering::Relaxed);
        } else {
            metrics.persist_failures.fetch_add(1, Ordering::Relaxed);
            let failed: Vec<_> = overdue.iter().map(|t| t.0).collect();
            tracing::error!("persist of epoch {epoch} failed for {failed:?}; retried with the next persist");
        }
        if last_vacuum.elapsed() >= VACUUM_EVERY {
            vacuum_all(runtime, root, keep_history);
            last_vacuum = Instant::now();
        }
    }
    vacuum_all(runtime, root, keep_history);
}

/// Deletes the files of every persisted table that no version younger than `keep_history` reads.
fn vacuum_all(runtime: &tokio::runtime::Handle, root: &Url, keep_history: Duration) {
    for table in tables() {
        match runtime.block_on(vacuum(root, table.name, keep_history)) {
            Ok(0) => {}
            Ok(deleted) => tracing::info!("vacuumed {deleted} files of {} older than {keep_history:?}", table.name),
            Err(e) => tracing::warn!("{}; retried at the next vacuum", Chain(&e)),
        }
    }
}
