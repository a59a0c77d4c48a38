//! Media: SDP offer/answer, RTP, G.711, RFC 4733 digits and prompts. Knows nothing about WASM
//! or the database (DESIGN §2).

pub mod bridge;
pub mod dtmf;
pub mod g711;
pub mod inband;
pub mod latch;
pub mod library;
pub mod mixer;
pub mod ports;
pub mod prompt;
pub mod recorder;
pub mod rtp;
pub mod sdp;
pub mod session;
pub mod speech;

pub use bridge::{BridgeEnd, BridgeSide};
pub use library::{BEEP, PromptLibrary, RINGBACK};
pub use ports::{PortRange, RtpSocket};
pub use prompt::{Prompt, PromptError};
pub use recorder::{CallRecorder, Recorded, Recorder};
pub use sdp::{Codec, Direction, FaxMedia, LocalSdp, MediaOffer, OFFERED_TELEPHONE_EVENT};
pub use session::{MediaSession, RecordEnd};

/// For the media tests.
#[cfg(test)]
mod testing {
    /// Runs `future` to its end; what it returned and how often it was polled (a flow waiting
    /// on media is charged for each wake-up).
    pub async fn polled<F: Future>(future: F) -> (F::Output, u32) {
        let mut future = std::pin::pin!(future);
        let mut polls = 0;
        let out = std::future::poll_fn(|cx| {
            polls += 1;
            future.as_mut().poll(cx)
        })
        .await;
        (out, polls)
    }
}
