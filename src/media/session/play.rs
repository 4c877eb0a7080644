//! Playing prompts and ringback to the caller; a key press can cut a prompt short.

use std::sync::Arc;

use super::state::{Shared, Source};
use super::MediaSession;
use crate::media::dtmf::Digit;
use crate::media::prompt::Prompt;

/// How a `play` ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayOutcome {
    /// The whole prompt was sent.
    Finished,
    /// The caller pressed a key (barge-in); the digit is consumed and returned here.
    Interrupted(Digit),
    /// The caller started speaking while the tape listens (`play_listening`).
    Speech,
    /// The session ended (hang-up, RTP timeout) or the prompt was replaced by another
    /// play, ringback, bridge or `stop_audio`.
    Ended,
}

impl MediaSession {
    /// Play a prompt from its start. Returns when it has been sent completely, when a
    /// digit arrives (if `barge_in`; a digit already queued interrupts at once), or when the
    /// session ends. Digits pressed during a prompt without barge-in stay queued.
    pub async fn play(&self, prompt: &Arc<Prompt>, barge_in: bool) -> PlayOutcome {
        self.play_until(prompt, barge_in, false).await
    }

    /// Like `play` with barge-in, and the prompt also yields when the caller starts
    /// speaking (the tape must be listening; the words stay on it).
    pub async fn play_listening(&self, prompt: &Arc<Prompt>) -> PlayOutcome {
        self.play_until(prompt, true, true).await
    }

    async fn play_until(&self, prompt: &Arc<Prompt>, barge_in: bool, speech: bool) -> PlayOutcome {
        let spoke =
            |st: &super::state::State| speech && st.tape.as_ref().is_some_and(|t| t.pending());
        let gen = {
            let mut st = self.sh.lock();
            if self.sh.end_reason().is_some() {
                return PlayOutcome::Ended;
            }
            if barge_in {
                if let Some(d) = st.digits.pop_front() {
                    return PlayOutcome::Interrupted(d);
                }
            }
            if spoke(&st) {
                return PlayOutcome::Speech;
            }
            st.play_gen += 1;
            let gen = st.play_gen;
            st.source = Source::Prompt {
                prompt: prompt.clone(),
                pos: 0,
                gen,
            };
            st.marker_next = true;
            gen
        };
        let _guard = PlayGuard { sh: &self.sh, gen };
        loop {
            let notified = self.sh.notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            {
                let mut st = self.sh.lock();
                if st.play_done_gen >= gen {
                    return PlayOutcome::Finished;
                }
                if self.sh.end_reason().is_some() {
                    return PlayOutcome::Ended;
                }
                if st.play_gen != gen || !matches!(st.source, Source::Prompt { .. }) {
                    return PlayOutcome::Ended;
                }
                if barge_in {
                    if let Some(d) = st.digits.pop_front() {
                        st.source = Source::Silence;
                        return PlayOutcome::Interrupted(d);
                    }
                }
                if spoke(&st) {
                    st.source = Source::Silence;
                    return PlayOutcome::Speech;
                }
            }
            notified.await;
        }
    }

    /// Send ringback tone (425 Hz, 1 s on, 4 s off) until something else is played,
    /// `stop_audio` is called, or a bridge starts.
    pub fn start_ringback(&self) {
        let mut st = self.sh.lock();
        st.source = Source::Ringback { pos: 0 };
        st.marker_next = true;
        drop(st);
        self.sh.notify.notify_waiters();
    }

    /// Stop whatever plays (prompt, ringback, bridged audio) and send silence.
    pub fn stop_audio(&self) {
        let mut st = self.sh.lock();
        st.source = Source::Silence;
        drop(st);
        self.sh.notify.notify_waiters();
    }
}

struct PlayGuard<'a> {
    sh: &'a Shared,
    gen: u64,
}

impl Drop for PlayGuard<'_> {
    fn drop(&mut self) {
        let mut st = self.sh.lock();
        if let Source::Prompt { gen, .. } = st.source {
            if gen == self.gen {
                st.source = Source::Silence;
            }
        }
    }
}
