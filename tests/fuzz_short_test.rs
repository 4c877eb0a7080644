//! The short run of every fuzz target (docs/fuzzing.md): each seed of `fuzz/corpus/<target>/`
//! through the target's harness, then a few thousand seeded mutations of them, in the
//! ordinary test build (overflow checks on). The long AFL++ runs are `bench/fuzz.sh`.
//!
//! An input that panics is written to `target/fuzz-short/<target>-<n>` and named in the
//! failure, so it can be replayed with `bench/fuzz.sh` or added to the corpus once fixed.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use hotline::fuzzing::TARGETS;

/// Mutated inputs per target; `HOTLINE_FUZZ_SHORT_RUNS` raises it for a longer local run.
const RUNS: usize = 1500;

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|p| std::fs::read(p).expect("corpus file"))
        .collect()
}

/// xorshift64*: the same mutations on every run, so a failure can be repeated.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes a parser tends to count, split or stop on.
const INTERESTING: &[u8] = &[
    0, 1, 0x7f, 0x80, 0xff, b'\r', b'\n', b' ', b':', b';', b'=', b'/',
];

/// AFL's havoc stage in small: a few stacked flips, overwrites, inserts, deletes, clones
/// and splices with another seed.
fn mutate(rng: &mut Rng, input: &[u8], seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        let i = at.min(v.len().saturating_sub(1));
        match rng.below(8) {
            0 if !v.is_empty() => v[i] ^= 1 << rng.below(8),
            1 if !v.is_empty() => v[i] = rng.next() as u8,
            2 if !v.is_empty() => v[i] = INTERESTING[rng.below(INTERESTING.len())],
            3 => v.insert(at, INTERESTING[rng.below(INTERESTING.len())]),
            4 => {
                let end = (at + rng.below(32)).min(v.len());
                v.drain(at..end);
            }
            5 => {
                let end = (at + rng.below(64)).min(v.len());
                let chunk = v[at..end].to_vec();
                let to = rng.below(v.len() + 1);
                v.splice(to..to, chunk);
            }
            6 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                v.truncate(at);
                v.extend_from_slice(&other[from..]);
            }
            _ => v.truncate(at),
        }
    }
    v
}

fn keep(target: &str, n: usize, input: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-short");
    std::fs::create_dir_all(&dir).expect("findings folder");
    let path = dir.join(format!("{target}-{n}"));
    std::fs::write(&path, input).expect("finding written");
    path
}

#[test]
fn every_fuzz_target_survives_its_corpus_and_a_short_mutation_run() {
    let runs = std::env::var("HOTLINE_FUZZ_SHORT_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RUNS);
    // Panics are caught and reported below; the default hook's backtraces would only
    // bury the list.
    std::panic::set_hook(Box::new(|_| {}));
    let mut failures = vec![];
    for (i, (target, harness)) in TARGETS.iter().enumerate() {
        let seeds = corpus(target);
        assert!(!seeds.is_empty(), "fuzz/corpus/{target}/ has no seed");
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
        let mutated = (0..runs).map(|_| {
            let s = &seeds[rng.below(seeds.len())];
            mutate(&mut rng, s, &seeds)
        });
        for (n, input) in seeds.clone().into_iter().chain(mutated).enumerate() {
            if catch_unwind(AssertUnwindSafe(|| harness(&input))).is_err() {
                failures.push(format!("{target}: {}", keep(target, n, &input).display()));
                break;
            }
        }
    }
    let _ = std::panic::take_hook();
    assert!(
        failures.is_empty(),
        "inputs that panic a parser:\n{}",
        failures.join("\n")
    );
}

#[test]
fn every_fuzz_target_has_a_binary_and_a_corpus() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (target, _) in TARGETS {
        let bin = root.join("src/bin").join(format!("{target}.rs"));
        assert!(bin.exists(), "{} is missing", bin.display());
        assert!(
            root.join("corpus").join(target).is_dir(),
            "fuzz/corpus/{target}/ is missing"
        );
    }
}
