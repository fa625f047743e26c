//! TLS client configuration (rustls with the ring provider) from PEM files.
//!
//! Layer: file reading and rustls setup; knows nothing about MQTT.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::{ClientConfig, RootCertStore};

use crate::config::TlsFiles;
use crate::error::LinkError;

fn tls_err(what: &str, e: impl std::fmt::Display) -> LinkError {
    LinkError::Tls(format!("{what}: {e}"))
}

/// Build the rustls client configuration: the broker's certificate must chain
/// to a CA in `ca_file`; the client certificate and key are presented when
/// configured.
pub fn client_config(files: &TlsFiles) -> Result<Arc<ClientConfig>, LinkError> {
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::pem_file_iter(&files.ca_file)
        .map_err(|e| tls_err(&format!("reading {}", files.ca_file.display()), e))?;
    for cert in ca {
        let cert = cert.map_err(|e| tls_err(&format!("parsing {}", files.ca_file.display()), e))?;
        roots
            .add(cert)
            .map_err(|e| tls_err(&format!("CA in {}", files.ca_file.display()), e))?;
    }
    if roots.is_empty() {
        return Err(LinkError::Tls(format!(
            "no CA certificate in {}",
            files.ca_file.display()
        )));
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("protocol versions", e))?
        .with_root_certificates(roots);
    let config = match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .map_err(|e| tls_err(&format!("reading {}", cert.display()), e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| tls_err(&format!("parsing {}", cert.display()), e))?;
            if chain.is_empty() {
                return Err(LinkError::Tls(format!(
                    "no certificate in {}",
                    cert.display()
                )));
            }
            let key = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| tls_err(&format!("key {}", key.display()), e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| tls_err("client certificate", e))?
        }
        (None, None) => builder.with_no_client_auth(),
        _ => return Err(LinkError::Tls("cert_file and key_file go together".into())),
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            ca_file: dir.path().join("nope.pem"),
            cert_file: None,
            key_file: None,
        };
        assert!(matches!(client_config(&files), Err(LinkError::Tls(_))));
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "not a pem\n").unwrap();
        let files = TlsFiles {
            ca_file: empty,
            cert_file: None,
            key_file: None,
        };
        let e = client_config(&files).unwrap_err().to_string();
        assert!(e.contains("no CA certificate"), "{e}");
    }
}
