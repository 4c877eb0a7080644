//! Reading exports back as a spreadsheet user would: XLSX with openpyxl, CSV with Python's
//! csv module (both from the test venv that `scripts/setup test` makes, or `PYTHON`).

use std::process::Command;

use serde_json::Value;

pub fn python() -> String {
    if let Ok(p) = std::env::var("PYTHON") {
        return p;
    }
    let venv = super::common::repo().join("target/test-venv/bin/python");
    assert!(
        venv.exists(),
        "the test venv is needed (scripts/setup test), or PYTHON=/path/to/python with openpyxl"
    );
    venv.display().to_string()
}

/// Every row of the first sheet, as openpyxl reads it (numbers stay numbers).
pub fn xlsx_rows(bytes: &[u8]) -> (String, Vec<Vec<Value>>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.xlsx");
    std::fs::write(&path, bytes).unwrap();
    let script = r#"
import json, sys, openpyxl
wb = openpyxl.load_workbook(sys.argv[1])
ws = wb.worksheets[0]
rows = [[c for c in r] for r in ws.iter_rows(values_only=True)]
print(json.dumps({"sheet": ws.title, "freeze": ws.freeze_panes, "rows": rows}, ensure_ascii=False))
"#;
    let out = Command::new(python())
        .args(["-c", script])
        .arg(&path)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "openpyxl could not open the export: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["freeze"], "A2", "the header row stays on screen");
    let rows = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_array().unwrap().clone())
        .collect();
    (v["sheet"].as_str().unwrap().to_string(), rows)
}

/// The CSV as Python's csv module reads it (after the byte-order mark).
pub fn csv_rows(bytes: &[u8]) -> Vec<Vec<String>> {
    assert!(
        bytes.starts_with(b"\xef\xbb\xbf"),
        "a CSV for Excel starts with a BOM"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("export.csv");
    std::fs::write(&path, bytes).unwrap();
    let script = r#"
import csv, json, sys
with open(sys.argv[1], newline="", encoding="utf-8-sig") as f:
    print(json.dumps(list(csv.reader(f)), ensure_ascii=False))
"#;
    let out = Command::new(python())
        .args(["-c", script])
        .arg(&path)
        .output()
        .expect("python runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}
