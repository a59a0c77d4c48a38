//! Unbounded channels whose queue holds one pointer per message (Switchboard fork).
//!
//! tokio's mpsc channels allocate their first block of 32 slots when they are created. A
//! transaction's events (`TransactionEvent`, 344 bytes) and a dialog's states (`DialogState`,
//! 304 bytes) thus cost 10–11 KiB per channel before the first message — most of what a call
//! held in memory — and a transaction lives up to 32 s past its call (RFC 3261's timers J, L
//! and M). Boxed, a slot is 8 bytes and a channel's first block about 300; each message costs
//! one small allocation instead, and a transaction sees a handful of messages.
//!
//! The methods are those of tokio's unbounded channel that the crate and its users call, with
//! the message type unchanged, so the boxes stay inside.

use super::mpsc::{error::SendError, unbounded_channel, UnboundedReceiver, UnboundedSender};
use alloc::boxed::Box;

/// Sends to a [`BoxedReceiver`]; cloned for every party that may send.
pub struct BoxedSender<T>(UnboundedSender<Box<T>>);

/// Receives what [`BoxedSender`]s sent, in order.
pub struct BoxedReceiver<T>(UnboundedReceiver<Box<T>>);

/// A new unbounded channel with boxed slots.
pub fn boxed_channel<T>() -> (BoxedSender<T>, BoxedReceiver<T>) {
    let (tx, rx) = unbounded_channel();
    (BoxedSender(tx), BoxedReceiver(rx))
}

impl<T> Clone for BoxedSender<T> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<T> core::fmt::Debug for BoxedSender<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("BoxedSender")
    }
}

impl<T> core::fmt::Debug for BoxedReceiver<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("BoxedReceiver")
    }
}

impl<T> BoxedSender<T> {
    /// Never blocks; fails (giving the message back) once the receiver is gone.
    pub fn send(&self, value: T) -> Result<(), SendError<T>> {
        self.0.send(Box::new(value)).map_err(|e| SendError(*e.0))
    }

    /// Whether the receiver is gone.
    #[cfg(feature = "platform-tokio")]
    pub fn is_closed(&self) -> bool {
        self.0.is_closed()
    }
}

impl<T> BoxedReceiver<T> {
    /// The next message; `None` once every sender is gone and the queue is empty.
    /// Cancel-safe, as tokio's: nothing is taken until a message is returned.
    pub async fn recv(&mut self) -> Option<T> {
        self.0.recv().await.map(|b| *b)
    }

    /// The next message if one is queued.
    #[cfg(feature = "platform-tokio")]
    pub fn try_recv(&mut self) -> Result<T, super::mpsc::error::TryRecvError> {
        self.0.try_recv().map(|b| *b)
    }

    /// No more messages are accepted; those queued can still be received.
    #[cfg(feature = "platform-tokio")]
    pub fn close(&mut self) {
        self.0.close()
    }
}

#[cfg(all(test, feature = "platform-tokio"))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_arrive_in_order_and_a_closed_channel_gives_them_back() {
        let (tx, mut rx) = boxed_channel::<[u8; 300]>();
        let other = tx.clone();
        tx.send([1; 300]).unwrap();
        other.send([2; 300]).unwrap();
        assert_eq!(rx.recv().await.map(|m| m[0]), Some(1));
        assert_eq!(rx.try_recv().map(|m| m[0]).ok(), Some(2));
        assert!(rx.try_recv().is_err());
        drop(rx);
        assert!(tx.is_closed());
        assert_eq!(tx.send([3; 300]).map_err(|e| e.0[0]), Err(3));
    }
}
