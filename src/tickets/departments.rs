//! The department directory (`config/departments.toml`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::model::DepartmentId;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Department {
    pub id: DepartmentId,
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub sms: Option<String>,
    /// SIP destination name for live transfers, see `[sip.destinations]`.
    #[serde(default)]
    pub phone: Option<String>,
    /// Places a town or street office answers for.
    #[serde(default)]
    pub areas: Vec<String>,
    /// A township government (镇), which also handles local matters such as street lights
    /// and refuse in its area; street offices (街道) in the city leave those to city bureaus.
    #[serde(default)]
    pub township: bool,
}

#[derive(Debug, Clone, Default)]
pub struct Directory {
    list: Vec<Department>,
    by_id: HashMap<DepartmentId, usize>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DirectoryFile {
    #[serde(default)]
    department: Vec<Department>,
}

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("{0}")]
    Toml(#[from] toml::de::Error),
    #[error("department id `{0}` appears twice")]
    Duplicate(String),
    #[error("department id `{0}` must be lowercase letters, digits and `_`")]
    BadId(String),
    #[error("department `{0}` has an empty name")]
    EmptyName(String),
}

impl Directory {
    pub fn parse(text: &str) -> Result<Directory, DirectoryError> {
        let file: DirectoryFile = toml::from_str(text)?;
        Directory::new(file.department)
    }

    pub fn new(list: Vec<Department>) -> Result<Directory, DirectoryError> {
        let mut by_id = HashMap::new();
        for (i, d) in list.iter().enumerate() {
            let id = d.id.as_str();
            if id.is_empty()
                || !id
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
            {
                return Err(DirectoryError::BadId(id.to_string()));
            }
            if d.name.trim().is_empty() {
                return Err(DirectoryError::EmptyName(id.to_string()));
            }
            if by_id.insert(d.id.clone(), i).is_some() {
                return Err(DirectoryError::Duplicate(id.to_string()));
            }
        }
        Ok(Directory { list, by_id })
    }

    pub fn get(&self, id: &DepartmentId) -> Option<&Department> {
        self.by_id.get(id).map(|&i| &self.list[i])
    }

    pub fn all(&self) -> &[Department] {
        &self.list
    }

    /// The office whose area the text names, longest name first so "东湖街道" beats "东湖".
    pub fn by_area_in(&self, text: &str) -> Option<(&Department, &str)> {
        self.area_match(text, false)
    }

    /// Like [`Directory::by_area_in`], limited to township governments.
    pub fn township_in(&self, text: &str) -> Option<(&Department, &str)> {
        self.area_match(text, true)
    }

    fn area_match(&self, text: &str, township_only: bool) -> Option<(&Department, &str)> {
        self.list
            .iter()
            .filter(|d| d.township || !township_only)
            .flat_map(|d| d.areas.iter().map(move |a| (d, a.as_str())))
            .filter(|(_, a)| !a.is_empty() && text.contains(a))
            .max_by_key(|(_, a)| a.chars().count())
    }
}
