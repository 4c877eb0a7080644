//! The configuration: one TOML file (`config/hotline.toml` by default) with every key
//! overridable by an environment variable `HOTLINE__SECTION__KEY` (double underscores, e.g.
//! `HOTLINE__DATABASE__URL`). Unknown keys and bad values are errors that name the key, the
//! file and, where it can be found, the line. Each module owns the struct of its section.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Env, Format, Serialized, Toml};
use figment::Figment;
use serde::{Deserialize, Serialize};

use crate::acd::AcdConfig;
use crate::calls::CallsConfig;
use crate::ivr::IvrConfig;
use crate::mail::MailConfig;
use crate::media::MediaConfig;
use crate::scorecard::ScorecardConfig;
use crate::sip::SipConfig;
use crate::sms::SmsConfig;
use crate::speech::SpeechConfig;
use crate::store::DatabaseConfig;
use crate::tickets::TicketsConfig;
use crate::web::WebConfig;

/// The whole configuration.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the SQLite database, recordings and cached prompts live; created on first start.
    pub data_dir: PathBuf,
    /// Tickets created in an empty database at start, so a demo console is not empty;
    /// empty in production.
    pub demo_tickets_file: PathBuf,
    pub log: LogConfig,
    pub database: DatabaseConfig,
    pub http: HttpConfig,
    pub tickets: TicketsConfig,
    pub ivr: IvrConfig,
    pub sip: SipConfig,
    pub media: MediaConfig,
    pub sms: SmsConfig,
    pub mail: MailConfig,
    pub speech: SpeechConfig,
    pub web: WebConfig,
    pub acd: AcdConfig,
    pub calls: CallsConfig,
    pub scorecard: ScorecardConfig,
    pub recordings: crate::store::objects::RecordingsConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: "data".into(),
            demo_tickets_file: PathBuf::new(),
            log: LogConfig::default(),
            database: DatabaseConfig::default(),
            http: HttpConfig::default(),
            tickets: TicketsConfig::default(),
            ivr: IvrConfig::default(),
            sip: SipConfig::default(),
            media: MediaConfig::default(),
            sms: SmsConfig::default(),
            mail: MailConfig::default(),
            speech: SpeechConfig::default(),
            web: WebConfig::default(),
            acd: AcdConfig::default(),
            calls: CallsConfig::default(),
            scorecard: ScorecardConfig::default(),
            recordings: Default::default(),
        }
    }
}

/// Section `[log]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// A `tracing` filter such as `info` or `hotline=debug,info`; `RUST_LOG` wins when set.
    pub level: String,
    /// `text` for people, `json` for log collectors.
    pub format: LogFormat,
}

#[derive(Debug, Clone, Copy, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// Section `[http]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Where the web console, the APIs, `/metrics` and the health checks listen.
    pub listen: SocketAddr,
    /// The address people use to reach the console, for links in mail and SMS.
    pub public_url: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            public_url: "http://127.0.0.1:8080".into(),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {0} not found (run from the hotline directory or pass --config PATH)")]
    Missing(PathBuf),
    #[error("{0}")]
    Invalid(String),
}

/// The environment variable prefix; `HOTLINE__SIP__MAX_CALLS` sets `[sip] max_calls`.
pub const ENV_PREFIX: &str = "HOTLINE__";

impl Config {
    /// Reads `path` and the environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        if !path.exists() {
            return Err(ConfigError::Missing(path.to_path_buf()));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Invalid(format!("{}: {e}", path.display())))?;
        Self::from_figment(
            Figment::from(Serialized::defaults(Config::default()))
                .merge(Toml::file_exact(path))
                .merge(Env::prefixed(ENV_PREFIX).split("__")),
            path,
            &text,
        )
    }

    /// Parses a configuration text without the environment; for tests and `check`.
    pub fn parse(text: &str, name: &Path) -> Result<Config, ConfigError> {
        Self::from_figment(
            Figment::from(Serialized::defaults(Config::default())).merge(Toml::string(text)),
            name,
            text,
        )
    }

    fn from_figment(fig: Figment, path: &Path, text: &str) -> Result<Config, ConfigError> {
        fig.extract()
            .map_err(|e| ConfigError::Invalid(describe(e, path, text)))
    }
}

/// Turns figment's errors into one sentence per problem: where, which key, what is wrong.
fn describe(err: figment::Error, path: &Path, text: &str) -> String {
    err.into_iter()
        .map(|e| {
            let key = e.path.join(".");
            let from_env = e
                .metadata
                .as_ref()
                .map(|m| m.name.contains("environment"))
                .unwrap_or(false);
            let mut kind = e.kind.to_string();
            let full_key = key.clone();
            if let figment::error::Kind::UnknownField(..) = &e.kind {
                kind = format!("unknown key ({kind})");
            }
            if from_env {
                let var = format!("{ENV_PREFIX}{}", full_key.replace('.', "__").to_uppercase());
                format!("environment variable {var}: {kind}")
            } else {
                let line = crate::tomlpos::locate(text, &full_key)
                    .map(|l| format!(" line {l}"))
                    .unwrap_or_default();
                let key_part = if full_key.is_empty() {
                    String::new()
                } else {
                    format!(" key `{full_key}`")
                };
                format!("{}{line}:{key_part}: {kind}", path.display())
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(t: &str) -> Result<Config, ConfigError> {
        Config::parse(t, Path::new("hotline.toml"))
    }

    #[test]
    fn the_shipped_config_parses() {
        let c = parse(include_str!("../config/hotline.toml")).unwrap();
        assert_eq!(c.http.listen.port(), 8080);
    }

    #[test]
    fn unknown_keys_name_key_file_and_line() {
        let e = parse("[database]\nurl = \"sqlite://x.db\"\nurll = 1\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("hotline.toml line 3"), "{e}");
        assert!(e.contains("database.urll"), "{e}");
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = parse("[http]\nlisten = \"not an address\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("http.listen"), "{e}");
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn syntax_errors_are_reported() {
        let e = parse("[http\nlisten = 1").unwrap_err().to_string();
        assert!(e.contains("hotline.toml"), "{e}");
    }

    #[test]
    #[allow(clippy::result_large_err)] // figment's Jail API returns its own large error
    fn environment_overrides_the_file() {
        figment::Jail::expect_with(|jail| {
            jail.create_file("h.toml", "[database]\nurl = \"sqlite://a.db\"\n")?;
            jail.set_env("HOTLINE__DATABASE__URL", "postgres://localhost/test");
            jail.set_env("HOTLINE__HTTP__LISTEN", "127.0.0.1:9999");
            let c = Config::load(Path::new("h.toml")).map_err(|e| e.to_string())?;
            assert_eq!(c.database.url, "postgres://localhost/test");
            assert_eq!(c.http.listen.port(), 9999);
            jail.set_env("HOTLINE__HTTP__LISTEN", "nonsense");
            let e = Config::load(Path::new("h.toml")).unwrap_err().to_string();
            assert!(e.contains("HOTLINE__HTTP__LISTEN"), "{e}");
            Ok(())
        });
    }
}
