//! Which session the agent's pending work asks for: the rules alone, so they are tested
//! without a daemon.

/// The kind of session pending work asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Wanted {
    /// None.
    Nothing,
    /// A session for the pending events.
    Regular,
    /// A `14 HEARTBEAT` session, carrying that event alone (digest 6.5).
    Heartbeat,
}

/// A regular session when events wait that a session can still deliver: not when the last
/// successful session left exactly these events undelivered (`stalled`: their follow-up RPC
/// could not be sent), which would loop. Otherwise a heartbeat when one is owed: it goes
/// alone, so it waits while other events are being delivered.
pub(super) fn wanted(events_pending: bool, stalled: bool, heartbeat_pending: bool) -> Wanted {
    if events_pending && !stalled {
        Wanted::Regular
    } else if heartbeat_pending {
        Wanted::Heartbeat
    } else {
        Wanted::Nothing
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_first_heartbeat_alone_and_stalled_events_wait() {
        use Wanted::*;
        // (events pending, stalled, heartbeat owed) -> session
        let table = [
            ((false, false, false), Nothing),
            ((true, false, false), Regular),
            ((true, false, true), Regular),
            ((true, true, false), Nothing),
            ((true, true, true), Heartbeat),
            ((false, false, true), Heartbeat),
            ((false, true, true), Heartbeat),
        ];
        for ((e, s, h), want) in table {
            assert_eq!(
                wanted(e, s, h),
                want,
                "events {e}, stalled {s}, heartbeat {h}"
            );
        }
    }
}
