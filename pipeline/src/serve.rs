//! `tillflow run --follow`: the live pipeline with its listeners (HTTP ingest and metrics, Postgres
//! wire, Flight SQL), followers and persister, until Ctrl-C or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::Context;
use tillflow_queries::live::Hub;
use tillflow_queries::persisted::root_url;
use url::Url;

use crate::live::{self, LiveConfig, Metrics, Persistable};
use crate::persist::write_table;
use crate::source::Counts;
use crate::{follow, http, tables};

#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Files, folders, or `-` for stdin; may be empty when events come over HTTP only.
    pub inputs: Vec<PathBuf>,
    pub out: String,
    pub live: LiveConfig,
    pub listen: Option<SocketAddr>,
    pub pg: Option<SocketAddr>,
    pub flight: Option<SocketAddr>,
}

/// Refuses to serve SQL beyond this machine: the servers have no authentication yet.
fn loopback_only(flag: &str, addr: Option<SocketAddr>) -> anyhow::Result<()> {
    match addr {
        Some(addr) if !addr.ip().is_loopback() => anyhow::bail!(
            "{flag} {addr}: tillflow's SQL servers have no authentication or TLS yet, so they listen on loopback \
             only (127.0.0.1 or [::1]); reach them from other machines through an SSH tunnel or an authenticating proxy"
        ),
        _ => Ok(()),
    }
}

pub fn serve(config: ServeConfig, runtime: &tokio::runtime::Runtime) -> anyhow::Result<Counts> {
    loopback_only("--pg", config.pg)?;
    loopback_only("--flight", config.flight)?;
    let root = root_url(&config.out)?;
    let missing: Vec<_> = config.inputs.iter().filter(|p| p.as_os_str() != "-" && !p.exists()).collect();
    if let Some(path) = missing.first() {
        anyhow::bail!("input `{}` does not exist: pass files or folders of events, or - for stdin", path.display());
    }
    let hub = Hub::new(tables().into_iter().map(|t| (t.name, t.schema)).collect());
    let metrics = Arc::new(Metrics::default());
    let stop = Arc::new(AtomicBool::new(false));
    let (feed, deliveries) = mpsc::sync_channel(1024);
    let _guard = runtime.enter();
    let mut listening = Vec::new();

    if let Some(addr) = config.listen {
        let listener = runtime.block_on(tokio::net::TcpListener::bind(addr)).with_context(|| {
            format!("cannot listen for HTTP on {addr} (is the port taken? pick another with --listen)")
        })?;
        let app = http::router(feed.clone(), Arc::clone(&metrics));
        runtime.spawn(async move { axum::serve(listener, app).await });
        listening.push(format!("HTTP ingest on http://{addr}/v1/events (metrics on /metrics)"));
    }
    if let Some(addr) = config.pg {
        let ctx = hub.session(&root)?;
        spawn_sql_server(runtime, "Postgres", addr, &stop, tillflow_queries::pg::serve(ctx, addr))?;
        listening.push(format!("Postgres wire on {addr} (psql -h {} -p {})", addr.ip(), addr.port()));
    }
    if let Some(addr) = config.flight {
        let ctx = hub.session(&root)?;
        spawn_sql_server(runtime, "Flight SQL", addr, &stop, tillflow_queries::flight::serve(ctx, addr))?;
        listening.push(format!("Arrow Flight SQL on {addr} (tillflow sql --connect {addr})"));
    }
    let followers = follow::spawn(&config.inputs, config.live.tick / 2, &feed, &stop);
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
        std::thread::spawn(move || persist_loop(&persist_receive, &handle, &root, &metrics))
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
    let counts =
        live::run(config.live, deliveries, hub, metrics, persist, Arc::clone(&stop)).map_err(anyhow::Error::msg)?;
    stop.store(true, Ordering::Relaxed);
    persister.join().map_err(|_| anyhow::anyhow!("the persister failed"))?;
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
) -> anyhow::Result<()> {
    std::net::TcpListener::bind(addr).with_context(|| {
        format!("cannot listen for {name} clients on {addr} (is the port taken? pick another address)")
    })?;
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

/// Attempts per table write before the persist is reported failed (the next persist retries).
const ATTEMPTS: u32 = 3;

/// Writes each snapshot handed over, coalescing those that queued up meanwhile.
fn persist_loop(
    receive: &mpsc::Receiver<Persistable>,
    runtime: &tokio::runtime::Handle,
    root: &Url,
    metrics: &Metrics,
) {
    let tables_known = tables();
    // Tables whose last write failed: written with the next snapshot even if it did not change them.
    let mut overdue: Vec<&'static str> = Vec::new();
    while let Ok(mut next) = receive.recv() {
        while let Ok((epoch, tables)) = receive.try_recv() {
            // A later snapshot replaces an earlier one; a table stays due if either changed it.
            let changed: Vec<bool> = next.1.iter().zip(&tables).map(|(a, b)| a.2 || b.2).collect();
            next = (epoch, tables.into_iter().zip(changed).map(|((n, b, _), c)| (n, b, c)).collect());
        }
        let started = Instant::now();
        let (epoch, tables) = &next;
        let mut failed = Vec::new();
        for (name, batches, _) in tables.iter().filter(|t| t.2 || overdue.contains(&t.0)) {
            let table = tables_known.iter().find(|t| t.name == *name).expect("a known table");
            let batch =
                arrow::compute::concat_batches(&table.schema, batches).expect("batches of one view share its schema");
            let written = (0..ATTEMPTS).any(|attempt| {
                if attempt > 0 {
                    std::thread::sleep(Duration::from_millis(200 << attempt));
                }
                match runtime.block_on(write_table(root, name, table.partition, batch.clone(), Some(*epoch))) {
                    Ok(()) => true,
                    Err(e) => {
                        tracing::warn!("persisting {name} at epoch {epoch} (attempt {}): {e:#}", attempt + 1);
                        false
                    }
                }
            });
            if !written {
                failed.push(*name);
            }
        }
        metrics.persist_ms.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
        if failed.is_empty() {
            metrics.persists.fetch_add(1, Ordering::Relaxed);
        } else {
            metrics.persist_failures.fetch_add(1, Ordering::Relaxed);
            tracing::error!("persist of epoch {epoch} failed for {failed:?}; retried with the next persist");
        }
        overdue = failed;
    }
}
