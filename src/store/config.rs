use std::path::Path;

use serde::{Deserialize, Serialize};

/// Section `[database]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://path/file.db` or `postgres://user@host/db`; empty means `<data_dir>/hotline.db`.
    pub url: String,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: String::new(),
            max_connections: 10,
        }
    }
}

impl DatabaseConfig {
    pub fn effective_url(&self, data_dir: &Path) -> String {
        if self.url.trim().is_empty() {
            format!("sqlite://{}", data_dir.join("hotline.db").display())
        } else {
            self.url.trim().to_string()
        }
    }
}
