//! TLS for the `LISTEN/NOTIFY` connection, from the same URL the pool's libpq connections
//! use, so it follows the same `sslmode`: `disable`; `allow` and `prefer` (TLS when the
//! server offers it, certificate not checked; `allow` tries TLS first, where libpq tries
//! plaintext first); `require` (TLS, certificate not checked, unless a root certificate is
//! given or `~/.postgresql/root.crt` exists: then the chain is, as libpq does);
//! `verify-ca` (TLS, chain checked against `sslrootcert`, `system` for the bundled web
//! roots); `verify-full` (chain and host name). Client certificates (`sslcert`, `sslkey`) are
//! refused at startup rather than ignored. tokio-postgres knows only `disable`, `prefer` and
//! `require` and refuses libpq's other parameters, so the URL is rewritten for it; the checks
//! are rustls's (ring, as the rest of the server links).

use std::sync::Arc;

use postgres_rustls::MakeTlsConnector;
use tokio_rustls::rustls::client::WebPkiServerVerifier;
use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{
    CryptoProvider, ring, verify_tls12_signature, verify_tls13_signature,
};
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{
    self, CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};

/// The parameters tokio-postgres accepts; libpq's others (`sslrootcert`, `sslcert`...) are
/// read here or dropped.
const PASSED: [&str; 19] = [
    "user",
    "password",
    "dbname",
    "options",
    "application_name",
    "sslmode",
    "sslnegotiation",
    "host",
    "hostaddr",
    "port",
    "connect_timeout",
    "tcp_user_timeout",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_retries",
    "target_session_attrs",
    "channel_binding",
    "load_balance_hosts",
];

/// The listener's `application_name` when the URL gives none.
pub const APPLICATION_NAME: &str = "agentry-bus";

/// How the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// Not at all (libpq's `allow`, `prefer`, `require`).
    Nothing,
    /// Its chain, against the root certificates (`verify-ca`).
    Chain,
    /// Its chain and that it names the host (`verify-full`).
    ChainAndName,
}

/// The listener's connection URL and TLS connector for the pool's `url`.
pub fn listener(url: &str) -> Result<(String, MakeTlsConnector), String> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut check = Check::Nothing;
    let mut root_cert: Option<String> = None;
    let mut passed: Vec<String> = Vec::new();
    for pair in query.split('&').filter(|pair| !pair.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslmode" => {
                let (mode, checked) = match value {
                    "disable" => ("disable", Check::Nothing),
                    "allow" | "prefer" => ("prefer", Check::Nothing),
                    "require" => ("require", Check::Nothing),
                    "verify-ca" => ("require", Check::Chain),
                    "verify-full" => ("require", Check::ChainAndName),
                    other => return Err(format!("sslmode `{other}` is not one libpq knows")),
                };
                check = checked;
                passed.push(format!("sslmode={mode}"));
            }
            "sslrootcert" => root_cert = Some(percent_decoded(value)),
            "sslcert" | "sslkey" | "sslpassword" => {
                return Err(format!(
                    "{key}: client certificates are not supported by the LISTEN/NOTIFY connection"
                ));
            }
            key if PASSED.contains(&key) => passed.push(pair.to_owned()),
            _ => {}
        }
    }
    // Named in `pg_stat_activity`, unless the URL names its connections itself.
    if !passed
        .iter()
        .any(|pair| pair.starts_with("application_name="))
    {
        passed.push(format!("application_name={APPLICATION_NAME}"));
    }
    let url = format!("{base}?{}", passed.join("&"));
    // libpq checks the chain under `require` too when a root certificate is at hand.
    if check == Check::Nothing
        && query.split('&').any(|pair| pair == "sslmode=require")
        && (root_cert.is_some() || default_root().is_some_and(|path| path.exists()))
    {
        check = Check::Chain;
    }
    let config = client_config(check, root_cert.as_deref())?;
    Ok((
        url,
        MakeTlsConnector::new(tokio_rustls::TlsConnector::from(Arc::new(config))),
    ))
}

/// `%XX` escapes decoded (a path in a URL query).
fn percent_decoded(value: &str) -> String {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while let Some(&byte) = bytes.get(at) {
        let escaped = (byte == b'%')
            .then(|| bytes.get(at.saturating_add(1)..at.saturating_add(3)))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(decoded) => {
                out.push(decoded);
                at = at.saturating_add(3);
            }
            None => {
                out.push(byte);
                at = at.saturating_add(1);
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The rustls configuration for `check`. The roots are `root_cert` (PEM), else libpq's
/// default `~/.postgresql/root.crt`; a checking mode without either fails, as libpq does.
pub fn client_config(check: Check, root_cert: Option<&str>) -> Result<ClientConfig, String> {
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| error.to_string())?;
    let verifier: Arc<dyn ServerCertVerifier> = match check {
        Check::Nothing => Arc::new(Unchecked(provider)),
        Check::Chain | Check::ChainAndName => {
            let mut roots = RootCertStore::empty();
            if root_cert == Some("system") {
                roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
            } else {
                let path = match root_cert {
                    Some(path) => std::path::PathBuf::from(path),
                    None => {
                        default_root().ok_or("sslmode verify-ca/verify-full needs sslrootcert")?
                    }
                };
                for cert in CertificateDer::pem_file_iter(&path)
                    .map_err(|error| format!("sslrootcert {}: {error}", path.display()))?
                {
                    let cert =
                        cert.map_err(|error| format!("sslrootcert {}: {error}", path.display()))?;
                    roots
                        .add(cert)
                        .map_err(|error| format!("sslrootcert {}: {error}", path.display()))?;
                }
            }
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|error| error.to_string())?;
            if check == Check::Chain {
                Arc::new(ChainOnly(webpki))
            } else {
                webpki
            }
        }
    };
    Ok(builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth())
}

/// libpq's default root certificate file, `~/.postgresql/root.crt`.
fn default_root() -> Option<std::path::PathBuf> {
    std::env::var_os("HOME").map(|home| std::path::Path::new(&home).join(".postgresql/root.crt"))
}

/// Accepts any certificate, as libpq's `require` does; the handshake's signatures are still
/// checked (the session is encrypted to whoever holds the certificate's key).
#[derive(Debug)]
struct Unchecked(Arc<CryptoProvider>);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Checks the chain but not the host name, as libpq's `verify-ca` does.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_parameters_are_rewritten_for_tokio_postgres() {
        let (url, _) = listener(
            "postgres://u:p@db:5432/app?sslmode=allow&application_name=a&sslcompression=0",
        )
        .unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(
            url,
            "postgres://u:p@db:5432/app?sslmode=prefer&application_name=a"
        );
        let (url, _) = listener("postgres://db/app").unwrap_or_else(|error| panic!("{error}"));
        assert_eq!(url, "postgres://db/app?application_name=agentry-bus");
        assert!(listener("postgres://db/app?sslmode=bogus").is_err());
        // Checking modes need roots; a missing file is an error, not an unchecked session.
        let missing = listener("postgres://db/app?sslmode=verify-full&sslrootcert=%2Fnowhere.crt");
        assert!(missing.is_err_and(|error| error.contains("/nowhere.crt")));
        // `require` with a root certificate checks the chain, as libpq: a missing file fails.
        let missing = listener("postgres://db/app?sslmode=require&sslrootcert=%2Fnowhere.crt");
        assert!(missing.is_err_and(|error| error.contains("/nowhere.crt")));
        assert!(listener("postgres://db/app?sslmode=verify-full&sslrootcert=system").is_ok());
        let client_cert = listener("postgres://db/app?sslmode=require&sslcert=%2Fc.crt");
        assert!(client_cert.is_err_and(|error| error.contains("client certificates")));
    }
}
