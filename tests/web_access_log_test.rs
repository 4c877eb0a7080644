//! The access log of personal data on the real `hotline serve`: an operator who opens a
//! ticket page (whole number), downloads its recording and reads it over the API leaves
//! rows a supervisor reads at `GET /api/v1/access-log`; the log is not for operators.

mod web_support;

use hotline::tickets::{Actor, Channel, Kind, NewTicket};
use hotline::web::accounts::Role;
use serde_json::Value;
use web_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openings_of_recordings_and_numbers_are_logged_for_supervisors() {
    let s = Served::start(&[]).await;
    s.add_user("op1", Role::Operator, None).await;
    s.add_user("boss", Role::Supervisor, None).await;
    let wav = s.hotline.dir.path().join("msg.wav");
    std::fs::write(&wav, b"RIFF....WAVEfmt ").unwrap();
    let t = s
        .tickets
        .create(
            NewTicket {
                channel: Channel::Call,
                kind: Some(Kind::Complaint),
                phone: "13812345678".parse().unwrap(),
                text: "路灯不亮".into(),
                address: None,
                area: None,
                recording_path: Some(wav.to_string_lossy().to_string()),
            },
            &Actor::System,
        )
        .await
        .unwrap();

    let mut op = s.login("op1").await;
    assert_eq!(op.get(&format!("/tickets/{}", t.id)).await.status, 200);
    assert_eq!(
        op.get(&format!("/tickets/{}/recording", t.id)).await.status,
        200
    );
    let op_token = s.token_for("op1").await;
    let r = client()
        .get(format!("{}/api/v1/tickets/{}", s.base, t.id))
        .bearer_auth(&op_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let log = |token: String| {
        let url = format!("{}/api/v1/access-log", s.base);
        async move { client().get(url).bearer_auth(token).send().await.unwrap() }
    };
    assert_eq!(
        log(op_token).await.status(),
        403,
        "operators do not read the log"
    );
    let r = log(s.token_for("boss").await).await;
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    let rows: Vec<(String, String, String, i64)> = v["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["account"].as_str().unwrap().to_string(),
                r["what"].as_str().unwrap().to_string(),
                r["via"].as_str().unwrap().to_string(),
                r["ticket_id"].as_i64().unwrap(),
            )
        })
        .collect();
    for want in [
        ("phone", "page"),
        ("recording", "download"),
        ("phone", "api"),
    ] {
        assert!(
            rows.contains(&("op1".into(), want.0.into(), want.1.into(), t.id.0)),
            "{want:?} in {rows:?}"
        );
    }
}
