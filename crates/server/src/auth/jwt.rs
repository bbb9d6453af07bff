//! JSON Web Tokens signed with RS256 or ES256 by a key of a JWKS file: the token's `kid`
//! chooses the key, the signature is checked with `ring`, then `exp` and `nbf`. What the token
//! grants is read from Temporal's `permissions` claim (`"<namespace>:<role>"`, with
//! `temporal-system` for the whole server).

use std::collections::HashMap;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::Value as Json;

use super::roles::{Claims, Role};

/// The namespace name Temporal's claims use for the whole server.
const SYSTEM_SCOPE: &str = "temporal-system";

/// A public key of the JWKS file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PublicKey {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// An uncompressed P-256 point (0x04 ‖ x ‖ y).
    P256(Vec<u8>),
}

/// The keys tokens may be signed with, by key id.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, PublicKey>,
}

/// Why a token was refused (logged; the caller sees only UNAUTHENTICATED).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token is not three base64url parts")]
    Malformed,
    #[error("the token names no key id, or one the key set does not have")]
    UnknownKey,
    #[error("algorithm {0} is not RS256 or ES256, or does not match its key")]
    Algorithm(String),
    #[error("the signature does not verify")]
    Signature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token has no string `sub` claim")]
    Subject,
}

fn field(key: &Json, name: &str) -> Result<Vec<u8>, String> {
    let text = key[name]
        .as_str()
        .ok_or_else(|| format!("a key has no \"{name}\""))?;
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|e| format!("key field \"{name}\": {e}"))
}

fn public_key(key: &Json) -> Result<PublicKey, String> {
    match (key["kty"].as_str(), key["crv"].as_str()) {
        (Some("RSA"), _) => Ok(PublicKey::Rsa {
            n: field(key, "n")?,
            e: field(key, "e")?,
        }),
        (Some("EC"), Some("P-256")) => {
            let mut point = vec![4];
            point.extend(field(key, "x")?);
            point.extend(field(key, "y")?);
            Ok(PublicKey::P256(point))
        }
        (kty, crv) => Err(format!("unsupported key type {kty:?} (curve {crv:?})")),
    }
}

impl KeySet {
    /// Reads a JWKS file (`{"keys": [...]}`, RSA and P-256 keys with a `kid`).
    pub fn load(path: &Path) -> Result<KeySet, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Self::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<KeySet, String> {
        let document: Json = serde_json::from_str(text).map_err(|e| e.to_string())?;
        let entries = document["keys"]
            .as_array()
            .ok_or("no \"keys\" array (a JWKS document)")?;
        let mut keys = HashMap::new();
        for entry in entries {
            let kid = entry["kid"].as_str().ok_or("a key has no \"kid\"")?;
            keys.insert(kid.to_string(), public_key(entry)?);
        }
        if keys.is_empty() {
            return Err("the key set is empty".into());
        }
        Ok(KeySet { keys })
    }

    /// Verifies `token` at `now_seconds` and returns what its claims grant.
    pub fn verify(&self, token: &str, now_seconds: i64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| TokenError::Malformed)
        };
        let header_json: Json =
            serde_json::from_slice(&decode(header)?).map_err(|_| TokenError::Malformed)?;
        let key = header_json["kid"]
            .as_str()
            .and_then(|kid| self.keys.get(kid))
            .ok_or(TokenError::UnknownKey)?;
        let algorithm = header_json["alg"].as_str().unwrap_or_default();
        let signed = &token[..header.len() + 1 + payload.len()];
        check_signature(key, algorithm, signed.as_bytes(), &decode(signature)?)?;
        let claims: Json =
            serde_json::from_slice(&decode(payload)?).map_err(|_| TokenError::Malformed)?;
        check_times(&claims, now_seconds)?;
        let subject = claims["sub"].as_str().ok_or(TokenError::Subject)?;
        Ok(permissions_of(subject, &claims["permissions"]))
    }
}

fn check_signature(
    key: &PublicKey,
    algorithm: &str,
    signed: &[u8],
    signature: &[u8],
) -> Result<(), TokenError> {
    let verified = match (key, algorithm) {
        (PublicKey::Rsa { n, e }, "RS256") => RsaPublicKeyComponents { n, e }
            .verify(&signature::RSA_PKCS1_2048_8192_SHA256, signed, signature)
            .is_ok(),
        (PublicKey::P256(point), "ES256") => {
            UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(signed, signature)
                .is_ok()
        }
        _ => return Err(TokenError::Algorithm(algorithm.to_string())),
    };
    verified.then_some(()).ok_or(TokenError::Signature)
}

fn check_times(claims: &Json, now_seconds: i64) -> Result<(), TokenError> {
    if claims["exp"]
        .as_f64()
        .is_some_and(|exp| exp <= now_seconds as f64)
    {
        return Err(TokenError::Expired);
    }
    if claims["nbf"]
        .as_f64()
        .is_some_and(|nbf| nbf > now_seconds as f64)
    {
        return Err(TokenError::NotYetValid);
    }
    Ok(())
}

/// The roles `permissions` grants; entries that are not `"<namespace>:<role>"` are ignored,
/// as Temporal ignores them.
pub(super) fn permissions_of(subject: &str, permissions: &Json) -> Claims {
    let mut claims = Claims {
        subject: subject.to_string(),
        ..Default::default()
    };
    for permission in permissions.as_array().into_iter().flatten() {
        let Some((namespace, role)) = permission.as_str().and_then(|p| p.split_once(':')) else {
            continue;
        };
        let role = Role::named(role);
        if namespace == SYSTEM_SCOPE {
            claims.system |= role;
        } else {
            *claims.namespaces.entry(namespace.to_string()).or_default() |= role;
        }
    }
    claims
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};

    use super::*;

    /// A P-256 key, its JWKS (kid `k1`), and a signer of tokens with given claims.
    fn key_set() -> (KeySet, impl Fn(&str, Json) -> String) {
        let random = SystemRandom::new();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &random).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &random)
                .unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let jwks = serde_json::json!({"keys": [{
            "kty": "EC", "crv": "P-256", "kid": "k1",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..]),
        }]});
        let keys = KeySet::parse(&jwks.to_string()).unwrap();
        let sign = move |kid: &str, claims: Json| {
            let header = serde_json::json!({"alg": "ES256", "kid": kid});
            let signed = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let signature = pair.sign(&SystemRandom::new(), signed.as_bytes()).unwrap();
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
        };
        (keys, sign)
    }

    #[test]
    fn a_good_token_grants_its_permissions() {
        let (keys, sign) = key_set();
        let claims = serde_json::json!({
            "sub": "alice", "exp": 2000, "nbf": 1000,
            "permissions": ["orders:read", "orders:write", "temporal-system:admin", "nonsense"],
        });
        let granted = keys.verify(&sign("k1", claims), 1500).unwrap();
        assert_eq!(granted.subject, "alice");
        assert_eq!(granted.system, Role::ADMIN);
        let mut both = Role::READER;
        both |= Role::WRITER;
        assert_eq!(granted.namespaces.get("orders"), Some(&both));
    }

    #[test]
    fn bad_tokens_are_refused() {
        let (keys, sign) = key_set();
        let claims = serde_json::json!({"sub": "alice", "exp": 2000, "nbf": 1000});
        let token = sign("k1", claims.clone());
        assert_eq!(keys.verify(&token, 2000), Err(TokenError::Expired));
        assert_eq!(keys.verify(&token, 999), Err(TokenError::NotYetValid));
        assert_eq!(
            keys.verify(&sign("k2", claims.clone()), 1500),
            Err(TokenError::UnknownKey)
        );
        let mut parts: Vec<&str> = token.split('.').collect();
        let other = URL_SAFE_NO_PAD.encode(r#"{"sub":"mallory","exp":2000}"#);
        parts[1] = &other;
        assert_eq!(
            keys.verify(&parts.join("."), 1500),
            Err(TokenError::Signature)
        );
        assert_eq!(keys.verify("not a token", 1500), Err(TokenError::Malformed));
        let no_subject = sign("k1", serde_json::json!({"exp": 2000}));
        assert_eq!(keys.verify(&no_subject, 1500), Err(TokenError::Subject));
    }
}
