//! Recordings in object storage (`[recordings]`): where voice messages and operator-call
//! recordings live once they are finished, so that any node can transcribe or play what
//! another node recorded.
//!
//! Two stores. `local` (the default, one node): a recording is a file under the configured
//! folder and its reference is that file's absolute path, as it always was. `s3` (several
//! nodes): a recording is written to a local file while the call lasts, moved into the spool
//! folder when it ends, uploaded, and its reference is `object:<key>`. A spooled file stays
//! until its upload succeeds: the uploader ([`Recordings::run_uploads`]) retries with the
//! one [`Backoff`] and picks up what a crash left behind. References written before a switch
//! to `s3` (absolute paths) keep working on the node that holds the files.
//!
//! Keys are made only from what hotline makes (a folder name, a day, a call record's id or a
//! random name), never from caller input; a key read back from the database is checked
//! again before it names a file in the spool.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::aws::AmazonS3Builder;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, RetryConfig};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::lease::Backoff;

/// Which store keeps finished recordings.
#[derive(Debug, Clone, Copy, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// Files in a folder of this node (one node, the embedded setup).
    #[default]
    Local,
    /// Any S3-compatible store (MinIO, Ceph RGW, a cloud bucket), shared by every node.
    S3,
}

/// Section `[recordings]`.
#[derive(Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingsConfig {
    pub store: StoreKind,
    /// The bucket (s3), which must exist.
    pub bucket: String,
    /// The store's URL, e.g. `http://minio.internal:9000`; empty means AWS itself.
    pub endpoint: String,
    pub region: String,
    /// Credentials; empty ones are taken from `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`.
    /// Never logged.
    pub access_key_id: String,
    pub secret_access_key: String,
    /// Allows an `http://` endpoint (a store on a private network, tests).
    pub allow_http: bool,
    /// Put before every key (e.g. `hotline/`), so one bucket can serve several systems.
    pub prefix: String,
    /// Finished recordings wait here until uploaded; empty means `<data_dir>/spool`. Keep it
    /// on persistent disk: what is here is not yet anywhere else.
    pub spool_dir: PathBuf,
    /// First wait after a failed upload; doubles up to `retry_max_secs`.
    pub retry_secs: u64,
    pub retry_max_secs: u64,
}

impl Default for RecordingsConfig {
    fn default() -> Self {
        RecordingsConfig {
            store: StoreKind::Local,
            bucket: String::new(),
            endpoint: String::new(),
            region: "us-east-1".into(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            allow_http: false,
            prefix: String::new(),
            spool_dir: PathBuf::new(),
            retry_secs: 5,
            retry_max_secs: 300,
        }
    }
}

/// The secret stays out of logs and panics.
impl fmt::Debug for RecordingsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordingsConfig")
            .field("store", &self.store)
            .field("bucket", &self.bucket)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("allow_http", &self.allow_http)
            .field("prefix", &self.prefix)
            .field("spool_dir", &self.spool_dir)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ObjectsError {
    #[error("[recordings] store = \"s3\" needs {0}")]
    Missing(&'static str),
    #[error("[recordings] prefix `{0}` may hold only letters, digits, `-`, `_`, `.` and `/`")]
    BadPrefix(String),
    #[error("object storage {at}: {source}")]
    Store {
        at: String,
        source: object_store::Error,
    },
    #[error("object storage {at} refused hotline's credentials (check [recordings] access_key_id and secret_access_key): {source}")]
    Refused {
        at: String,
        source: object_store::Error,
    },
    #[error("recording {0} is not in the store (yet)")]
    NotFound(String),
    #[error("`{0}` is not a recording hotline made")]
    BadReference(String),
    #[error("recording {0} is in object storage, but this node keeps recordings locally ([recordings] store = \"local\")")]
    NoStore(String),
    #[error("recording file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
}

/// Which recordings: a folder of their own in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folder {
    /// Voice messages left in the voice menus.
    Messages,
    /// Conversations between a caller and an operator.
    Conversations,
}

impl Folder {
    fn name(self) -> &'static str {
        match self {
            Folder::Messages => "messages",
            Folder::Conversations => "conversations",
        }
    }
}

/// The name of one recording in the store, without the configured prefix:
/// `<folder>/<yyyymmdd>/<file>.wav`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// The key of `file` (a name hotline made) recorded on `day` (`yyyymmdd`).
    pub fn new(folder: Folder, day: &str, file: &str) -> Result<ObjectKey, ObjectsError> {
        ObjectKey::parse(&format!("{}/{day}/{file}", folder.name()))
    }

    /// Checks a key read back (from the database): three parts of safe characters, a known
    /// folder, a WAV file.
    pub fn parse(key: &str) -> Result<ObjectKey, ObjectsError> {
        let bad = || ObjectsError::BadReference(key.to_string());
        let parts: Vec<&str> = key.split('/').collect();
        let [folder, day, file] = parts.as_slice() else {
            return Err(bad());
        };
        if ![Folder::Messages, Folder::Conversations]
            .iter()
            .any(|f| f.name() == *folder)
        {
            return Err(bad());
        }
        if day.len() != 8 || !day.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let stem = file.strip_suffix(".wav").ok_or_else(bad)?;
        if stem.is_empty()
            || stem.starts_with('.')
            || !stem
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        {
            return Err(bad());
        }
        Ok(ObjectKey(key.to_string()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What a ticket or call record holds about its recording.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordingRef {
    /// A file on the node that recorded it (the local store, and every row from before).
    File(PathBuf),
    /// An object in the shared store.
    Object(ObjectKey),
}

const OBJECT: &str = "object:";

impl RecordingRef {
    pub fn parse(stored: &str) -> Result<RecordingRef, ObjectsError> {
        match stored.strip_prefix(OBJECT) {
            Some(key) => Ok(RecordingRef::Object(ObjectKey::parse(key)?)),
            None if Path::new(stored).is_absolute() => {
                Ok(RecordingRef::File(PathBuf::from(stored)))
            }
            None => Err(ObjectsError::BadReference(stored.to_string())),
        }
    }
}

impl fmt::Display for RecordingRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordingRef::File(p) => write!(f, "{}", p.display()),
            RecordingRef::Object(k) => write!(f, "{OBJECT}{}", k.0),
        }
    }
}

/// A recording readable as a local file for as long as this lives (a download is deleted
/// when it is dropped; on Unix a file already opened stays readable).
#[derive(Debug)]
pub enum LocalCopy {
    File(PathBuf),
    Download(tempfile::TempPath),
}

impl LocalCopy {
    pub fn path(&self) -> &Path {
        match self {
            LocalCopy::File(p) => p,
            LocalCopy::Download(t) => t,
        }
    }
}

/// The handle on where recordings are kept; cheap to clone.
#[derive(Clone, Default)]
pub struct Recordings {
    remote: Option<Arc<Remote>>,
}

struct Remote {
    store: Arc<dyn ObjectStore>,
    /// `bucket at endpoint`, for messages.
    at: String,
    prefix: String,
    spool: PathBuf,
    backoff: Backoff,
    /// Rung when an upload failed, so the uploader takes it up.
    wake: tokio::sync::Notify,
}

impl fmt::Debug for Recordings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.remote {
            None => write!(f, "Recordings(local)"),
            Some(r) => write!(f, "Recordings({})", r.at),
        }
    }
}

impl Recordings {
    /// Files in local folders, as the embedded single node keeps them.
    pub fn local() -> Recordings {
        Recordings { remote: None }
    }

    /// Opens the configured store; for `s3`, asks the store once so that a wrong endpoint,
    /// bucket or secret stops the start with a clear message.
    pub async fn connect(
        cfg: &RecordingsConfig,
        data_dir: &Path,
    ) -> Result<Recordings, ObjectsError> {
        if cfg.store == StoreKind::Local {
            return Ok(Recordings::local());
        }
        if cfg.bucket.trim().is_empty() {
            return Err(ObjectsError::Missing("a bucket"));
        }
        let prefix = normalise_prefix(&cfg.prefix)?;
        let mut b = AmazonS3Builder::from_env()
            .with_bucket_name(cfg.bucket.trim())
            .with_region(cfg.region.trim())
            .with_allow_http(cfg.allow_http)
            // Few quick retries inside one upload; the spool and its uploader do the rest.
            .with_retry(RetryConfig {
                max_retries: 2,
                retry_timeout: Duration::from_secs(10),
                ..RetryConfig::default()
            });
        if !cfg.endpoint.trim().is_empty() {
            b = b.with_endpoint(cfg.endpoint.trim());
        }
        if !cfg.access_key_id.is_empty() {
            b = b.with_access_key_id(&cfg.access_key_id);
        }
        if !cfg.secret_access_key.is_empty() {
            b = b.with_secret_access_key(&cfg.secret_access_key);
        }
        let at = if cfg.endpoint.trim().is_empty() {
            format!("bucket {}", cfg.bucket.trim())
        } else {
            format!("bucket {} at {}", cfg.bucket.trim(), cfg.endpoint.trim())
        };
        let store = b.build().map_err(|source| ObjectsError::Store {
            at: at.clone(),
            source,
        })?;
        let spool = if cfg.spool_dir.as_os_str().is_empty() {
            data_dir.join("spool")
        } else {
            cfg.spool_dir.clone()
        };
        std::fs::create_dir_all(&spool).map_err(|source| ObjectsError::Io {
            path: spool.display().to_string(),
            source,
        })?;
        let r = Recordings {
            remote: Some(Arc::new(Remote {
                store: Arc::new(store),
                at,
                prefix,
                spool,
                backoff: Backoff::new(
                    Duration::from_secs(cfg.retry_secs.max(1)),
                    Duration::from_secs(cfg.retry_max_secs.max(1)),
                ),
                wake: tokio::sync::Notify::new(),
            })),
        };
        r.check().await?;
        Ok(r)
    }

    /// Whether recordings go to a shared store.
    pub fn is_shared(&self) -> bool {
        self.remote.is_some()
    }

    /// Asks for an object that does not exist: "not found" proves the endpoint, the bucket
    /// and the credentials.
    async fn check(&self) -> Result<(), ObjectsError> {
        let Some(r) = &self.remote else { return Ok(()) };
        let probe = ObjectPath::from(format!("{}.hotline-check", r.prefix));
        match r.store.head(&probe).await {
            Ok(_) | Err(object_store::Error::NotFound { .. }) => {
                tracing::info!(store = %r.at, "recordings go to object storage");
                Ok(())
            }
            Err(
                source @ (object_store::Error::Unauthenticated { .. }
                | object_store::Error::PermissionDenied { .. }),
            ) => Err(ObjectsError::Refused {
                at: r.at.clone(),
                source,
            }),
            Err(source) if refused(&source) => Err(ObjectsError::Refused {
                at: r.at.clone(),
                source,
            }),
            Err(source) => Err(ObjectsError::Store {
                at: r.at.clone(),
                source,
            }),
        }
    }

    /// The folder a part records `folder`'s files into while they are being made: the
    /// configured one for the local store; for a shared store a working folder of the spool,
    /// which the uploader leaves alone (a file there is still growing).
    pub fn recording_dir(&self, folder: Folder, configured: &Path) -> PathBuf {
        match &self.remote {
            None => configured.to_path_buf(),
            Some(r) => r.spool.join(".recording").join(folder.name()),
        }
    }

    /// Keeps a finished recording and returns the reference to store with the ticket or call.
    /// Local: the file's absolute path. Shared: the file moves into the spool (durably) and
    /// is uploaded; when the upload fails the reference is returned all the same and the
    /// uploader retries, so the recording is never lost and the ticket never waits.
    pub async fn keep(&self, file: &Path, key: &ObjectKey) -> Result<String, ObjectsError> {
        let io = |source| ObjectsError::Io {
            path: file.display().to_string(),
            source,
        };
        let Some(r) = &self.remote else {
            let abs = std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf());
            return Ok(abs.display().to_string());
        };
        let spooled = r.spool.join(key.as_str());
        let (from, to) = (file.to_path_buf(), spooled.clone());
        tokio::task::spawn_blocking(move || spool_file(&from, &to))
            .await
            .map_err(|e| io(std::io::Error::other(e)))?
            .map_err(io)?;
        match r.upload(&spooled, key).await {
            Ok(()) => tracing::info!(key = key.as_str(), "recording uploaded"),
            Err(e) => {
                tracing::warn!(key = key.as_str(), error = %e, "recording not uploaded yet; it waits in the spool and is retried");
                r.wake.notify_one();
            }
        }
        Ok(RecordingRef::Object(key.clone()).to_string())
    }

    /// The recording behind a stored reference, as a local file: the file itself, a copy
    /// still waiting in this node's spool, or a download.
    pub async fn open(&self, stored: &str) -> Result<LocalCopy, ObjectsError> {
        match RecordingRef::parse(stored)? {
            RecordingRef::File(p) => {
                if p.is_file() {
                    Ok(LocalCopy::File(p))
                } else {
                    Err(ObjectsError::NotFound(stored.to_string()))
                }
            }
            RecordingRef::Object(key) => {
                let r = self
                    .remote
                    .as_ref()
                    .ok_or_else(|| ObjectsError::NoStore(stored.to_string()))?;
                let spooled = r.spool.join(key.as_str());
                if spooled.is_file() {
                    return Ok(LocalCopy::File(spooled));
                }
                r.download(&key).await
            }
        }
    }

    /// Deletes a recording; one already gone is fine.
    pub async fn delete(&self, stored: &str) -> Result<(), ObjectsError> {
        match RecordingRef::parse(stored)? {
            RecordingRef::File(p) => remove_file(&p),
            RecordingRef::Object(key) => {
                let r = self
                    .remote
                    .as_ref()
                    .ok_or_else(|| ObjectsError::NoStore(stored.to_string()))?;
                // Not uploaded yet: the uploader must not send it after the purge.
                remove_file(&r.spool.join(key.as_str()))?;
                match r.store.delete(&r.path(&key)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(source) => Err(ObjectsError::Store {
                        at: r.at.clone(),
                        source,
                    }),
                }
            }
        }
    }

    /// Uploads what waits in the spool (what failed, what a crash left) until shutdown: at
    /// once, when an upload fails, and every `retry_max_secs`; after a failed pass it waits
    /// as the backoff says.
    pub async fn run_uploads(self, shutdown: CancellationToken) {
        let Some(r) = self.remote else { return };
        let mut failures = 0u32;
        loop {
            let (sent, failed) = r.upload_spool().await;
            if sent + failed > 0 {
                tracing::info!(sent, failed, "spooled recordings uploaded");
            }
            let wait = if failed > 0 {
                failures += 1;
                r.backoff.delay(failures)
            } else {
                failures = 0;
                r.backoff.max
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
                // A new failure while all was well: retry after the first step, not later.
                _ = r.wake.notified(), if failures == 0 => {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(r.backoff.delay(1)) => {}
                    }
                }
            }
        }
    }
}

impl Remote {
    fn path(&self, key: &ObjectKey) -> ObjectPath {
        ObjectPath::from(format!("{}{}", self.prefix, key.as_str()))
    }

    /// Uploads one spooled file and removes it from the spool.
    async fn upload(&self, spooled: &Path, key: &ObjectKey) -> Result<(), ObjectsError> {
        let io = |source| ObjectsError::Io {
            path: spooled.display().to_string(),
            source,
        };
        let bytes = tokio::fs::read(spooled).await.map_err(io)?;
        self.store
            .put(&self.path(key), PutPayload::from(bytes))
            .await
            .map_err(|source| ObjectsError::Store {
                at: self.at.clone(),
                source,
            })?;
        remove_file(spooled)
    }

    async fn download(&self, key: &ObjectKey) -> Result<LocalCopy, ObjectsError> {
        let store_err = |source| match source {
            object_store::Error::NotFound { .. } => {
                ObjectsError::NotFound(RecordingRef::Object(key.clone()).to_string())
            }
            source => ObjectsError::Store {
                at: self.at.clone(),
                source,
            },
        };
        let bytes = self
            .store
            .get(&self.path(key))
            .await
            .map_err(store_err)?
            .bytes()
            .await
            .map_err(store_err)?;
        let tmp_dir = self.spool.join(".download");
        let io = |source| ObjectsError::Io {
            path: tmp_dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&tmp_dir).map_err(io)?;
        let tmp = tokio::task::spawn_blocking({
            let tmp_dir = tmp_dir.clone();
            move || -> std::io::Result<tempfile::TempPath> {
                use std::io::Write;
                let mut f = tempfile::Builder::new()
                    .suffix(".wav")
                    .tempfile_in(&tmp_dir)?;
                f.write_all(&bytes)?;
                f.flush()?;
                Ok(f.into_temp_path())
            }
        })
        .await
        .map_err(|e| io(std::io::Error::other(e)))?
        .map_err(io)?;
        Ok(LocalCopy::Download(tmp))
    }

    /// One pass over the spool: (uploaded, failed).
    async fn upload_spool(&self) -> (u32, u32) {
        let (mut sent, mut failed) = (0, 0);
        let spool = self.spool.clone();
        let found = tokio::task::spawn_blocking(move || spooled_keys(&spool))
            .await
            .unwrap_or_default();
        for key in found {
            match self.upload(&self.spool.join(key.as_str()), &key).await {
                Ok(()) => sent += 1,
                // Sent by `keep` or deleted by a purge meanwhile.
                Err(ObjectsError::Io { source, .. })
                    if source.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    failed += 1;
                    tracing::warn!(key = key.as_str(), error = %e, "spooled recording not uploaded; retried later");
                }
            }
        }
        (sent, failed)
    }
}

/// A `/`-separated prefix of safe characters, ending in `/` unless empty.
fn normalise_prefix(p: &str) -> Result<String, ObjectsError> {
    let p = p.trim().trim_matches('/');
    if p.is_empty() {
        return Ok(String::new());
    }
    let ok = p.split('/').all(|part| {
        !part.is_empty()
            && part != "."
            && part != ".."
            && part
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    });
    if !ok {
        return Err(ObjectsError::BadPrefix(p.to_string()));
    }
    Ok(format!("{p}/"))
}

/// S3 servers answer a wrong secret with 403 (`SignatureDoesNotMatch`,
/// `InvalidAccessKeyId`), which object_store may report as a generic error.
fn refused(e: &object_store::Error) -> bool {
    let s = e.to_string();
    [
        "403",
        "Forbidden",
        "SignatureDoesNotMatch",
        "InvalidAccessKeyId",
        "AccessDenied",
    ]
    .iter()
    .any(|m| s.contains(m))
}

/// Moves a finished recording into the spool, on disk before it is referenced.
fn spool_file(from: &Path, to: &Path) -> std::io::Result<()> {
    if let Some(dir) = to.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::File::open(from)?.sync_all()?;
    if std::fs::rename(from, to).is_err() {
        // Another file system: copy, then drop the original.
        std::fs::copy(from, to)?;
        std::fs::File::open(to)?.sync_all()?;
        std::fs::remove_file(from)?;
    }
    if let Some(dir) = to.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

fn remove_file(p: &Path) -> Result<(), ObjectsError> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(ObjectsError::Io {
            path: p.display().to_string(),
            source,
        }),
    }
}

/// The keys of the finished recordings in the spool (`<folder>/<day>/<file>.wav`).
fn spooled_keys(spool: &Path) -> Vec<ObjectKey> {
    let mut keys = Vec::new();
    for folder in [Folder::Messages, Folder::Conversations] {
        let Ok(days) = std::fs::read_dir(spool.join(folder.name())) else {
            continue;
        };
        for day in days.flatten() {
            let Ok(files) = std::fs::read_dir(day.path()) else {
                continue;
            };
            for f in files.flatten() {
                let key = format!(
                    "{}/{}/{}",
                    folder.name(),
                    day.file_name().to_string_lossy(),
                    f.file_name().to_string_lossy()
                );
                if let Ok(k) = ObjectKey::parse(&key) {
                    keys.push(k);
                }
            }
        }
    }
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_folder_day_and_a_wav_hotline_named() {
        let k = ObjectKey::new(Folder::Messages, "20261203", "42-1.wav").unwrap();
        assert_eq!(k.as_str(), "messages/20261203/42-1.wav");
        for bad in [
            "messages/20261203/../x.wav",
            "messages/2026120/x.wav",
            "messages/20261203/x.mp3",
            "messages/20261203/.wav",
            "messages/20261203/a b.wav",
            "other/20261203/x.wav",
            "messages/20261203/sub/x.wav",
            "/etc/passwd",
            "messages/20261203/%2e%2e.wav",
        ] {
            assert!(ObjectKey::parse(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn references_are_old_paths_or_object_keys() {
        assert_eq!(
            RecordingRef::parse("/var/lib/hotline/recordings/20261203/x-1.wav").unwrap(),
            RecordingRef::File("/var/lib/hotline/recordings/20261203/x-1.wav".into())
        );
        let r = RecordingRef::parse("object:conversations/20261203/101500-7-agent1.wav").unwrap();
        assert_eq!(
            r.to_string(),
            "object:conversations/20261203/101500-7-agent1.wav"
        );
        assert!(RecordingRef::parse("object:../../x.wav").is_err());
        assert!(RecordingRef::parse("relative/x.wav").is_err());
    }

    #[test]
    fn prefixes_are_normalised_or_refused() {
        assert_eq!(normalise_prefix("").unwrap(), "");
        assert_eq!(normalise_prefix("/hotline/").unwrap(), "hotline/");
        assert_eq!(normalise_prefix("a/b").unwrap(), "a/b/");
        assert!(normalise_prefix("a/../b").is_err());
        assert!(normalise_prefix("a b").is_err());
    }

    #[test]
    fn the_secret_is_not_in_debug_output() {
        let cfg = RecordingsConfig {
            secret_access_key: "very-secret-value".into(),
            ..RecordingsConfig::default()
        };
        assert!(!format!("{cfg:?}").contains("very-secret-value"));
    }

    #[test]
    fn config_reads_the_section() {
        let cfg: RecordingsConfig = toml::from_str(
            "store = \"s3\"\nbucket = \"rec\"\nendpoint = \"http://127.0.0.1:9000\"\nallow_http = true",
        )
        .unwrap();
        assert_eq!(cfg.store, StoreKind::S3);
        assert_eq!(cfg.bucket, "rec");
        assert!(cfg.allow_http);
        assert!(toml::from_str::<RecordingsConfig>("store = \"ftp\"").is_err());
    }

    #[tokio::test]
    async fn s3_without_a_bucket_is_refused_before_any_request() {
        let cfg = RecordingsConfig {
            store: StoreKind::S3,
            ..RecordingsConfig::default()
        };
        let e = Recordings::connect(&cfg, Path::new("/nonexistent"))
            .await
            .unwrap_err();
        assert!(e.to_string().contains("bucket"), "{e}");
    }

    #[tokio::test]
    async fn local_references_are_the_files_themselves() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x-1.wav");
        std::fs::write(&f, b"RIFF").unwrap();
        let r = Recordings::local();
        let key = ObjectKey::new(Folder::Messages, "20261203", "x-1.wav").unwrap();
        let stored = r.keep(&f, &key).await.unwrap();
        assert!(Path::new(&stored).is_absolute());
        assert_eq!(
            std::fs::read(r.open(&stored).await.unwrap().path()).unwrap(),
            b"RIFF"
        );
        assert!(matches!(
            r.open("object:messages/20261203/x-1.wav").await,
            Err(ObjectsError::NoStore(_))
        ));
        r.delete(&stored).await.unwrap();
        assert!(!f.exists());
        r.delete(&stored).await.unwrap();
    }

    #[test]
    fn the_spool_lists_finished_files_only() {
        let dir = tempfile::tempdir().unwrap();
        let day = dir.path().join("messages/20261203");
        std::fs::create_dir_all(&day).unwrap();
        std::fs::write(day.join("a-1.wav"), b"x").unwrap();
        std::fs::write(day.join("a-2.wav.part"), b"x").unwrap();
        let growing = dir.path().join(".recording/messages/20261203");
        std::fs::create_dir_all(&growing).unwrap();
        std::fs::write(growing.join("b-1.wav"), b"x").unwrap();
        let keys: Vec<String> = spooled_keys(dir.path()).into_iter().map(|k| k.0).collect();
        assert_eq!(keys, vec!["messages/20261203/a-1.wav".to_string()]);
    }
}
