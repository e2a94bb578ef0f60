//! A server's door: its users and their verifiers, TLS, the slow-down of repeated failures, and
//! the access log every server writes to.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use thiserror::Error;

use super::audit::AccessLog;
use super::scram::Verifier;
use super::{Grant, Scope};

/// A user as configured: what they may read, and the verifier of their password.
#[derive(Clone, Debug)]
pub struct User {
    pub grant: Grant,
    pub verifier: Verifier,
}

impl User {
    pub fn new(name: &str, scope: Scope, pii: bool, verifier: Verifier) -> User {
        User { grant: Grant { user: name.to_string(), scope, pii }, verifier }
    }
}

#[derive(Debug, Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate {path}: {reason}")]
    Certificate { path: String, reason: String },
    #[error("cannot read the TLS key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error(
        "the TLS certificate and key do not make a server identity ({0}): check that the key is the certificate's own"
    )]
    Identity(String),
}

/// Makes rustls use *ring* throughout the process (some dependencies also enable aws-lc, and
/// rustls then cannot choose by itself); the first call wins, later ones change nothing.
pub fn use_ring() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A server certificate chain and its key, as PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: std::path::PathBuf,
    pub key: std::path::PathBuf,
}

impl TlsFiles {
    /// The rustls configuration of a server with this identity (TLS 1.2 and 1.3, no client
    /// certificates).
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, TlsError> {
        let (certs, key) = self.read()?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Identity(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::Identity(e.to_string()))?;
        Ok(Arc::new(config))
    }

    /// The certificate chain and key, checked to be readable PEM.
    pub fn read(&self) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsError> {
        let path = |p: &Path| p.display().to_string();
        let certs = CertificateDer::pem_file_iter(&self.cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|e| TlsError::Certificate { path: path(&self.cert), reason: e.to_string() })?;
        if certs.is_empty() {
            let reason = "no PEM certificate in it".to_string();
            return Err(TlsError::Certificate { path: path(&self.cert), reason });
        }
        let key = PrivateKeyDer::from_pem_file(&self.key)
            .map_err(|e| TlsError::Key { path: path(&self.key), reason: e.to_string() })?;
        Ok((certs, key))
    }

    /// The PEM text of both files (for servers that take PEM, such as Flight's).
    pub fn pem(&self) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
        self.read()?;
        let read = |p: &Path| std::fs::read(p);
        let cert = read(&self.cert)
            .map_err(|e| TlsError::Certificate { path: self.cert.display().to_string(), reason: e.to_string() })?;
        let key = read(&self.key)
            .map_err(|e| TlsError::Key { path: self.key.display().to_string(), reason: e.to_string() })?;
        Ok((cert, key))
    }
}

/// Who may come in, and how: shared by every SQL server of a run.
#[derive(Debug)]
pub struct Gate {
    /// By name; none means no authentication (loopback only, every client reads everything).
    users: HashMap<String, User>,
    pub tls: Option<TlsFiles>,
    pub log: Arc<AccessLog>,
    throttle: Throttle,
    /// Keys the decoy verifiers of unknown users, so they cannot be told from known ones.
    decoy_key: [u8; 32],
}

impl Gate {
    pub fn new(users: Vec<User>, tls: Option<TlsFiles>, log: Arc<AccessLog>) -> Gate {
        let mut decoy_key = [0u8; 32];
        getrandom::fill(&mut decoy_key).expect("the system's random source");
        let users = users.into_iter().map(|u| (u.grant.user.clone(), u)).collect();
        Gate { users, tls, log, throttle: Throttle::default(), decoy_key }
    }

    /// Whether clients must sign in.
    pub fn authenticates(&self) -> bool {
        !self.users.is_empty()
    }

    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.get(name)
    }

    /// The grants sessions are built for: one per user, or one reading everything without users.
    pub fn grants(&self) -> Vec<Grant> {
        match self.authenticates() {
            true => self.users.values().map(|u| u.grant.clone()).collect(),
            false => vec![Grant::everything(OPEN_SESSION)],
        }
    }

    /// The verifier to check `name`'s proof against: theirs, or for an unknown name one that no
    /// password matches, with a salt that stays the same for that name.
    pub fn verifier(&self, name: &str) -> Verifier {
        match self.users.get(name) {
            Some(user) => user.verifier.clone(),
            None => Verifier::decoy(&self.decoy_key, name),
        }
    }

    /// Checks a password given in the clear (Flight's basic auth): the user's grant if it matches.
    pub fn check_password(&self, name: &str, password: &str) -> Option<&Grant> {
        let user = self.users.get(name)?;
        user.verifier.matches(password).then_some(&user.grant)
    }

    /// How long to wait before answering a login from `client`, after its recent failures.
    pub fn delay(&self, client: IpAddr) -> Duration {
        self.throttle.delay(client, Instant::now())
    }

    pub fn failed(&self, client: IpAddr) {
        self.throttle.failed(client, Instant::now());
    }

    pub fn succeeded(&self, client: IpAddr) {
        self.throttle.succeeded(client);
    }
}

/// The user a session without authentication is filed under.
pub const OPEN_SESSION: &str = "";

/// Recent failed logins per client address; after [`FREE_FAILURES`] within [`FAILURE_WINDOW`],
/// each login from that address waits twice as long as the one before, up to [`MAX_DELAY`].
#[derive(Debug, Default)]
pub struct Throttle {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

pub const FREE_FAILURES: u32 = 3;
pub const FAILURE_WINDOW: Duration = Duration::from_secs(300);
pub const MAX_DELAY: Duration = Duration::from_secs(8);

impl Throttle {
    pub fn delay(&self, client: IpAddr, now: Instant) -> Duration {
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        match failures.get(&client) {
            Some((count, last)) if *count > FREE_FAILURES && now.duration_since(*last) < FAILURE_WINDOW => {
                let doublings = (count - FREE_FAILURES - 1).min(16);
                (Duration::from_millis(250) * 2u32.pow(doublings)).min(MAX_DELAY)
            }
            _ => Duration::ZERO,
        }
    }

    pub fn failed(&self, client: IpAddr, now: Instant) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let entry = failures.entry(client).or_insert((0, now));
        if now.duration_since(entry.1) >= FAILURE_WINDOW {
            entry.0 = 0;
        }
        *entry = (entry.0 + 1, now);
    }

    pub fn succeeded(&self, client: IpAddr) {
        self.failures.lock().unwrap_or_else(|e| e.into_inner()).remove(&client);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_failures_slow_that_client_down_and_a_success_forgives() {
        let throttle = Throttle::default();
        let (client, other) = ("10.0.0.7".parse().unwrap(), "10.0.0.8".parse().unwrap());
        let start = Instant::now();
        let delays: Vec<Duration> = (0..8)
            .map(|_| {
                throttle.failed(client, start);
                throttle.delay(client, start)
            })
            .collect();
        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [0, 0, 0, 250, 500, 1000, 2000, 4000]);
        assert_eq!(throttle.delay(other, start), Duration::ZERO);
        assert_eq!(throttle.delay(client, start + FAILURE_WINDOW), Duration::ZERO, "forgotten after the window");
        throttle.succeeded(client);
        assert_eq!(throttle.delay(client, start), Duration::ZERO);
        for _ in 0..30 {
            throttle.failed(client, start);
        }
        assert_eq!(throttle.delay(client, start), MAX_DELAY);
    }

    #[test]
    fn an_unknown_user_gets_a_stable_verifier_no_password_matches() {
        let gate = Gate::new(Vec::new(), None, Arc::default());
        let decoy = gate.verifier("mallory");
        assert_eq!(decoy, gate.verifier("mallory"));
        assert_ne!(decoy, gate.verifier("eve"));
        assert!(!decoy.matches(""));
        assert!(gate.check_password("mallory", "").is_none());
    }
}
