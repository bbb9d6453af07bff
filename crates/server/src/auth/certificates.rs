//! Roles for client certificates (mutual TLS): a JSON file maps a certificate's subject common
//! name to Temporal-style permissions, `{"worker-7": ["orders:worker"], "ops":
//! ["temporal-system:admin"]}`, so a service that holds a certificate needs no token. Only
//! certificates the TLS layer verified against the client CA ever reach this.

use std::collections::HashMap;
use std::path::Path;

use rustls_pki_types::CertificateDer;
use x509_cert::der::Decode;
use x509_cert::der::asn1::{PrintableStringRef, Utf8StringRef};

use super::jwt::permissions_of;
use super::roles::Claims;

/// The OID of an X.509 common name (2.5.4.3).
const COMMON_NAME: x509_cert::der::asn1::ObjectIdentifier =
    x509_cert::der::asn1::ObjectIdentifier::new_unwrap("2.5.4.3");

/// Permissions by certificate common name.
#[derive(Debug, Clone, Default)]
pub struct CertificateRoles {
    by_name: HashMap<String, serde_json::Value>,
}

impl CertificateRoles {
    pub fn load(path: &Path) -> Result<CertificateRoles, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let by_name: HashMap<String, serde_json::Value> =
            serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        if by_name.values().any(|v| !v.is_array()) {
            return Err(format!(
                "{}: each name must map to a list of permissions",
                path.display()
            ));
        }
        Ok(CertificateRoles { by_name })
    }

    /// What the client certificate `leaf` grants (`None`: its name is not in the file).
    pub fn claims(&self, leaf: &CertificateDer<'_>) -> Option<Claims> {
        let name = common_name(leaf)?;
        let permissions = self.by_name.get(&name)?;
        Some(permissions_of(&format!("CN={name}"), permissions))
    }
}

/// The subject common name of a DER certificate.
fn common_name(der: &[u8]) -> Option<String> {
    let certificate = x509_cert::Certificate::from_der(der).ok()?;
    let subject = &certificate.tbs_certificate.subject;
    subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .find(|attribute| attribute.oid == COMMON_NAME)
        .and_then(|attribute| {
            let value = &attribute.value;
            value
                .decode_as::<Utf8StringRef<'_>>()
                .map(|s| s.as_str().to_string())
                .or_else(|_| {
                    value
                        .decode_as::<PrintableStringRef<'_>>()
                        .map(|s| s.as_str().to_string())
                })
                .ok()
        })
}
