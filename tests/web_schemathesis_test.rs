//! schemathesis (PyPI) fuzzes the JSON API from its own OpenAPI document, with a token of
//! each role (and some call records to read); no request may produce a server error (5xx).
//!
//! Needs `schemathesis` on PATH (pip install schemathesis) or its path in `SCHEMATHESIS`.

mod web_support;

use std::process::Command;

use hotline::calls::{CallEvent, Calls, NewCall};
use hotline::web::accounts::Role;
use web_support::*;

fn schemathesis() -> String {
    if let Ok(p) = std::env::var("SCHEMATHESIS") {
        return p;
    }
    let found = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .map(|d| std::path::Path::new(d).join("schemathesis"))
        .find(|p| p.exists());
    found
        .map(|p| p.display().to_string())
        .expect("schemathesis is needed: pip install schemathesis (or set SCHEMATHESIS=/path/to/schemathesis)")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuzzing_the_api_finds_no_server_error() {
    let st = schemathesis();
    let site = start_sqlite().await;
    site.add_user("st_op", Role::Operator, None).await;
    site.add_user("st_water", Role::Department, Some("water"))
        .await;
    site.add_user("st_sup", Role::Supervisor, None).await;
    site.add_user("st_admin", Role::Admin, None).await;
    let calls = Calls::new(site.tickets.db().clone());
    for i in 0..3 {
        site.ticket(&format!("1380000{i:04}"), "自来水水压低").await;
        let id = calls
            .start(&NewCall {
                call_id: &format!("st{i}@test"),
                caller: &format!("1380000{i:04}"),
                called: "12345",
                dialplan: "12345",
            })
            .await
            .expect("call record");
        calls
            .event(
                id,
                &CallEvent::QueueEntered {
                    queue: "general".into(),
                },
            )
            .await
            .expect("call event");
    }
    let report = common::repo().join("target/schemathesis");
    for who in ["st_op", "st_water", "st_sup", "st_admin"] {
        let token = site.token_for(who).await;
        let url = format!("{}/api/v1/openapi.json", site.base);
        let base = site.base.clone();
        let st = st.clone();
        let report = report.join(who);
        std::fs::create_dir_all(&report).expect("report dir");
        let out = tokio::task::spawn_blocking(move || {
            Command::new(&st)
                .args([
                    "run",
                    &url,
                    "--url",
                    &base,
                    "--checks",
                    "not_a_server_error",
                    "--header",
                    &format!("Authorization: Bearer {token}"),
                    "--max-examples",
                    "25",
                    "--workers",
                    "1",
                    "--seed",
                    "12345",
                    "--report-dir",
                    &report.display().to_string(),
                    "--no-color",
                ])
                // Its example cache goes under target/, not into the work tree.
                .current_dir(report.parent().unwrap_or(&report))
                .env("SCHEMATHESIS_TELEMETRY", "false")
                .output()
                .expect("run schemathesis")
        })
        .await
        .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("schemathesis as {who}:\n{stdout}");
        assert!(
            out.status.success(),
            "schemathesis as {who} found failures:\n{stdout}\n{stderr}"
        );
    }
}
