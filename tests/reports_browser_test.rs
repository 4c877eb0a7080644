//! The reports in a real browser: headless Chromium (Debian's `chromium`) driven by
//! playwright-core (tests/browser/reports.mjs) against the site started here: the board's
//! trend charts have a point per day (30) and per month (12), the ranking sorts by a
//! header click, the monthly report prints without navigation. Screenshots and the printed
//! report (PDF) land in target/browser-screenshots/.

mod web_support;

use std::process::Command;

use chrono::Datelike;
use hotline::tickets::{Action, Actor, Channel, DepartmentId, NewTicket, Satisfaction};
use hotline::web::accounts::Role;
use web_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_render_in_headless_chromium() {
    let repo = common::repo();
    let dir = common::browser_dir();
    let site = start_sqlite().await;
    site.add_user("rb_sup", Role::Supervisor, None).await;

    // Six water tickets (a burst of 供水), two gas; one of each resolved and rated.
    let mut made = Vec::new();
    for (text, n) in [("家里停水了", 6), ("燃气表漏气，闻到煤气味", 2)] {
        for i in 0..n {
            let t = site
                .tickets
                .create(
                    NewTicket {
                        channel: Channel::Call,
                        kind: None,
                        phone: "13800006666".parse().unwrap(),
                        text: format!("{text}（{i}）"),
                        address: Some(format!("解放路{i}号")),
                        area: None,
                        recording_path: None,
                        language: None,
                    },
                    &Actor::System,
                )
                .await
                .unwrap();
            made.push(t);
        }
    }
    for (t, dept, s) in [
        (&made[0], "water", Satisfaction::Unsatisfied),
        (&made[6], "gas", Satisfaction::Satisfied),
    ] {
        let who = Actor::Department(DepartmentId(dept.into()), "办事员".into());
        for a in [
            Action::Sign,
            Action::Resolve {
                answer: "已处理".into(),
            },
            Action::FollowUp,
            Action::Rate { satisfaction: s },
        ] {
            site.tickets.transition(t.id, a, &who).await.unwrap();
        }
    }
    let today = chrono::Utc::now()
        .with_timezone(&site.tickets.tz())
        .date_naive();
    let next_month = if today.month() == 12 {
        chrono::NaiveDate::from_ymd_opt(today.year() + 1, 1, 1)
    } else {
        chrono::NaiveDate::from_ymd_opt(today.year(), today.month() + 1, 1)
    }
    .unwrap();
    let days_in_month = (next_month - today.with_day(1).unwrap()).num_days();

    let shots = repo.join("target/browser-screenshots");
    let base = site.base.clone();
    let out = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("reports.mjs")
            .current_dir(&dir)
            .env("BASE", base)
            .env("SHOTS", &shots)
            .env("DAYS_IN_MONTH", days_in_month.to_string())
            .output()
            .expect("node is needed for the browser tests")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}\n{stderr}");
    assert!(
        out.status.success(),
        "browser reports failed:\n{stdout}\n{stderr}"
    );
    for j in [
        "board_shows_trends_and_hot_topics",
        "ranking_sorts_by_clicking_a_header",
        "monthly_report_prints_on_a4",
    ] {
        assert!(
            stdout.contains(&format!("ok   {j}")),
            "{j} did not pass:\n{stdout}"
        );
    }
    assert!(repo
        .join("target/browser-screenshots/reports-01-board.png")
        .exists());
}
