//! Writes Mozilla's root certificates (the `webpki-root-certs` crate) as one PEM bundle into
//! `OUT_DIR`, so the Lambda functions' TLS trust is compiled in (see `src/tls.rs`).

use std::fmt::Write as _;

use base64::Engine as _;

fn main() {
    let mut pem = String::new();
    for cert in webpki_root_certs::TLS_SERVER_ROOT_CERTS {
        let b64 = base64::engine::general_purpose::STANDARD.encode(cert.as_ref());
        pem.push_str("-----BEGIN CERTIFICATE-----\n");
        for line in b64.as_bytes().chunks(64) {
            // Base64 is ASCII, so every chunk is valid UTF-8.
            let _ = writeln!(pem, "{}", std::str::from_utf8(line).unwrap_or_default());
        }
        pem.push_str("-----END CERTIFICATE-----\n");
    }
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("roots.pem"), pem).expect("OUT_DIR is writable");
    println!("cargo:rerun-if-changed=build.rs");
}
