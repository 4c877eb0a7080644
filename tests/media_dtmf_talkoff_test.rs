//! Talk-off: Mandarin and English speech (the speech fixtures, 8 kHz WAV) must not produce
//! in-band DTMF digits, while real key presses between the sentences are all found.

use hotline::media::dtmf::ToneDetector;
use hotline::media::tone::dtmf_tone;
use hotline::media::{Digit, Prompt};

fn speech_files() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/speech");
    let mut v: Vec<_> = std::fs::read_dir(&dir)
        .expect("speech fixtures")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "wav"))
        .collect();
    v.sort();
    assert!(
        v.len() >= 5,
        "expected the speech fixtures in {}",
        dir.display()
    );
    v
}

fn detect(pcm: &[i16]) -> String {
    let mut d = ToneDetector::new();
    let mut out = String::new();
    for frame in pcm.chunks(160) {
        d.feed(frame, |dg| out.push(dg.as_char()));
    }
    out
}

#[test]
fn speech_produces_no_digits() {
    for path in speech_files() {
        let p = Prompt::load(&path).unwrap();
        assert!(p.len() > 8000, "{}", path.display());
        // As heard, and 6 dB louder (a caller shouting into the phone).
        let loud: Vec<i16> = p.pcm().iter().map(|&s| s.saturating_mul(2)).collect();
        assert_eq!(detect(p.pcm()), "", "talk-off in {}", path.display());
        assert_eq!(detect(&loud), "", "talk-off in loud {}", path.display());
    }
}

#[test]
fn key_presses_between_sentences_are_all_found() {
    let keys = "1590#*";
    let mut pcm = Vec::new();
    for (path, k) in speech_files().iter().zip(keys.chars()) {
        pcm.extend_from_slice(Prompt::load(path).unwrap().pcm());
        pcm.extend(dtmf_tone(Digit::from_char(k).unwrap(), 70, -14.0, 3.0));
        pcm.extend(std::iter::repeat_n(0i16, 400));
    }
    assert_eq!(detect(&pcm), keys);
}
