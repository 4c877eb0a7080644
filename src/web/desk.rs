//! The call centre as people steer it from the web, shared by the pages (agent desk,
//! wallboard) and the JSON API: who may change which agent's state, and the call commands
//! (hold, transfer, hang up, listen, whisper, barge) checked and turned into `acd::Control`.

use serde::{Deserialize, Serialize};

use super::accounts::Account;
use super::authz::{allows, may_call_back, sees_caller_number, Perm};
use super::error::{ApiError, WebError};
use super::Ctx;
use crate::acd::{
    Acd, AcdError, Agent, AgentState, CallBackError, CallerView, Control, MonitorMode, PauseReason,
    QueueView, Request, TransferTarget,
};
use crate::calls::{CallBackRefused, CallRecordId, ServiceLevel};
use crate::tickets::permission::may_steer_agent;

/// The caller each agent's phone rang for last, so a desk page opened (or reloaded) during
/// the call shows the screen pop again.
#[derive(Default)]
pub struct Offers(std::sync::Mutex<std::collections::HashMap<String, CallerView>>);

impl Offers {
    /// Keeps the latest offer per agent for as long as the call centre runs.
    pub fn follow(self: &std::sync::Arc<Self>, acd: &Acd) {
        let (me, mut rx) = (self.clone(), acd.subscribe());
        tokio::spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(crate::acd::AcdEvent::Offered { agent, caller }) => {
                        me.0.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .insert(agent, caller);
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
    }

    pub fn last(&self, agent: &str) -> Option<CallerView> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(agent)
            .cloned()
    }
}

/// Why a desk command was refused.
#[derive(Debug)]
pub enum DeskError {
    /// hotline runs without a call centre (the web alone, in tests and tools).
    NoCallCentre,
    Forbidden,
    UnknownAgent,
    NoSuchCall,
    NotInCall,
    /// A call-back refused for the state of things (someone else calls back, the phone is
    /// not registered, …): the Chinese message for people, a code for machines.
    Refused {
        code: &'static str,
        message: String,
    },
    /// A call-back the set-up cannot place (no trunk, no SIP stack).
    Unavailable(String),
    Bad(String),
    Internal(String),
}

impl From<AcdError> for DeskError {
    fn from(e: AcdError) -> Self {
        match e {
            AcdError::UnknownAgent(_) => DeskError::UnknownAgent,
            AcdError::NotInCall(_) => DeskError::NotInCall,
            AcdError::Sql(e) => DeskError::Internal(e.to_string()),
            AcdError::Contended(_) => DeskError::Refused {
                code: "contended",
                message: "坐席状态正在变化，请稍后重试。".into(),
            },
        }
    }
}

impl From<DeskError> for WebError {
    fn from(e: DeskError) -> Self {
        match e {
            DeskError::NoCallCentre => WebError::Conflict("话务队列未启用。".into()),
            DeskError::Forbidden => WebError::Forbidden,
            DeskError::UnknownAgent | DeskError::NoSuchCall => WebError::NotFound,
            DeskError::NotInCall => WebError::Conflict("该坐席当前不在通话中。".into()),
            DeskError::Refused { message, .. } | DeskError::Unavailable(message) => {
                WebError::Conflict(message)
            }
            DeskError::Bad(m) => WebError::BadRequest(m),
            DeskError::Internal(m) => WebError::Internal(m),
        }
    }
}

impl From<DeskError> for ApiError {
    fn from(e: DeskError) -> Self {
        use axum::http::StatusCode;
        match e {
            DeskError::NoCallCentre => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_call_centre",
                "the call centre is not running",
            ),
            DeskError::Forbidden => ApiError::forbidden(),
            DeskError::UnknownAgent | DeskError::NoSuchCall => ApiError::not_found(),
            DeskError::NotInCall => ApiError::new(
                StatusCode::CONFLICT,
                "not_in_call",
                "the agent is not in a call",
            ),
            DeskError::Refused { code, message } => {
                ApiError::new(StatusCode::CONFLICT, code, message)
            }
            DeskError::Unavailable(m) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "call_back_unavailable", m)
            }
            DeskError::Bad(m) => ApiError::bad(m),
            DeskError::Internal(m) => WebError::Internal(m).into(),
        }
    }
}

/// The state a person asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AskedState {
    Ready,
    Paused,
    LoggedOut,
}

impl AskedState {
    pub fn parse(s: &str) -> Option<AskedState> {
        Some(match s.trim() {
            "ready" => AskedState::Ready,
            "paused" => AskedState::Paused,
            "logged_out" => AskedState::LoggedOut,
            _ => return None,
        })
    }

    /// The request, with the pause reason a person may choose (not `no_answer`, which
    /// only hotline sets).
    pub fn request(self, reason: Option<&str>) -> Result<Request, DeskError> {
        match self {
            AskedState::Ready => Ok(Request::Ready),
            AskedState::LoggedOut => Ok(Request::Logout),
            AskedState::Paused => {
                let r = reason
                    .map(str::trim)
                    .filter(|r| !r.is_empty())
                    .unwrap_or("break");
                PauseReason::parse(r)
                    .filter(|r| PauseReason::CHOSEN.contains(r))
                    .map(Request::Pause)
                    .ok_or_else(|| {
                        DeskError::Bad(format!(
                            "unknown pause reason `{r}`: expected break, meal, meeting, training or paperwork"
                        ))
                    })
            }
        }
    }
}

/// What a person does to an agent's call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallAction {
    Hold,
    Unhold,
    Hangup,
    /// Blind transfer to `target`: `queue:<id>`, `agent:<name>` or `destination:<name>`.
    Transfer,
    /// Supervisors: join from their own phone, hearing both sides.
    Listen,
    /// Supervisors: speak to the agent only.
    Whisper,
    /// Supervisors: speak to both.
    Barge,
    /// Supervisors: leave the call.
    Stop,
}

impl CallAction {
    pub fn parse(s: &str) -> Option<CallAction> {
        Some(match s.trim() {
            "hold" => CallAction::Hold,
            "unhold" => CallAction::Unhold,
            "hangup" => CallAction::Hangup,
            "transfer" => CallAction::Transfer,
            "listen" => CallAction::Listen,
            "whisper" => CallAction::Whisper,
            "barge" => CallAction::Barge,
            "stop" => CallAction::Stop,
            _ => return None,
        })
    }

    /// Whether this is a supervisor's monitoring command.
    fn monitors(self) -> bool {
        match self {
            CallAction::Listen | CallAction::Whisper | CallAction::Barge | CallAction::Stop => true,
            CallAction::Hold | CallAction::Unhold | CallAction::Hangup | CallAction::Transfer => {
                false
            }
        }
    }
}

pub fn acd(ctx: &Ctx) -> Result<&Acd, DeskError> {
    ctx.acd.as_ref().ok_or(DeskError::NoCallCentre)
}

/// Changes `agent`'s state as `who` asks.
pub async fn set_state(
    ctx: &Ctx,
    who: &Account,
    agent: &str,
    r: Request,
) -> Result<Agent, DeskError> {
    if !may_steer_agent(who.role, &who.name, agent) {
        return Err(DeskError::Forbidden);
    }
    Ok(acd(ctx)?.request(agent, r, &who.name).await?)
}

/// Checks a transfer target against what exists: a queue of the queues file, a known
/// agent, a `[sip.destinations]` name.
fn transfer_target(ctx: &Ctx, acd: &Acd, target: &str) -> Result<TransferTarget, DeskError> {
    let bad = |m: String| Err(DeskError::Bad(m));
    let (kind, name) = target.trim().split_once(':').unwrap_or(("", ""));
    let name = name.trim();
    match kind {
        "queue" if acd.queues().get(name).is_some() => Ok(TransferTarget::Queue(name.into())),
        "agent" if acd.agent(name).is_some() => Ok(TransferTarget::Agent(name.into())),
        "destination" if ctx.destinations.iter().any(|d| d == name) => {
            Ok(TransferTarget::Destination(name.into()))
        }
        "queue" | "agent" | "destination" => bad(format!("no such {kind}: `{name}`")),
        _ => bad("target must be queue:<id>, agent:<name> or destination:<name>".into()),
    }
}

/// Steers `agent`'s call as `who` asks.
pub fn call(
    ctx: &Ctx,
    who: &Account,
    agent: &str,
    action: CallAction,
    target: Option<&str>,
) -> Result<(), DeskError> {
    let allowed = if action.monitors() {
        allows(who.role, Perm::Monitor)
    } else {
        may_steer_agent(who.role, &who.name, agent)
    };
    if !allowed {
        return Err(DeskError::Forbidden);
    }
    let acd = acd(ctx)?;
    if acd.agent(agent).is_none() {
        return Err(DeskError::UnknownAgent);
    }
    let monitor = |mode| Control::Monitor {
        supervisor: who.name.clone(),
        mode,
    };
    let c = match action {
        CallAction::Hold => Control::Hold(true),
        CallAction::Unhold => Control::Hold(false),
        CallAction::Hangup => Control::Hangup,
        CallAction::Transfer => Control::Transfer(transfer_target(
            ctx,
            acd,
            target.ok_or_else(|| DeskError::Bad("transfer needs a target".into()))?,
        )?),
        CallAction::Listen => monitor(MonitorMode::Listen),
        CallAction::Whisper => monitor(MonitorMode::Whisper),
        CallAction::Barge => monitor(MonitorMode::Barge),
        CallAction::Stop => Control::StopMonitor,
    };
    tracing::info!(by = %who.name, agent, action = ?action, "desk command");
    acd.control(agent, c)?;
    Ok(())
}

impl From<CallBackError> for DeskError {
    fn from(e: CallBackError) -> Self {
        let refused = |code, message: &str| DeskError::Refused {
            code,
            message: message.to_string(),
        };
        match e {
            CallBackError::Refused(r) => match r {
                CallBackRefused::NotFound => DeskError::NoSuchCall,
                CallBackRefused::NotAbandoned => refused(
                    "not_abandoned",
                    "这通来电不是未留工单的放弃来电，无需回拨。",
                ),
                CallBackRefused::InProgress(who) => DeskError::Refused {
                    code: "call_back_in_progress",
                    message: format!("{who} 正在回拨这通来电。"),
                },
                CallBackRefused::AlreadyReached => {
                    refused("already_called_back", "已回拨并接通，无需再次回拨。")
                }
                CallBackRefused::CalledAgain => {
                    refused("called_again", "来电人已再次来电，无需回拨。")
                }
                CallBackRefused::Calls(e) => DeskError::Internal(e.to_string()),
            },
            CallBackError::NotCallable(_) => {
                refused("not_callable", "该号码无法回拨（号码不完整或为隐藏号码）。")
            }
            CallBackError::NoPhone(_) => {
                refused("no_phone", "您的话机未注册，无法回拨。请先在话机上登录。")
            }
            CallBackError::Busy(_) => refused("busy", "您正在通话中，请结束后再回拨。"),
            CallBackError::NoDialer | CallBackError::NoQueue | CallBackError::NoTrunk => {
                tracing::warn!(error = %e, "call-back not possible");
                DeskError::Unavailable("未配置回拨线路，无法回拨。请联系系统管理员。".into())
            }
        }
    }
}

/// `who` calls back the abandoned call `record` from their own phone (回拨): operators
/// signed in at the desk, and supervisors. It rings their phone now; the resident follows
/// once they answer.
pub async fn call_back(ctx: &Ctx, who: &Account, record: i64) -> Result<(), DeskError> {
    if !may_call_back(who.role) {
        return Err(DeskError::Forbidden);
    }
    let acd = acd(ctx)?;
    let signed_in = acd
        .agent(&who.name)
        .is_some_and(|a| a.state != AgentState::LoggedOut);
    if allows(who.role, Perm::Desk) && !signed_in {
        return Err(DeskError::Refused {
            code: "not_signed_in",
            message: "请先在坐席工作台签入（就绪或示忙），再回拨。".into(),
        });
    }
    acd.call_back(CallRecordId::from_raw(record), &who.name)
        .await?;
    tracing::info!(by = %who.name, call = record, "call-back started");
    Ok(())
}

/// A caller counts as answered in time when an agent took the call within this wait.
pub const SERVICE_LEVEL_TARGET_SECS: i64 = 15;

/// One queue on the wallboard: the live figures and today's service level.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct QueueOut {
    pub queue: QueueView,
    /// Since local midnight; target wait [`SERVICE_LEVEL_TARGET_SECS`].
    pub service_level: ServiceLevel,
}

/// The wallboard: every queue, and the callers waiting and callbacks owed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Board {
    pub queues: Vec<QueueOut>,
    pub waiting: Vec<CallerView>,
}

/// Unix ms of the last local midnight (the hotline's time zone).
fn midnight_ms(ctx: &Ctx) -> i64 {
    let tz = ctx.tickets().tz();
    let now = chrono::Utc::now().with_timezone(&tz);
    now.date_naive()
        .and_hms_opt(0, 0, 0)
        .and_then(|m| m.and_local_timezone(tz).earliest())
        .map(|m| m.timestamp_millis())
        .unwrap_or_else(|| now.timestamp_millis() - 86_400_000)
}

/// The wallboard's figures as `who` may read them (callers' numbers and keys masked for
/// roles that do not see numbers elsewhere).
pub async fn board(ctx: &Ctx, who: &Account) -> Result<Board, DeskError> {
    if !allows(who.role, Perm::ViewAgents) {
        return Err(DeskError::Forbidden);
    }
    let acd = acd(ctx)?;
    let levels = ctx
        .records()
        .service_levels(midnight_ms(ctx), SERVICE_LEVEL_TARGET_SECS * 1000)
        .await
        .map_err(|e| DeskError::Internal(e.to_string()))?;
    let queues = acd
        .board()
        .into_iter()
        .map(|q| {
            let service_level = levels
                .iter()
                .find(|l| l.queue == q.id)
                .cloned()
                .unwrap_or_else(|| ServiceLevel::none(&q.id));
            QueueOut {
                queue: q,
                service_level,
            }
        })
        .collect();
    let mut waiting = acd.waiting();
    if !sees_caller_number(who.role) {
        for w in &mut waiting {
            w.caller = crate::privacy::mask(&w.caller);
            w.ivr = serde_json::Value::Null;
        }
    }
    Ok(Board { queues, waiting })
}
