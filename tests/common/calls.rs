//! Call records written straight through `hotline::calls`, for tests that read them back
//! (pages, API, retention) without placing real calls.

use hotline::calls::{CallEnd, CallEvent, CallRecordId, Calls, NewCall};

/// A call from `caller` to 12345 that was answered, went through `events` in order and ended
/// as `end` says.
pub async fn answered_call(
    calls: &Calls,
    call_id: &str,
    caller: &str,
    events: &[CallEvent],
    end: &CallEnd<'_>,
) -> CallRecordId {
    let id = calls
        .start(&NewCall {
            call_id,
            caller,
            called: "12345",
            dialplan: "12345",
        })
        .await
        .expect("call record starts");
    calls.answered(id).await.expect("call record answered");
    for ev in events {
        calls.event(id, ev).await.expect("call event written");
    }
    calls.end(id, end).await.expect("call record ends");
    id
}
