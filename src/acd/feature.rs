//! Service codes an agent dials from their desk phone to change state, as on a PBX:
//! `*71` ready, `*72` paused (`*72` + 1–5 picks the reason: break, meal, meeting, training,
//! paperwork), `*73` logged out. The SIP layer has already made the phone prove which
//! account it is (digest credentials on the INVITE); two short high beeps confirm, one low
//! tone refuses.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::agent::{PauseReason, Request};
use super::Acd;
use crate::media::{tone, Prompt};
use crate::sip;

/// Section `[acd.feature_codes]`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FeatureCodes {
    pub ready: String,
    pub pause: String,
    pub logout: String,
}

impl Default for FeatureCodes {
    fn default() -> Self {
        FeatureCodes {
            ready: "*71".into(),
            pause: "*72".into(),
            logout: "*73".into(),
        }
    }
}

impl FeatureCodes {
    /// What a dialled number asks for, if it is one of the codes.
    pub fn request(&self, dialled: &str) -> Option<Request> {
        if dialled == self.ready {
            return Some(Request::Ready);
        }
        if dialled == self.logout {
            return Some(Request::Logout);
        }
        let rest = dialled.strip_prefix(self.pause.as_str())?;
        let reason = match rest {
            "" => PauseReason::Break,
            d => {
                let i: usize = d.parse().ok()?;
                *PauseReason::CHOSEN.get(i.checked_sub(1)?)?
            }
        };
        Some(Request::Pause(reason))
    }
}

fn confirm() -> Arc<Prompt> {
    let mut pcm = tone::sine(1200.0, 120, -12.0);
    pcm.extend(std::iter::repeat_n(0, 640));
    pcm.extend(tone::sine(1200.0, 120, -12.0));
    pcm.extend(std::iter::repeat_n(0, 1600));
    Prompt::from_pcm("feature_ok", pcm)
}

fn refuse() -> Arc<Prompt> {
    let mut pcm = tone::sine(400.0, 600, -12.0);
    pcm.extend(std::iter::repeat_n(0, 1600));
    Prompt::from_pcm("feature_refused", pcm)
}

impl Acd {
    /// Whether `dialled` is one of the agents' service codes.
    pub fn is_feature_code(&self, dialled: &str) -> bool {
        self.inner.feature_codes.request(dialled).is_some()
    }

    /// Serves a call to a service code: refused (403) unless the phone proved its account;
    /// otherwise answered, the state changed, and a confirmation heard. The caller hangs up
    /// the call afterwards.
    pub async fn serve_feature_code(&self, call: &sip::Call) {
        let Some(request) = self.inner.feature_codes.request(call.called()) else {
            return;
        };
        let Some(agent) = call.authenticated_user().map(str::to_string) else {
            tracing::warn!("service code dialled without credentials");
            return;
        };
        if call.answer().await.is_err() {
            return;
        }
        let sound = match self.request(&agent, request, "phone").await {
            Ok(a) => {
                tracing::info!(%agent, state = a.state.as_str(), "agent state set from the phone");
                confirm()
            }
            Err(e) => {
                tracing::info!(%agent, error = %e, "service code refused");
                refuse()
            }
        };
        let _ = call.play(&sound, false).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_pause_reasons() {
        let c = FeatureCodes::default();
        assert_eq!(c.request("*71"), Some(Request::Ready));
        assert_eq!(c.request("*73"), Some(Request::Logout));
        assert_eq!(c.request("*72"), Some(Request::Pause(PauseReason::Break)));
        assert_eq!(c.request("*722"), Some(Request::Pause(PauseReason::Meal)));
        assert_eq!(
            c.request("*725"),
            Some(Request::Pause(PauseReason::Paperwork))
        );
        assert_eq!(c.request("*726"), None);
        assert_eq!(c.request("*720"), None);
        assert_eq!(c.request("12345"), None);
    }
}
