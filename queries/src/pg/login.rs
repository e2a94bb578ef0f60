//! Signing a Postgres client in: TLS when the server has a certificate, SCRAM-SHA-256 when it
//! has users, Postgres's refusals (28000, 28P01) otherwise, every refusal in the access log and
//! repeated failures from one address slowed down.

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use datafusion_postgres::pgwire::api::auth::{
    StartupHandler, finish_authentication, protocol_negotiation, save_startup_parameters_to_metadata,
};
use datafusion_postgres::pgwire::api::{
    ClientInfo, ConnectionManager, METADATA_USER, PgWireConnectionState, PidSecretKeyGenerator,
    RandomPidSecretKeyGenerator,
};
use datafusion_postgres::pgwire::error::{ErrorInfo, PgWireError, PgWireResult};
use datafusion_postgres::pgwire::messages::startup::Authentication;
use datafusion_postgres::pgwire::messages::{PgWireBackendMessage, PgWireFrontendMessage};
use futures::{Sink, SinkExt};
use tokio::sync::Mutex;

use super::ServerParameters;
use crate::access::audit::{Caller, refused_login};
use crate::access::scram::{self, Exchange, MECHANISM, Verifier};
use crate::access::{Gate, gate::OPEN_SESSION};

/// Where one connection's sign-in stands.
enum Login {
    Start,
    /// SCRAM offered; waiting for the client's first message.
    Offered,
    /// Server nonce and salt sent; waiting for the proof.
    Challenged {
        exchange: Exchange,
        verifier: Verifier,
    },
}

/// One connection's start-up.
pub struct Startup {
    gate: Arc<Gate>,
    connections: Arc<ConnectionManager>,
    pids: Arc<RandomPidSecretKeyGenerator>,
    login: Mutex<Login>,
}

impl Startup {
    pub fn new(gate: Arc<Gate>, connections: Arc<ConnectionManager>, pids: Arc<RandomPidSecretKeyGenerator>) -> Self {
        Startup { gate, connections, pids, login: Mutex::new(Login::Start) }
    }

    /// Lets the client in: registers it for cancel requests and sends Postgres's parameters.
    async fn admit<C>(&self, client: &mut C) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let (pid, secret) = self.pids.generate(client);
        client.set_pid_and_secret_key(pid, secret.clone());
        let (handle, guard) = self.connections.register(pid, secret);
        client.session_extensions().insert(handle);
        client.session_extensions().insert(guard);
        finish_authentication(client, &ServerParameters).await
    }

    /// Refuses the client with Postgres's `code` and `message`, and logs it.
    fn refuse<C: ClientInfo>(&self, client: &C, code: &str, message: String) -> PgWireError {
        refused_login(&self.gate.log, &caller(client), &message);
        PgWireError::UserError(Box::new(ErrorInfo::new("FATAL".into(), code.into(), message)))
    }
}

/// The client as the access log names it.
pub fn caller<C: ClientInfo + ?Sized>(client: &C) -> Caller {
    Caller { user: user(client).to_string(), surface: "postgres", client: client.socket_addr().to_string() }
}

fn user<C: ClientInfo + ?Sized>(client: &C) -> &str {
    client.metadata().get(METADATA_USER).map_or(OPEN_SESSION, String::as_str)
}

#[async_trait]
impl StartupHandler for Startup {
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut login = self.login.lock().await;
        match message {
            PgWireFrontendMessage::Startup(startup) => {
                protocol_negotiation(client, &startup).await?;
                save_startup_parameters_to_metadata(client, &startup);
                if self.gate.tls.is_some() && !client.is_secure() {
                    let message = "this tillflow server accepts TLS connections only: connect with sslmode=verify-full (or require)";
                    return Err(self.refuse(client, "28000", message.to_string()));
                }
                if !self.gate.authenticates() {
                    return self.admit(client).await;
                }
                let delay = self.gate.delay(client.socket_addr().ip());
                if !delay.is_zero() {
                    tokio::time::sleep(delay).await;
                }
                client.set_state(PgWireConnectionState::AuthenticationInProgress);
                client.send(PgWireBackendMessage::Authentication(Authentication::SASL(vec![MECHANISM.into()]))).await?;
                *login = Login::Offered;
                Ok(())
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                match std::mem::replace(&mut *login, Login::Start) {
                    Login::Offered => {
                        let initial = message.into_sasl_initial_response()?;
                        if initial.auth_method != MECHANISM {
                            let text = format!("{} is not offered: use {MECHANISM}", initial.auth_method);
                            return Err(self.refuse(client, "28000", text));
                        }
                        let verifier = self.gate.verifier(user(client));
                        let data = initial.data.unwrap_or_default();
                        let (exchange, server_first) =
                            scram::begin(&verifier, &data).map_err(|e| self.refuse(client, "08P01", e.to_string()))?;
                        let challenge = Authentication::SASLContinue(Bytes::from(server_first));
                        client.send(PgWireBackendMessage::Authentication(challenge)).await?;
                        *login = Login::Challenged { exchange, verifier };
                        Ok(())
                    }
                    Login::Challenged { exchange, verifier } => {
                        let response = message.into_sasl_response()?;
                        let known = self.gate.user(user(client)).is_some();
                        let ip = client.socket_addr().ip();
                        match exchange.finish(&verifier, &response.data) {
                            Ok(server_final) if known => {
                                self.gate.succeeded(ip);
                                let last = Authentication::SASLFinal(Bytes::from(server_final));
                                client.send(PgWireBackendMessage::Authentication(last)).await?;
                                self.admit(client).await
                            }
                            _ => {
                                self.gate.failed(ip);
                                let text = format!("password authentication failed for user \"{}\"", user(client));
                                Err(self.refuse(client, "28P01", text))
                            }
                        }
                    }
                    Login::Start => Err(PgWireError::InvalidSASLState),
                }
            }
            _ => Ok(()),
        }
    }
}
