//! Arrow Flight SQL over the live views: statements are planned by `GetFlightInfo` and run by
//! `DoGet`, whose ticket names the planned statement. With users, a client signs in with the
//! Flight handshake (basic auth) and sends the bearer token it gets back with every call; each
//! user's statements run on that user's scoped session ([`crate::access`]), read-only, and land
//! in the access log.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arrow::array::RecordBatch;
use arrow_flight::encode::FlightDataEncoderBuilder;
use arrow_flight::error::FlightError;
use arrow_flight::flight_service_server::FlightServiceServer;
use arrow_flight::sql::client::FlightSqlServiceClient;
use arrow_flight::sql::server::FlightSqlService;
use arrow_flight::sql::{CommandStatementQuery, ProstMessageExt, SqlInfo, TicketStatementQuery};
use arrow_flight::{FlightDescriptor, FlightEndpoint, FlightInfo, HandshakeRequest, HandshakeResponse, Ticket};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use datafusion::execution::context::SQLOptions;
use datafusion::prelude::{DataFrame, SessionContext};
use futures::{Stream, StreamExt, TryStreamExt};
use prost::Message;
use tonic::metadata::MetadataMap;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use tonic::{Request, Response, Status, Streaming};
use url::Url;

use crate::access::audit::{Audit, Caller, Outcome, refused_login, tables_named};
use crate::access::gate::OPEN_SESSION;
use crate::access::{Gate, Grant};
use crate::live::Hub;

/// Base64 with or without padding: Go's Flight client (ADBC's driver) sends basic auth unpadded.
const BASIC: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// How long a token from the handshake stays valid.
pub const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

/// Serves the live views of `hub` over Flight SQL on `addr` until the task is dropped.
pub async fn serve(hub: Arc<Hub>, root: Url, addr: SocketAddr, gate: Arc<Gate>) -> std::io::Result<()> {
    crate::access::gate::use_ring();
    let mut sessions = HashMap::new();
    for grant in gate.grants() {
        sessions.insert(grant.user.clone(), hub.session(&root, &grant).map_err(std::io::Error::other)?);
    }
    let mut server = tonic::transport::Server::builder();
    if let Some(files) = &gate.tls {
        let (cert, key) = files.pem().map_err(std::io::Error::other)?;
        let tls = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
        server = server.tls_config(tls).map_err(std::io::Error::other)?;
    }
    let service = FlightSql { sessions, gate, tokens: Mutex::default(), planned: Mutex::default() };
    server.add_service(FlightServiceServer::new(service)).serve(addr).await.map_err(std::io::Error::other)
}

struct FlightSql {
    /// By user; one open session without users.
    sessions: HashMap<String, SessionContext>,
    gate: Arc<Gate>,
    /// Tokens handed out by the handshake: their user and when they expire.
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    /// Statements planned by `GetFlightInfo`, by ticket number, until `DoGet` runs them: planned
    /// once, on the snapshot current when the client asked, for the user who asked.
    planned: Mutex<(u64, BTreeMap<u64, Planned>)>,
}

struct Planned {
    user: String,
    frame: DataFrame,
    audit: Audit,
}

/// Planned statements kept for a `DoGet`; older ones are dropped.
const PLANNED_KEPT: usize = 1024;

fn failed(e: impl std::fmt::Display) -> Status {
    Status::invalid_argument(e.to_string())
}

/// Statements that only read: no DDL, no DML, no `COPY`, no `SET`.
fn read_only() -> SQLOptions {
    SQLOptions::new().with_allow_ddl(false).with_allow_dml(false).with_allow_statements(false)
}

fn client_of<T>(request: &Request<T>) -> String {
    request.remote_addr().map_or_else(|| "unknown".to_string(), |a| a.to_string())
}

impl FlightSql {
    /// The caller of a request and their session: from the bearer token, or the open session.
    fn session(&self, metadata: &MetadataMap, client: String) -> Result<(Caller, &SessionContext), Status> {
        let user = match self.gate.authenticates() {
            false => OPEN_SESSION.to_string(),
            true => {
                let header = metadata.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
                let Some(token) = header.strip_prefix("Bearer ") else {
                    return Err(Status::unauthenticated("sign in first: the Flight handshake with basic auth"));
                };
                let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
                match tokens.get(token) {
                    Some((user, expires)) if *expires > Instant::now() => user.clone(),
                    Some(_) => {
                        tokens.remove(token);
                        return Err(Status::unauthenticated("the token has expired: sign in again (Flight handshake)"));
                    }
                    None => return Err(Status::unauthenticated("unknown token: sign in again (Flight handshake)")),
                }
            }
        };
        let session = self.sessions.get(&user).ok_or_else(|| Status::unauthenticated("no such user"))?;
        Ok((Caller { user, surface: "flight", client }, session))
    }

    /// Checks basic-auth credentials: the user's grant if they hold, else the user name given
    /// (empty if none could be read) and why they were refused.
    fn sign_in(&self, metadata: &MetadataMap) -> Result<&Grant, (String, String)> {
        let header = metadata.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
        let refused = |user: &str, reason: String| (user.to_string(), reason);
        let credentials = header
            .strip_prefix("Basic ")
            .and_then(|b| BASIC.decode(b).ok())
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| refused("", "send basic auth (user name and password) in the handshake".into()))?;
        let (user, password) =
            credentials.split_once(':').ok_or_else(|| refused("", "basic auth is user:password".into()))?;
        self.gate
            .check_password(user, password)
            .ok_or_else(|| refused(user, format!("wrong user name or password for \"{user}\"")))
    }
}

type HandshakeStream = Pin<Box<dyn Stream<Item = Result<HandshakeResponse, Status>> + Send>>;

#[tonic::async_trait]
impl FlightSqlService for FlightSql {
    type FlightService = FlightSql;

    async fn do_handshake(
        &self,
        request: Request<Streaming<HandshakeRequest>>,
    ) -> Result<Response<HandshakeStream>, Status> {
        let client = client_of(&request);
        let ip = request.remote_addr().map(|a| a.ip());
        if let Some(ip) = ip {
            let delay = self.gate.delay(ip);
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
        let grant = match self.sign_in(request.metadata()) {
            Ok(grant) => grant.clone(),
            Err((user, reason)) => {
                if let Some(ip) = ip {
                    self.gate.failed(ip);
                }
                refused_login(&self.gate.log, &Caller { user, surface: "flight", client }, &reason);
                return Err(Status::unauthenticated(reason));
            }
        };
        if let Some(ip) = ip {
            self.gate.succeeded(ip);
        }
        let mut random = [0u8; 32];
        getrandom::fill(&mut random).map_err(|e| Status::internal(e.to_string()))?;
        let token = BASE64.encode(random);
        {
            let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
            let now = Instant::now();
            tokens.retain(|_, (_, expires)| *expires > now);
            tokens.insert(token.clone(), (grant.user, now + TOKEN_LIFETIME));
        }
        let answer = HandshakeResponse { protocol_version: 0, payload: token.clone().into() };
        let stream: HandshakeStream = Box::pin(futures::stream::iter([Ok(answer)]));
        let mut response = Response::new(stream);
        let header = format!("Bearer {token}").parse().map_err(|_| Status::internal("token header"))?;
        response.metadata_mut().insert("authorization", header);
        Ok(response)
    }

    async fn get_flight_info_statement(
        &self,
        query: CommandStatementQuery,
        request: Request<FlightDescriptor>,
    ) -> Result<Response<FlightInfo>, Status> {
        let (caller, ctx) = self.session(request.metadata(), client_of(&request))?;
        let mut audit = Audit::begin(&self.gate.log, &caller, &query.query, &tables_named(&query.query));
        let frame = match ctx.sql_with_options(&query.query, read_only()).await {
            Ok(frame) => frame,
            Err(e) if e.to_string().contains("not supported") => {
                audit.end(Outcome::Refused);
                let refusal = format!("cannot execute this statement: tillflow's views are read-only ({e})");
                return Err(Status::permission_denied(refusal));
            }
            Err(e) => {
                audit.end(Outcome::Error);
                return Err(failed(e));
            }
        };
        let schema = frame.schema().as_arrow().clone();
        let number = {
            let mut planned = self.planned.lock().unwrap_or_else(|e| e.into_inner());
            let (next, frames) = &mut *planned;
            *next += 1;
            frames.insert(*next, Planned { user: caller.user, frame, audit });
            while frames.len() > PLANNED_KEPT {
                frames.pop_first();
            }
            *next
        };
        let ticket = TicketStatementQuery { statement_handle: number.to_be_bytes().to_vec().into() };
        let endpoint = FlightEndpoint::new().with_ticket(Ticket::new(ticket.as_any().encode_to_vec()));
        let info = FlightInfo::new()
            .try_with_schema(&schema)
            .map_err(failed)?
            .with_endpoint(endpoint)
            .with_descriptor(request.into_inner());
        Ok(Response::new(info))
    }

    async fn do_get_statement(
        &self,
        ticket: TicketStatementQuery,
        request: Request<Ticket>,
    ) -> Result<Response<<Self as arrow_flight::flight_service_server::FlightService>::DoGetStream>, Status> {
        let (caller, _) = self.session(request.metadata(), client_of(&request))?;
        let number = <[u8; 8]>::try_from(ticket.statement_handle.as_ref()).map(u64::from_be_bytes).map_err(failed)?;
        let planned = {
            let mut planned = self.planned.lock().unwrap_or_else(|e| e.into_inner());
            match planned.1.get(&number) {
                Some(p) if p.user == caller.user => planned.1.remove(&number),
                _ => None,
            }
        };
        let Planned { frame, mut audit, .. } =
            planned.ok_or_else(|| Status::not_found("unknown or expired ticket: ask GetFlightInfo again"))?;
        let schema = frame.schema().as_arrow().clone().into();
        let batches = match frame.execute_stream().await {
            Ok(batches) => batches,
            Err(e) => {
                audit.end(Outcome::Error);
                return Err(failed(e));
            }
        };
        let batches = batches
            .inspect(move |batch| match batch {
                Ok(batch) => audit.sent_rows(batch.num_rows() as u64),
                Err(_) => audit.end(Outcome::Error),
            })
            .map_err(|e| FlightError::ExternalError(e.into()));
        let stream = FlightDataEncoderBuilder::new().with_schema(schema).build(batches).map_err(Status::from);
        let stream: Pin<Box<dyn Stream<Item = Result<arrow_flight::FlightData, Status>> + Send>> = Box::pin(stream);
        Ok(Response::new(stream))
    }

    async fn register_sql_info(&self, _id: i32, _result: &SqlInfo) {}
}

/// How `tillflow sql --connect` reaches a server: TLS trusting `ca` (PEM), and a user to sign in as.
#[derive(Clone, Debug, Default)]
pub struct Connect {
    pub ca: Option<Vec<u8>>,
    pub user: Option<(String, String)>,
}

/// Runs one statement on a Flight SQL server at `addr` (`host:port`) and collects its batches.
pub async fn query(addr: &str, sql: &str, connect: &Connect) -> Result<Vec<RecordBatch>, String> {
    crate::access::gate::use_ring();
    let scheme = if connect.ca.is_some() { "https" } else { "http" };
    let mut endpoint = tonic::transport::Endpoint::from_shared(format!("{scheme}://{addr}"))
        .map_err(|_| format!("`{addr}` is not a host:port address"))?;
    if let Some(ca) = &connect.ca {
        let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host).trim_matches(['[', ']']);
        let tls = tonic::transport::ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca)).domain_name(host);
        endpoint = endpoint.tls_config(tls).map_err(|e| format!("TLS: {e}"))?;
    }
    let channel = endpoint.connect().await.map_err(|e| {
        format!("no tillflow Flight SQL server answers at {addr} ({e}): start one with `tillflow run --follow --flight {addr}`")
    })?;
    let mut client = FlightSqlServiceClient::new(channel);
    if let Some((user, password)) = &connect.user {
        client.handshake(user, password).await.map_err(|e| server_said(e.to_string()))?;
    }
    let info = client.execute(sql.to_string(), None).await.map_err(|e| server_said(e.to_string()))?;
    let mut batches = Vec::new();
    for endpoint in info.endpoint {
        let Some(ticket) = endpoint.ticket else { continue };
        let stream = client.do_get(ticket).await.map_err(|e| server_said(e.to_string()))?;
        batches.extend(stream.try_collect::<Vec<_>>().await.map_err(|e| server_said(e.to_string()))?);
    }
    Ok(batches)
}

/// The server's message without the transport's wrapping.
fn server_said(error: String) -> String {
    if error.contains("FRAME_SIZE_ERROR") || error.contains("InvalidContentType") {
        return "the server speaks TLS and this client does not (or the other way round): pass --tls-ca".to_string();
    }
    let Some(at) = error.find("message: \"") else { return error };
    let message = &error[at + 10..];
    let end = message.find("\", details").or_else(|| message.rfind('"')).unwrap_or(message.len());
    message[..end].replace("\\\"", "\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::User;
    use crate::access::scram::Verifier;

    fn server() -> FlightSql {
        let user = User::new("s001", "store:S001".parse().unwrap(), false, Verifier::generate("s001-pass"));
        let gate = Arc::new(Gate::new(vec![user], None, Arc::default()));
        let sessions = HashMap::from([("s001".to_string(), SessionContext::new())]);
        FlightSql { sessions, gate, tokens: Mutex::default(), planned: Mutex::default() }
    }

    fn bearer(token: &str) -> MetadataMap {
        let mut metadata = MetadataMap::new();
        metadata.insert("authorization", format!("Bearer {token}").parse().unwrap());
        metadata
    }

    #[test]
    fn a_token_is_good_until_it_expires_and_only_then() {
        let server = server();
        let now = Instant::now();
        server.tokens.lock().unwrap().insert("fresh".into(), ("s001".into(), now + Duration::from_secs(60)));
        server.tokens.lock().unwrap().insert("stale".into(), ("s001".into(), now - Duration::from_secs(1)));
        let (caller, _) = server.session(&bearer("fresh"), "client".into()).unwrap();
        assert_eq!((caller.user.as_str(), caller.surface), ("s001", "flight"));
        let expired = server.session(&bearer("stale"), "client".into()).err().unwrap();
        assert_eq!(expired.code(), tonic::Code::Unauthenticated);
        assert!(expired.message().contains("expired"), "{}", expired.message());
        assert!(server.tokens.lock().unwrap().get("stale").is_none(), "an expired token is forgotten");
        let unknown = server.session(&bearer("guess"), "client".into()).err().unwrap();
        assert!(unknown.message().contains("unknown token"), "{}", unknown.message());
        let none = server.session(&MetadataMap::new(), "client".into()).err().unwrap();
        assert!(none.message().contains("handshake"), "{}", none.message());
    }

    #[test]
    fn basic_auth_signs_in_with_or_without_padding_and_nothing_else_does() {
        let server = server();
        let basic = |text: &str| {
            let mut metadata = MetadataMap::new();
            metadata.insert("authorization", format!("Basic {text}").parse().unwrap());
            metadata
        };
        let padded = BASE64.encode("s001:s001-pass");
        assert_eq!(server.sign_in(&basic(&padded)).unwrap().user, "s001");
        assert_eq!(server.sign_in(&basic(padded.trim_end_matches('='))).unwrap().user, "s001");
        let (user, wrong) = server.sign_in(&basic(&BASE64.encode("s001:nope"))).unwrap_err();
        assert_eq!(user, "s001", "the refusal names the user for the access log");
        assert!(wrong.contains("wrong user name or password"), "{wrong}");
        assert!(server.sign_in(&MetadataMap::new()).is_err());
    }
}
