//! The Postgres wire protocol over a DataFusion session (`datafusion-postgres`), with the
//! `pg_catalog` tables psql's `\d` and BI tools query.

use std::net::SocketAddr;
use std::sync::Arc;

use datafusion::prelude::SessionContext;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use datafusion_postgres::datafusion_pg_catalog::pg_catalog::setup_pg_catalog;
use datafusion_postgres::{ServerOptions, serve as serve_pg};

/// Serves `ctx` to Postgres clients on `addr` (no authentication: callers keep it on loopback).
pub async fn serve(ctx: SessionContext, addr: SocketAddr) -> std::io::Result<()> {
    setup_pg_catalog(&ctx, "datafusion", EmptyContextProvider).map_err(|e| std::io::Error::other(e.to_string()))?;
    let options = ServerOptions::new().with_host(addr.ip().to_string()).with_port(addr.port());
    serve_pg(Arc::new(ctx), &options).await
}
