//! `hotline check` on dialplans: each file in tests/dialplans/broken has one mistake and
//! names, on its first line, the exact problem (line and sentence) the validator must report.
//! The demo dialplans must pass, and `hotline check` must fail on a broken one.

mod common;

use std::collections::BTreeSet;

use hotline::ivr::validate::{check, Context};

fn context(dir: &std::path::Path) -> Context {
    #[derive(serde::Deserialize)]
    struct Catalog {
        prompts: std::collections::BTreeMap<String, hotline::ivr::format::PromptDef>,
    }
    let text =
        std::fs::read_to_string(common::repo().join("dialplans/catalog/pieces.toml")).unwrap();
    let cat: Catalog = toml::from_str(&text).unwrap();
    Context {
        shared_prompts: cat.prompts,
        destinations: BTreeSet::from(["operators".to_string()]),
        queues: Some(BTreeSet::from(["operators".to_string()])),
        prompt_dir: dir.to_path_buf(),
    }
}

#[test]
fn every_broken_dialplan_gets_its_exact_error() {
    let dir = common::repo().join("tests/dialplans/broken");
    let ctx = context(&dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    let mut failures = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let first = text.lines().next().unwrap();
        let (prefix_only, spec) = if let Some(s) = first.strip_prefix("# expect-prefix: ") {
            (true, s)
        } else {
            (
                false,
                first
                    .strip_prefix("# expect: ")
                    .expect("first line names the expected error"),
            )
        };
        let (line, message) = spec.split_once(": ").unwrap();
        let line: usize = line.parse().unwrap();
        let problems = match check(&f, &text, &ctx) {
            Ok(_) => {
                failures.push(format!("{}: accepted, expected `{spec}`", f.display()));
                continue;
            }
            Err(p) => p,
        };
        let found = problems.iter().any(|p| {
            p.line == Some(line)
                && if prefix_only {
                    p.message.starts_with(message)
                } else {
                    p.message == message
                }
        });
        if !found {
            let got: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
            failures.push(format!(
                "{}: expected `{spec}`, got:\n  {}",
                f.display(),
                got.join("\n  ")
            ));
        }
        // The problem names the file, so a person knows where to look.
        assert!(problems[0]
            .to_string()
            .starts_with(&f.display().to_string()));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_demo_dialplans_are_valid() {
    let dir = common::repo().join("dialplans");
    let ctx = context(&dir);
    for f in std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()) {
        if f.extension().is_some_and(|x| x == "toml") {
            let text = std::fs::read_to_string(&f).unwrap();
            if let Err(p) = check(&f, &text, &ctx) {
                panic!(
                    "{}",
                    p.iter()
                        .map(|p| p.to_string())
                        .collect::<Vec<_>>()
                        .join("\n")
                );
            }
        }
    }
}

#[test]
fn hotline_check_fails_on_a_broken_dialplan_and_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::repo().join("tests/dialplans/broken/unknown_node.toml"),
        dir.path().join("12345.toml"),
    )
    .unwrap();
    let out = std::process::Command::new(common::hotline_bin())
        .arg("check")
        .current_dir(common::repo())
        .env("HOTLINE__IVR__DIALPLAN_DIR", dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("12345.toml:11: node `menu` sends the caller (choices.1) to `stauts`"),
        "{err}"
    );

    let ok = std::process::Command::new(common::hotline_bin())
        .arg("check")
        .current_dir(common::repo())
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stdout).contains("dialplans OK: 12345"));
}
