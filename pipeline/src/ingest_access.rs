//! Who may post events over HTTP, and for which stores: `[[ingest_tokens]]`, each a bearer token
//! with a scope; and the TLS the HTTP listener speaks when the config has a certificate.
//!
//! A token's scope bounds what it may post: the register events (sales, refunds, voids, stock
//! records, shifts) of its stores; reference and loyalty records (stores, products, promotions,
//! loyalty links, erasures) come from the chain's own systems and need a `chain` token. A record
//! outside the scope is a dead letter saying which token and which store; a missing or unknown
//! token is refused (401) and counted as unauthenticated.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tillflow_queries::access::{Directory, Scope, covered};
use tillflow_schemas::formats::{Record, Rejected};
use tillflow_schemas::{Event, InputError};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How the reason of a record refused for its token's scope begins.
pub const REFUSED_FOR_SCOPE: &str = "token ";

/// One configured token: its name, the SHA-256 of its text (the text itself is not kept), its scope.
#[derive(Clone)]
pub struct IngestToken {
    pub name: String,
    pub digest: [u8; 32],
    pub scope: Scope,
}

impl IngestToken {
    pub fn new(name: &str, token: &str, scope: Scope) -> IngestToken {
        IngestToken { name: name.to_string(), digest: Sha256::digest(token.as_bytes()).into(), scope }
    }
}

impl std::fmt::Debug for IngestToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IngestToken").field("name", &self.name).field("scope", &self.scope).finish_non_exhaustive()
    }
}

/// The tokens, by digest, and where stores are (for district and region scopes).
#[derive(Clone)]
pub struct Tokens {
    by_digest: HashMap<[u8; 32], (String, Scope)>,
    directory: Arc<dyn Directory>,
}

impl Tokens {
    pub fn new(tokens: &[IngestToken], directory: Arc<dyn Directory>) -> Tokens {
        let by_digest = tokens.iter().map(|t| (t.digest, (t.name.clone(), t.scope.clone()))).collect();
        Tokens { by_digest, directory }
    }

    /// The token named by an `Authorization: Bearer …` header: its name and scope.
    pub fn holder(&self, authorization: &str) -> Option<&(String, Scope)> {
        let token = authorization.strip_prefix("Bearer ")?;
        self.by_digest.get(&<[u8; 32]>::from(Sha256::digest(token.trim().as_bytes())))
    }

    /// `records` with each one outside `scope` turned into a dead letter naming the token.
    pub fn confine(&self, records: Vec<Record>, name: &str, scope: &Scope) -> Vec<Record> {
        if *scope == Scope::Chain {
            return records;
        }
        let stores = covered(scope, &self.directory.placements(None)).stores;
        records
            .into_iter()
            .map(|record| {
                let refusal = match &record.outcome {
                    Ok(event) => match register_store(event) {
                        Some(store) if stores.contains(store) => None,
                        Some(store) => Some(format!("{REFUSED_FOR_SCOPE}{name} may post events of {scope}, not of store {store}")),
                        None => Some(format!(
                            "{REFUSED_FOR_SCOPE}{name} ({scope}) may post register events only; {} records need a chain token",
                            event.kind().name()
                        )),
                    },
                    Err(_) => None,
                };
                match refusal {
                    None => record,
                    Some(reason) => Record::rejected(
                        record.position,
                        Rejected::new(record.raw.as_bytes(), InputError::RuleBroken(reason)),
                    ),
                }
            })
            .collect()
    }
}

/// The store of a register event (a sale, refund, void, stock record or shift) or of a manager's
/// action on an exception; none for reference and loyalty records.
fn register_store(event: &Event) -> Option<&str> {
    match event {
        Event::Sale(e) => Some(e.store_id.as_ref()),
        Event::Refund(e) => Some(e.store_id.as_ref()),
        Event::Void(e) => Some(e.store_id.as_ref()),
        Event::Inventory(e) => Some(e.store_id.as_ref()),
        Event::Shift(e) => Some(e.store_id.as_ref()),
        Event::ExceptionAction(e) => Some(e.store_id.as_ref()),
        Event::LoyaltyLink(_) | Event::Erasure(_) | Event::Product(_) | Event::Store(_) | Event::Promotion(_) => None,
    }
}

/// A TCP listener whose connections are TLS, for `axum::serve`: a handshake that fails or takes
/// longer than ten seconds drops that connection only.
pub struct TlsListener {
    pub tcp: TcpListener,
    pub acceptor: TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((tcp, addr)) = self.tcp.accept().await else {
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            };
            match tokio::time::timeout(Duration::from_secs(10), self.acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => return (tls, addr),
                Ok(Err(e)) => tracing::debug!("a TLS handshake from {addr} failed: {e}"),
                Err(_) => tracing::debug!("a TLS handshake from {addr} timed out"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

/// The address a request came from, on a plain or a TLS listener (`ConnectInfo<ClientAddr>`).
#[derive(Clone, Copy, Debug)]
pub struct ClientAddr(pub SocketAddr);

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TcpListener>> for ClientAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TcpListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}

impl axum::extract::connect_info::Connected<axum::serve::IncomingStream<'_, TlsListener>> for ClientAddr {
    fn connect_info(stream: axum::serve::IncomingStream<'_, TlsListener>) -> Self {
        ClientAddr(*stream.remote_addr())
    }
}
