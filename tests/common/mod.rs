//! Helpers shared by the integration tests: fresh databases on SQLite and on the real
//! PostgreSQL server (`HOTLINE_TEST_PG`, default `postgres://postgres@127.0.0.1:5432/test`),
//! free ports (`net`), the `hotline serve` binary driven by SIPp (`serve`), an in-process SIP
//! server with a SIPp runner (`sipp`), pcap captures for SIPp to replay (`pcap`), raw RTP
//! phones that talk and listen in tones (`rtp`), and the browser softphone in headless
//! Chromium with the callers that ring it (`softphone`).
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use hotline::store::Db;
use hotline::tickets::{Tickets, TicketsConfig};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// tests/browser, where the browser tests' scripts drive Debian's Chromium through
/// playwright-core (installed with `npm ci` on first use).
pub fn browser_dir() -> PathBuf {
    let dir = repo().join("tests/browser");
    assert!(
        Path::new("/usr/bin/chromium").exists(),
        "Debian package `chromium` is needed (apt-get install -y chromium)"
    );
    if !dir.join("node_modules/playwright-core").exists() {
        let ok = std::process::Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .status()
            .expect("npm is needed for the browser tests");
        assert!(ok.success(), "npm ci in tests/browser failed");
    }
    dir
}

/// The demo rules with paths made absolute, so tests may run from any directory.
pub fn tickets_config() -> TicketsConfig {
    let mut c = TicketsConfig::default();
    c.departments_file = repo().join(&c.departments_file);
    c.routing_file = repo().join(&c.routing_file);
    c.calendar_file = repo().join(&c.calendar_file);
    c
}

pub fn pg_admin_url() -> String {
    std::env::var("HOTLINE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// A new, empty PostgreSQL database for one test; its URL.
pub async fn fresh_pg() -> String {
    let admin = pg_admin_url();
    let name = format!("hotline_t_{}_{}", std::process::id(), rand::random::<u32>());
    let db = Db::open(&admin, 1).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is needed for this test (HOTLINE_TEST_PG={admin}): {e}")
    });
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(db.pool())
        .await
        .expect("create test database");
    db.close().await;
    let base = admin
        .rsplit_once('/')
        .map(|(b, _)| b.to_string())
        .unwrap_or(admin);
    format!("{base}/{name}")
}

/// A new SQLite database file in a fresh temporary directory (kept alive by the guard).
pub fn fresh_sqlite() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("hotline.db").display());
    (dir, url)
}

pub async fn tickets_at(url: &str) -> Tickets {
    let db = Db::connect_url(url).await.expect("connect and migrate");
    Tickets::from_config(db, &tickets_config()).expect("demo rules load")
}

pub fn hotline_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_hotline"))
}

pub fn exists(p: &Path) -> bool {
    p.exists()
}

pub mod agents;
pub mod attack;
pub mod calls;
pub mod kamailio;
pub mod net;
pub mod pcap;
pub mod rtp;
pub mod s3;
pub mod serve;
pub mod sipp;
pub mod softphone;

#[allow(unused_imports)] // not every test binary takes a port
pub use net::free_port;
