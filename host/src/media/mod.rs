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
