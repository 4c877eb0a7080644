//! The console over HTTPS (`[web] tls_cert`/`tls_key`), as browsers need for the softphone's
//! microphone: curl trusting only the test's certificate reads the login page and
//! `/healthz`; plain HTTP on that port gets no page.

mod common;

use std::process::Command;

use common::serve::Hotline;

/// A self-signed certificate for 127.0.0.1 (the openssl command line), as (cert, key).
fn certificate(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let (cert, key) = (dir.join("console.crt"), dir.join("console.key"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .expect("curl runs");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn the_console_is_served_over_https_with_the_configured_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = certificate(dir.path());
    let h = Hotline::start(&[
        ("HOTLINE__WEB__TLS_CERT", cert.display().to_string()),
        ("HOTLINE__WEB__TLS_KEY", key.display().to_string()),
    ]);
    let base = format!("https://127.0.0.1:{}", h.http_port);
    let ca = cert.display().to_string();
    let (ok, body) = curl(&["--cacert", &ca, &format!("{base}/healthz")]);
    assert!(ok && body.trim() == "ok", "{body}\n{}", h.log());
    let (ok, body) = curl(&["--cacert", &ca, &format!("{base}/login")]);
    assert!(
        ok && body.contains("<form"),
        "the login page over HTTPS: {body}"
    );
    let (ok, body) = curl(&[&format!("http://127.0.0.1:{}/healthz", h.http_port)]);
    assert!(
        !(ok && body.trim() == "ok"),
        "plain HTTP is not served: {body}"
    );
}
