//! [`Inbox`]: how a thread hands its messages to the main loop.
//!
//! The main loop reads a single channel of a single message type (`agent::Input`); each
//! producer (connection requests, signals, transfer and DU workers, the `tr069` object) gets
//! an `Inbox` of its own message type that wraps it on the way. Producers stay unaware of the
//! agent, and the binary carries the generic channel code once instead of once per message
//! type (about 3 KB each).

use std::sync::Arc;

/// A place to send messages of type `T`; cheap to clone.
pub struct Inbox<T>(Arc<dyn Fn(T) -> bool + Send + Sync>);

impl<T> Clone for Inbox<T> {
    fn clone(&self) -> Inbox<T> {
        Inbox(self.0.clone())
    }
}

impl<T> Inbox<T> {
    /// An inbox that hands each message to `deliver` (false: the receiver is gone).
    pub fn new(deliver: impl Fn(T) -> bool + Send + Sync + 'static) -> Inbox<T> {
        Inbox(Arc::new(deliver))
    }

    /// Delivers `msg`; false when the receiving side is gone.
    pub fn send(&self, msg: T) -> bool {
        (self.0)(msg)
    }
}

impl<T: Send + 'static> Inbox<T> {
    /// An inbox with a channel of its own, and that channel's receiver (tests, and consumers
    /// that want this message type alone).
    pub fn channel() -> (Inbox<T>, crossbeam_channel::Receiver<T>) {
        let (tx, rx) = crossbeam_channel::unbounded();
        (Inbox::new(move |m| tx.send(m).is_ok()), rx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delivers_until_the_receiver_is_gone() {
        let (inbox, rx) = Inbox::channel();
        let copy = inbox.clone();
        assert!(inbox.send(1));
        assert!(copy.send(2));
        assert_eq!(rx.try_iter().collect::<Vec<_>>(), [1, 2]);
        drop(rx);
        assert!(!inbox.send(3));
    }

    #[test]
    fn wraps_into_a_shared_channel() {
        #[derive(Debug, PartialEq)]
        enum Both {
            Num(u8),
            Text(&'static str),
        }
        let (tx, rx) = crossbeam_channel::unbounded();
        let wrap = |f: fn(u8) -> Both| {
            let tx = tx.clone();
            Inbox::new(move |m| tx.send(f(m)).is_ok())
        };
        let nums: Inbox<u8> = wrap(Both::Num);
        let tx2 = tx.clone();
        let texts: Inbox<&'static str> = Inbox::new(move |m| tx2.send(Both::Text(m)).is_ok());
        nums.send(7);
        texts.send("x");
        assert_eq!(
            rx.try_iter().collect::<Vec<_>>(),
            [Both::Num(7), Both::Text("x")]
        );
    }
}
