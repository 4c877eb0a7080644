//! `hotline ticket` from a shell, as an operator would use it: create a ticket, then show it
//! with its routed department, deadline and audit trail; an illegal action is refused.

mod common;

use std::process::Command;

fn hotline(data: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(common::hotline_bin())
        .args(args)
        .current_dir(common::repo())
        .env("HOTLINE__DATA_DIR", data)
        .env("RUST_LOG", "warn")
        .output()
        .expect("hotline runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[test]
fn create_then_show_prints_department_and_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = hotline(
        dir.path(),
        &[
            "ticket",
            "create",
            "--phone",
            "13800000000",
            "--kind",
            "complaint",
            "--text",
            "解放路的路灯坏了三天了",
        ],
    );
    assert!(ok, "{err}");
    let number = out
        .lines()
        .find_map(|l| l.strip_prefix("工单编号 (number):"))
        .map(|s| s.trim().to_string())
        .expect("the new ticket's number is printed");
    assert_eq!(number.len(), 12);

    let (ok, out, err) = hotline(dir.path(), &["ticket", "show", &number]);
    assert!(ok, "{err}");
    assert!(out.contains("市城市管理局 (urban_management)"), "{out}");
    assert!(out.contains("办理时限 (deadline):"), "{out}");
    assert!(
        out.contains("[utilities]"),
        "street lights are a utilities deadline: {out}"
    );
    assert!(
        out.contains("create") && out.contains("dispatch"),
        "audit trail shown: {out}"
    );

    let (ok, out, _) = hotline(dir.path(), &["ticket", "show", &number, "--json"]);
    assert!(ok);
    let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["ticket"]["department"], "urban_management");
    assert_eq!(v["ticket"]["state"], "dispatched");

    // Resolving a ticket nobody signed for is not a step of the lifecycle.
    let (ok, _, err) = hotline(
        dir.path(),
        &["ticket", "act", &number, "resolve", "--text", "已修"],
    );
    assert!(!ok);
    assert!(
        err.contains("cannot resolve a ticket that is dispatched"),
        "{err}"
    );
    let (ok, _, err) = hotline(dir.path(), &["ticket", "act", &number, "sign"]);
    assert!(ok, "{err}");

    let (ok, out, _) = hotline(dir.path(), &["ticket", "list", "--state", "in_progress"]);
    assert!(ok);
    assert!(out.contains(&number), "{out}");
}

#[test]
fn unknown_ticket_and_bad_arguments_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, _, err) = hotline(dir.path(), &["ticket", "show", "202611269999"]);
    assert!(!ok);
    assert!(err.contains("no ticket 202611269999"), "{err}");
    let (ok, _, err) = hotline(
        dir.path(),
        &["ticket", "create", "--phone", "abc", "--text", "x"],
    );
    assert!(!ok);
    assert!(err.contains("invalid phone number"), "{err}");
}

/// `hotline report` prints the scorecard a director reads: the ticket just resolved on
/// time counts in today's 按时办结率, by department it is urban management's, and a bad
/// period is a clear error.
#[test]
fn report_prints_the_scorecard_of_a_period() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out, err) = hotline(
        dir.path(),
        &[
            "ticket",
            "create",
            "--phone",
            "13800000001",
            "--text",
            "解放路的路灯坏了三天了",
        ],
    );
    assert!(ok, "{err}");
    let number = out
        .lines()
        .find_map(|l| l.strip_prefix("工单编号 (number):"))
        .map(|s| s.trim().to_string())
        .expect("number");
    for args in [vec!["sign"], vec!["resolve", "--text", "已修复"]] {
        let mut a = vec!["ticket", "act", number.as_str()];
        a.extend(args);
        let (ok, _, err) = hotline(dir.path(), &a);
        assert!(ok, "{err}");
    }
    let today = chrono::Utc::now()
        .with_timezone(&chrono_tz::Asia::Shanghai)
        .format("%Y-%m-%d")
        .to_string();
    let (ok, out, err) = hotline(dir.path(), &["report", "--period", &today]);
    assert!(ok, "{err}");
    let line = out
        .lines()
        .find(|l| l.starts_with("按时办结率"))
        .expect("on-time row");
    assert!(line.contains("100%"), "{out}");
    let (ok, out, err) = hotline(
        dir.path(),
        &["report", "--period", &today, "--by", "department", "--json"],
    );
    assert!(ok, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let row = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == "urban_management")
        .expect("urban management's row");
    assert_eq!(row["tickets"]["resolved"], 1, "{row}");
    assert_eq!(row["label"], "市城市管理局");
    let (ok, _, err) = hotline(dir.path(), &["report", "--period", "last-year"]);
    assert!(!ok);
    assert!(err.contains("is not a period"), "{err}");
}
