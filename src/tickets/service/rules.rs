//! The rules the service applies, loaded once from the config files: departments, routing,
//! the working calendar and the deadline classes.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use crate::tickets::config::TicketsConfig;
use crate::tickets::deadline::{Calendar, Span, SpanError};
use crate::tickets::departments::Directory;
use crate::tickets::error::TicketsError;
use crate::tickets::model::Kind;
use crate::tickets::routing::{Route, RoutingRules};

/// The rules the service applies, loaded once from the config files.
#[derive(Debug)]
pub struct Rules {
    pub directory: Directory,
    pub routing: RoutingRules,
    pub calendar: Calendar,
    pub deadlines: BTreeMap<String, Span>,
    pub kind_sla: BTreeMap<Kind, String>,
}

impl Rules {
    /// Reads and checks departments, routing, calendar and deadline classes; every error
    /// names its file.
    pub fn load(cfg: &TicketsConfig) -> Result<Rules, TicketsError> {
        let read = |p: &Path| {
            std::fs::read_to_string(p).map_err(|e| TicketsError::Config {
                file: p.display().to_string(),
                message: format!("cannot read: {e}"),
            })
        };
        let cfg_err = |p: &Path, m: String| TicketsError::Config {
            file: p.display().to_string(),
            message: m,
        };
        let tz: Tz = cfg.timezone.parse().map_err(|_| TicketsError::Config {
            file: "[tickets] timezone".into(),
            message: format!("unknown time zone `{}`", cfg.timezone),
        })?;
        let directory = Directory::parse(&read(&cfg.departments_file)?)
            .map_err(|e| cfg_err(&cfg.departments_file, e.to_string()))?;
        let routing = RoutingRules::parse(&read(&cfg.routing_file)?)
            .map_err(|e| cfg_err(&cfg.routing_file, e.to_string()))?;
        routing
            .validate(&directory)
            .map_err(|e| cfg_err(&cfg.routing_file, e.to_string()))?;
        let calendar = Calendar::parse(&read(&cfg.calendar_file)?, tz)
            .map_err(|e| cfg_err(&cfg.calendar_file, e.to_string()))?;
        Rules::new(directory, routing, calendar, &cfg.deadlines, &cfg.kind_sla)
    }

    pub fn new(
        directory: Directory,
        routing: RoutingRules,
        calendar: Calendar,
        deadlines: &BTreeMap<String, String>,
        kind_sla: &BTreeMap<Kind, String>,
    ) -> Result<Rules, TicketsError> {
        let bad = |key: String, message: String| TicketsError::Config { file: key, message };
        let mut spans = BTreeMap::new();
        for (name, spec) in deadlines {
            let span: Span = spec.parse().map_err(|e: SpanError| {
                bad(format!("[tickets.deadlines] {name}"), e.to_string())
            })?;
            spans.insert(name.clone(), span);
        }
        for kind in Kind::ALL {
            let class = kind_sla.get(kind).ok_or_else(|| {
                bad(
                    "[tickets.kind_sla]".into(),
                    format!("no deadline class for kind `{kind}`"),
                )
            })?;
            if !spans.contains_key(class) {
                return Err(bad(
                    format!("[tickets.kind_sla] {kind}"),
                    format!("deadline class `{class}` is not in [tickets.deadlines]"),
                ));
            }
        }
        let classes = routing
            .rules
            .iter()
            .filter_map(|r| r.sla.as_ref().map(|s| (format!("rule `{}`", r.name), s)))
            .chain(
                routing
                    .urgent
                    .as_ref()
                    .map(|u| ("[urgent]".to_string(), &u.sla)),
            );
        for (rule, class) in classes {
            if !spans.contains_key(class) {
                return Err(bad(
                    "routing.toml".into(),
                    format!("{rule} uses deadline class `{class}`, which [tickets.deadlines] does not define"),
                ));
            }
        }
        Ok(Rules {
            directory,
            routing,
            calendar,
            deadlines: spans,
            kind_sla: kind_sla.clone(),
        })
    }

    /// Deadline class and due time for a route, starting the clock at `start`.
    pub(super) fn deadline_for(
        &self,
        route: &Route,
        start: DateTime<Utc>,
    ) -> (String, DateTime<Utc>) {
        let class = route
            .sla
            .clone()
            .or_else(|| self.kind_sla.get(&route.kind).cloned())
            .unwrap_or_else(|| "general".into());
        let span = self
            .deadlines
            .get(&class)
            .copied()
            .unwrap_or(Span::WorkingDays(7));
        (class, self.calendar.deadline(start, span))
    }
}
