//! SCRAM-SHA-256 (RFC 5802, RFC 7677) as Postgres speaks it: verifiers in Postgres's format, and
//! the server's side of the exchange.
//!
//! A verifier (`SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>`) lets the server check a
//! client's proof without holding the password or anything a client could log in with: the
//! stored key is a hash of the client key, which only the password gives.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use datafusion_postgres::pgwire::api::auth::sasl::scram::gen_salted_password;
use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;

/// The mechanism name.
pub const MECHANISM: &str = "SCRAM-SHA-256";
/// Iterations of a verifier made here (Postgres's default).
pub const ITERATIONS: u32 = 4096;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ScramError {
    #[error("not a SCRAM-SHA-256 verifier: expected SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>")]
    BadVerifier,
    #[error("malformed SCRAM message: {0}")]
    Malformed(&'static str),
    #[error("channel binding is not offered by this server")]
    ChannelBinding,
    #[error("wrong password")]
    WrongProof,
}

fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut mac = hmac::Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(message);
    mac.finalize().into_bytes().into()
}

/// What the server keeps of a password.
#[derive(Clone, PartialEq, Eq)]
pub struct Verifier {
    iterations: u32,
    salt: Vec<u8>,
    stored_key: [u8; 32],
    server_key: [u8; 32],
}

impl Verifier {
    /// The verifier of `password` with `salt`.
    pub fn new(password: &str, salt: &[u8], iterations: u32) -> Verifier {
        let salted = gen_salted_password(password, salt, iterations as usize);
        let client_key = hmac(&salted, b"Client Key");
        Verifier {
            iterations,
            salt: salt.to_vec(),
            stored_key: Sha256::digest(client_key).into(),
            server_key: hmac(&salted, b"Server Key"),
        }
    }

    /// A verifier no password matches, with a salt derived from `name` under `key`: what an
    /// unknown user's exchange runs against, so that it looks like a known user's.
    pub fn decoy(key: &[u8], name: &str) -> Verifier {
        let salt = hmac(key, name.as_bytes());
        Verifier {
            iterations: ITERATIONS,
            salt: salt[..16].to_vec(),
            stored_key: hmac(key, b"no client key hashes to this"),
            server_key: hmac(key, b"server key"),
        }
    }

    /// Whether `password` is the one this verifier was made from.
    pub fn matches(&self, password: &str) -> bool {
        let candidate = Verifier::new(password, &self.salt, self.iterations);
        bool::from(candidate.stored_key.ct_eq(&self.stored_key))
    }

    /// The verifier of `password` with a fresh random salt.
    pub fn generate(password: &str) -> Verifier {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).expect("the system's random source");
        Verifier::new(password, &salt, ITERATIONS)
    }
}

/// Never the keys: a verifier in a log or a debug print says only what it is.
impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Verifier({MECHANISM}, {} iterations)", self.iterations)
    }
}

impl fmt::Display for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{MECHANISM}${}:{}${}:{}",
            self.iterations,
            BASE64.encode(&self.salt),
            BASE64.encode(self.stored_key),
            BASE64.encode(self.server_key)
        )
    }
}

impl FromStr for Verifier {
    type Err = ScramError;

    fn from_str(text: &str) -> Result<Verifier, ScramError> {
        let parse = || -> Option<Verifier> {
            let rest = text.strip_prefix(MECHANISM)?.strip_prefix('$')?;
            let (head, keys) = rest.split_once('$')?;
            let (iterations, salt) = head.split_once(':')?;
            let (stored, server) = keys.split_once(':')?;
            Some(Verifier {
                iterations: iterations.parse().ok().filter(|i| *i > 0)?,
                salt: BASE64.decode(salt).ok()?,
                stored_key: BASE64.decode(stored).ok()?.try_into().ok()?,
                server_key: BASE64.decode(server).ok()?.try_into().ok()?,
            })
        };
        parse().ok_or(ScramError::BadVerifier)
    }
}

/// An exchange after the server's first message, waiting for the client's proof.
#[derive(Debug)]
pub struct Exchange {
    gs2_header: String,
    nonce: String,
    client_first_bare: String,
    server_first: String,
}

/// Reads the client's first message and answers it with a fresh server nonce and `verifier`'s
/// salt and iterations.
pub fn begin(verifier: &Verifier, client_first: &[u8]) -> Result<(Exchange, String), ScramError> {
    let mut random = [0u8; 18];
    getrandom::fill(&mut random).expect("the system's random source");
    begin_with_nonce(verifier, client_first, &BASE64.encode(random))
}

fn begin_with_nonce(
    verifier: &Verifier,
    client_first: &[u8],
    server_nonce: &str,
) -> Result<(Exchange, String), ScramError> {
    let message = std::str::from_utf8(client_first).map_err(|_| ScramError::Malformed("not UTF-8"))?;
    // gs2-header: a channel-binding flag, an authorization identity, then the bare message.
    let mut parts = message.splitn(3, ',');
    let (Some(flag), Some(authzid), Some(bare)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(ScramError::Malformed("client-first-message"));
    };
    if flag.starts_with("p=") {
        return Err(ScramError::ChannelBinding);
    }
    if flag != "n" && flag != "y" {
        return Err(ScramError::Malformed("gs2 channel-binding flag"));
    }
    let client_nonce = bare
        .split(',')
        .find_map(|attribute| attribute.strip_prefix("r="))
        .filter(|nonce| !nonce.is_empty())
        .ok_or(ScramError::Malformed("client nonce"))?;
    let nonce = format!("{client_nonce}{server_nonce}");
    let server_first = format!("r={nonce},s={},i={}", BASE64.encode(&verifier.salt), verifier.iterations);
    let exchange = Exchange {
        gs2_header: format!("{flag},{authzid},"),
        nonce,
        client_first_bare: bare.to_string(),
        server_first: server_first.clone(),
    };
    Ok((exchange, server_first))
}

impl Exchange {
    /// Checks the client's proof against `verifier`; the server's final message if it holds.
    pub fn finish(&self, verifier: &Verifier, client_final: &[u8]) -> Result<String, ScramError> {
        let message = std::str::from_utf8(client_final).map_err(|_| ScramError::Malformed("not UTF-8"))?;
        let (without_proof, proof) = message.rsplit_once(",p=").ok_or(ScramError::Malformed("client proof"))?;
        let attribute = |name: &str| without_proof.split(',').find_map(|a| a.strip_prefix(name));
        let binding = attribute("c=").and_then(|c| BASE64.decode(c).ok());
        if binding.as_deref() != Some(self.gs2_header.as_bytes()) {
            return Err(ScramError::Malformed("channel binding differs from the first message"));
        }
        if attribute("r=") != Some(self.nonce.as_str()) {
            return Err(ScramError::Malformed("nonce differs from the server's"));
        }
        let proof: [u8; 32] =
            BASE64.decode(proof).ok().and_then(|p| p.try_into().ok()).ok_or(ScramError::Malformed("client proof"))?;
        let auth_message = format!("{},{},{without_proof}", self.client_first_bare, self.server_first);
        let signature = hmac(&verifier.stored_key, auth_message.as_bytes());
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        let stored_key: [u8; 32] = Sha256::digest(&client_key).into();
        if !bool::from(stored_key.ct_eq(&verifier.stored_key)) {
            return Err(ScramError::WrongProof);
        }
        Ok(format!("v={}", BASE64.encode(hmac(&verifier.server_key, auth_message.as_bytes()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7677's example: user "user", password "pencil".
    const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    const SERVER_NONCE: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    const CLIENT_FINAL: &str =
        "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";

    fn rfc_verifier() -> Verifier {
        Verifier::new("pencil", &BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap(), 4096)
    }

    #[test]
    fn the_rfc_7677_exchange_succeeds() {
        let verifier = rfc_verifier();
        let (exchange, server_first) = begin_with_nonce(&verifier, CLIENT_FIRST.as_bytes(), SERVER_NONCE).unwrap();
        assert_eq!(
            server_first,
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
        );
        let server_final = exchange.finish(&verifier, CLIENT_FINAL.as_bytes()).unwrap();
        assert_eq!(server_final, "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
    }

    #[test]
    fn a_wrong_password_or_a_tampered_message_fails() {
        let wrong = Verifier::new("pencils", &BASE64.decode("W22ZaJ0SNY7soEsUEjb6gQ==").unwrap(), 4096);
        let (exchange, _) = begin_with_nonce(&wrong, CLIENT_FIRST.as_bytes(), SERVER_NONCE).unwrap();
        assert_eq!(exchange.finish(&wrong, CLIENT_FINAL.as_bytes()), Err(ScramError::WrongProof));
        let verifier = rfc_verifier();
        let (exchange, _) = begin_with_nonce(&verifier, CLIENT_FIRST.as_bytes(), "another").unwrap();
        assert!(matches!(exchange.finish(&verifier, CLIENT_FINAL.as_bytes()), Err(ScramError::Malformed(_))));
        let plus = "p=tls-server-end-point,,n=user,r=abc";
        assert_eq!(begin(&verifier, plus.as_bytes()).unwrap_err(), ScramError::ChannelBinding);
    }

    #[test]
    fn a_verifier_reads_back_as_written_and_never_prints_its_keys() {
        let verifier = rfc_verifier();
        let text = verifier.to_string();
        assert!(text.starts_with("SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$"), "{text}");
        assert_eq!(text.parse::<Verifier>().unwrap(), verifier);
        assert_eq!(format!("{verifier:?}"), "Verifier(SCRAM-SHA-256, 4096 iterations)");
        assert_eq!("SCRAM-SHA-256$4096:abc".parse::<Verifier>(), Err(ScramError::BadVerifier));
        assert_ne!(Verifier::generate("pencil"), Verifier::generate("pencil"), "a fresh salt each time");
    }
}
