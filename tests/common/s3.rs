//! A real S3-compatible server for tests: `s3s-fs` (it checks request signatures), on a
//! free loopback port over a fresh folder, with one bucket, and the `[recordings]`
//! settings that point a node at it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::serve::free_port;

pub const ACCESS: &str = "hotline-test";
pub const SECRET: &str = "s3cret-for-tests-only";
pub const BUCKET: &str = "recordings";

/// The S3 server: `S3S_FS`, else `target/tools/bin/s3s-fs` (scripts/setup installs it
/// there), else one on PATH.
fn s3s_fs_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("S3S_FS") {
        return p.into();
    }
    let local = super::repo().join("target/tools/bin/s3s-fs");
    if local.is_file() {
        return local;
    }
    "s3s-fs".into()
}

/// A running `s3s-fs`; stopped when dropped.
pub struct S3 {
    child: Child,
    root: tempfile::TempDir,
    pub endpoint: String,
}

impl Drop for S3 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl S3 {
    pub fn start() -> S3 {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(root.path().join(BUCKET)).unwrap();
        let port = free_port();
        let child = Command::new(s3s_fs_bin())
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--access-key", ACCESS, "--secret-key", SECRET])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs runs (scripts/setup test installs it)");
        let until = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < until, "s3s-fs did not listen");
            std::thread::sleep(Duration::from_millis(100));
        }
        S3 {
            child,
            root,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Where the bucket's objects lie on disk, by key.
    pub fn bucket_dir(&self) -> PathBuf {
        self.root.path().join(BUCKET)
    }

    /// A node on database `pg` keeping recordings here, signing with `secret`.
    pub fn node_env(&self, pg: &str, secret: &str) -> Vec<(&'static str, String)> {
        vec![
            ("HOTLINE__DATABASE__URL", pg.to_string()),
            ("HOTLINE__RECORDINGS__STORE", "s3".into()),
            ("HOTLINE__RECORDINGS__BUCKET", BUCKET.into()),
            ("HOTLINE__RECORDINGS__ENDPOINT", self.endpoint.clone()),
            ("HOTLINE__RECORDINGS__ALLOW_HTTP", "true".into()),
            ("HOTLINE__RECORDINGS__ACCESS_KEY_ID", ACCESS.into()),
            ("HOTLINE__RECORDINGS__SECRET_ACCESS_KEY", secret.into()),
        ]
    }
}
