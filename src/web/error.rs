//! How the web answers when something is refused or fails: a short Chinese page for people,
//! a JSON body for the API. Internal details go to the log, never to the client.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::accounts::{AccountError, UnknownRole};
use crate::calls::CallsError;
use crate::store::StoreError;
use crate::tickets::{Invalid, TicketsError, TransitionError};

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("login required")]
    Login,
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error("bad csrf token")]
    Csrf,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    TooMany(String),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<sqlx::Error> for WebError {
    fn from(e: sqlx::Error) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<StoreError> for WebError {
    fn from(e: StoreError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<CallsError> for WebError {
    fn from(e: CallsError) -> Self {
        WebError::Internal(e.to_string())
    }
}

impl From<minijinja::Error> for WebError {
    fn from(e: minijinja::Error) -> Self {
        WebError::Internal(format!("template: {e:#}"))
    }
}

/// Chinese for a refused state change.
pub fn transition_zh(e: &TransitionError) -> String {
    format!(
        "工单当前状态为“{}”，不能执行“{}”。",
        e.from_zh,
        action_zh(e.action)
    )
}

/// Chinese names of audit actions and lifecycle actions.
pub fn action_zh(code: &str) -> &'static str {
    match code {
        "create" => "受理",
        "dispatch" => "派单",
        "sign" => "签收",
        "return" => "退单",
        "request_extension" => "申请延期",
        "grant_extension" => "批准延期",
        "refuse_extension" => "驳回延期",
        "resolve" => "办结",
        "answer_directly" => "直接答复",
        "follow_up" => "回访",
        "rate" => "评价",
        "close" => "结案",
        "supervise" => "督办",
        "merge" => "并单",
        "note" => "进展",
        "reclassify" => "更正分类",
        "transcribed" => "录音转写",
        "survey_call" => "回访电话",
        _ => "处理",
    }
}

impl From<TicketsError> for WebError {
    fn from(e: TicketsError) -> Self {
        match e {
            TicketsError::NotFound(_) => WebError::NotFound,
            TicketsError::Transition(t) => WebError::Conflict(transition_zh(&t)),
            TicketsError::Conflict(n) => {
                WebError::Conflict(format!("工单 {n} 刚被他人修改，请刷新后重试。"))
            }
            TicketsError::UnknownDepartment(_) => WebError::BadRequest("没有这个承办单位。".into()),
            TicketsError::Invalid(i) => WebError::BadRequest(invalid_zh(&i).into()),
            e @ (TicketsError::Config { .. }
            | TicketsError::Corrupt(_)
            | TicketsError::Store(_)) => WebError::Internal(e.to_string()),
        }
    }
}

/// What a person is told when the ticket domain refuses their input.
pub fn invalid_zh(i: &Invalid) -> &'static str {
    match i {
        Invalid::NoText => "请填写诉求内容。",
        Invalid::TooLong => "内容过长。",
        Invalid::ReturnNeedsReason => "退单须填写理由。",
        Invalid::ExtensionNeedsReason => "申请延期须填写理由。",
        Invalid::ExtensionDays => "延期天数须为 1 至 60 个工作日。",
        Invalid::RefusalNeedsReason => "驳回延期须填写理由。",
        Invalid::NeedsAnswer => "请填写答复市民的内容。",
        Invalid::SupervisionNeedsNote => "督办须填写督办意见。",
        Invalid::NoteNeedsText => "请填写进展内容。",
        Invalid::MergeIntoItself => "不能并入工单本身。",
        Invalid::MergeTargetNumber => "请填写正确的12位以上工单编号。",
        Invalid::MergeTargetMissing => "没有找到要并入的工单。",
        Invalid::NoDepartment => "请选择承办单位。",
        Invalid::UnknownKind(_) => "没有这个诉求类型。",
        Invalid::NoSatisfaction => "请选择满意程度。",
    }
}

impl From<AccountError> for WebError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::Store(s) => WebError::Internal(s.to_string()),
            AccountError::Hash(h) => WebError::Internal(h.to_string()),
            AccountError::NotFound => WebError::NotFound,
            AccountError::BadName => {
                WebError::BadRequest("账号名须为 2–40 个字母、数字或 . _ -。".into())
            }
            AccountError::WeakPassword(n) => WebError::BadRequest(format!("密码至少 {n} 个字符。")),
            AccountError::BadRole(_) => WebError::BadRequest("没有这个角色。".into()),
            AccountError::DepartmentRequired => {
                WebError::BadRequest("承办单位账号须选择所属单位。".into())
            }
            AccountError::DepartmentNotAllowed => {
                WebError::BadRequest("只有承办单位账号属于某个单位。".into())
            }
            AccountError::UnknownDepartment(_) => WebError::BadRequest("没有这个承办单位。".into()),
            AccountError::Exists(n) => WebError::Conflict(format!("账号 {n} 已存在。")),
        }
    }
}

impl From<crate::reports::ReportsError> for WebError {
    fn from(e: crate::reports::ReportsError) -> Self {
        use crate::reports::ReportsError as R;
        match e {
            R::Tickets(t) => t.into(),
            R::Calls(c) => c.into(),
            R::TooMany(t) => WebError::BadRequest(format!(
                "符合条件的有 {} 行，一次最多导出 {} 行，请缩小筛选范围。",
                t.found, t.max
            )),
            R::Export(x) => WebError::Internal(x.to_string()),
        }
    }
}

impl From<UnknownRole> for WebError {
    fn from(e: UnknownRole) -> Self {
        AccountError::from(e).into()
    }
}

impl WebError {
    pub fn status(&self) -> StatusCode {
        match self {
            WebError::Login => StatusCode::SEE_OTHER,
            WebError::Forbidden | WebError::Csrf => StatusCode::FORBIDDEN,
            WebError::NotFound => StatusCode::NOT_FOUND,
            WebError::BadRequest(_) => StatusCode::BAD_REQUEST,
            WebError::Conflict(_) => StatusCode::CONFLICT,
            WebError::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            WebError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn message_zh(&self) -> String {
        match self {
            WebError::Login => "请先登录。".into(),
            WebError::Forbidden => "您的账号没有此项权限。".into(),
            WebError::NotFound => "没有找到该页面或工单。".into(),
            WebError::Csrf => "页面已过期或来源不明，请返回刷新后重新提交。".into(),
            WebError::BadRequest(m) | WebError::Conflict(m) | WebError::TooMany(m) => m.clone(),
            WebError::Internal(_) => "系统繁忙，请稍后再试。".into(),
        }
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        if let WebError::Internal(m) = &self {
            tracing::error!(error = %m, "web request failed");
        }
        if let WebError::Login = self {
            return (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response();
        }
        let msg = minijinja::HtmlEscape(&self.message_zh()).to_string();
        let body = format!(
            "<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\"><title>提示 - 12345热线</title>\
             <link rel=\"stylesheet\" href=\"/assets/app.css\"></head><body><main class=\"narrow\">\
             <h1>提示</h1><p class=\"error\" role=\"alert\">{msg}</p><p>请使用浏览器的“后退”返回上一页，或 <a href=\"/\">回到首页</a>。</p></main></body></html>"
        );
        (
            self.status(),
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            body,
        )
            .into_response()
    }
}

/// An error of the JSON API: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid API token is required (Authorization: Bearer <token>)",
        )
    }
    pub fn forbidden() -> ApiError {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "this account's role may not do this",
        )
    }
    pub fn not_found() -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such resource")
    }
    pub fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}

impl From<WebError> for ApiError {
    fn from(e: WebError) -> Self {
        let code = match &e {
            WebError::Login => "unauthorized",
            WebError::Forbidden | WebError::Csrf => "forbidden",
            WebError::NotFound => "not_found",
            WebError::BadRequest(_) => "bad_request",
            WebError::Conflict(_) => "conflict",
            WebError::TooMany(_) => "too_many_requests",
            WebError::Internal(m) => {
                tracing::error!(error = %m, "API request failed");
                "internal"
            }
        };
        let status = match e {
            WebError::Login => StatusCode::UNAUTHORIZED,
            _ => e.status(),
        };
        ApiError::new(status, code, e.message_zh())
    }
}

impl From<TicketsError> for ApiError {
    fn from(e: TicketsError) -> Self {
        WebError::from(e).into()
    }
}

impl From<CallsError> for ApiError {
    fn from(e: CallsError) -> Self {
        WebError::from(e).into()
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        WebError::from(e).into()
    }
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        WebError::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (
            self.status,
            Json(json!({"error": {"code": self.code, "message": self.message}})),
        )
            .into_response()
    }
}
