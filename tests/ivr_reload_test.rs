//! Changing a dialplan while calls are running: the hotline reloads it, calls in progress
//! finish undisturbed on the version they started with, new calls get the new version, and
//! a broken file is refused while the last good set keeps answering.

mod common;

use std::time::{Duration, Instant};

use common::serve::{scenario, sipp, Hotline, Step};
use hotline::store::Db;
use sqlx::Row;

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_under_load_disturbs_no_call() {
    let plans = tempfile::tempdir().unwrap();
    copy_dir(&common::repo().join("dialplans"), plans.path());
    let h = Hotline::start(&[
        (
            "HOTLINE__IVR__DIALPLAN_DIR",
            plans.path().display().to_string(),
        ),
        (
            "HOTLINE__IVR__CATALOG_FILE",
            plans
                .path()
                .join("catalog/pieces.toml")
                .display()
                .to_string(),
        ),
        ("HOTLINE__IVR__RELOAD_POLL_SECS", "1".into()),
    ]);
    let long = h.dir.path().join("long.xml");
    std::fs::write(
        &long,
        scenario("13800138020", &[Step::Pause(15_000), Step::Bye]),
    )
    .unwrap();

    std::thread::scope(|s| {
        let h = &h;
        let running = {
            let long = long.clone();
            s.spawn(move || sipp(h, &long, "12345", &["-m", "4", "-l", "4", "-r", "10"]))
        };
        std::thread::sleep(Duration::from_secs(3));
        let file = plans.path().join("12345.toml");
        let text = std::fs::read_to_string(&file).unwrap();
        let changed = text
            .replacen("prompts = [\"welcome\"]", "prompts = [\"welcome2\"]", 1)
            .replacen(
                "[prompts]\n",
                "[prompts]\nwelcome2 = { zh = \"您好，这里是12345热线。\", en = \"Hello, 12345 hotline.\" }\n",
                1,
            );
        assert_ne!(changed, text);
        std::fs::write(&file, changed).unwrap();
        h.wait_for_log("dialplans reloaded", Duration::from_secs(30));

        // A broken file next to it: refused, the running set stays.
        std::fs::copy(
            common::repo().join("tests/dialplans/broken/unknown_node.toml"),
            plans.path().join("broken.toml"),
        )
        .unwrap();
        h.wait_for_log("dialplan reload refused", Duration::from_secs(30));

        let (ok, out) = running.join().unwrap();
        assert!(ok, "every call in progress ended normally:\n{out}");
        assert!(out.contains("Successful call"), "{out}");
    });

    // SIGHUP reloads at once (the broken file removed first, so the reload succeeds).
    std::fs::remove_file(plans.path().join("broken.toml")).unwrap();
    let before = h.log().matches("dialplans reloaded").count();
    std::process::Command::new("kill")
        .args(["-HUP", &h.pid().to_string()])
        .status()
        .unwrap();
    h.wait_for_log("SIGHUP: reloading dialplans", Duration::from_secs(10));
    let until = Instant::now() + Duration::from_secs(20);
    while h.log().matches("dialplans reloaded").count() == before {
        assert!(
            Instant::now() < until,
            "SIGHUP did not reload:\n{}",
            h.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    let short = h.dir.path().join("short.xml");
    std::fs::write(
        &short,
        scenario("13800138021", &[Step::Pause(3000), Step::Bye]),
    )
    .unwrap();
    let (ok, out) = sipp(&h, &short, "12345", &[]);
    assert!(ok, "a call after the reload works:\n{out}\n{}", h.log());

    let db = Db::connect_url(&h.db_url()).await.unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    let rows = loop {
        let rows =
            sqlx::query("SELECT caller, prompts FROM calls WHERE ended_at IS NOT NULL ORDER BY id")
                .fetch_all(db.pool())
                .await
                .unwrap();
        if rows.len() >= 5 || Instant::now() > until {
            break rows;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(rows.len(), 5, "four calls during the reload and one after");
    for r in &rows {
        let caller: String = r.get(0);
        let prompts: Vec<String> = serde_json::from_str(&r.get::<String, _>(1)).unwrap();
        let first = prompts.first().map(String::as_str);
        if caller == "13800138021" {
            assert_eq!(first, Some("welcome2"), "new calls use the new dialplan");
        } else {
            assert_eq!(
                first,
                Some("welcome"),
                "calls in progress keep the version they started with"
            );
        }
    }
}
