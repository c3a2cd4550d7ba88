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
/// could not be sent), which would loop. A regular session that failed is retried as one
/// (`retry_owed`) before anything else: a heartbeat is postponed while regular sessions are
/// failing (as the C daemon does). Otherwise a heartbeat when one is owed: it goes alone, so
/// it waits while other events are being delivered.
pub(super) fn wanted(
    events_pending: bool,
    retry_owed: bool,
    stalled: bool,
    heartbeat_pending: bool,
) -> Wanted {
    if retry_owed || events_pending && !stalled {
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
        // (events pending, retry owed, stalled, heartbeat owed) -> session
        let table = [
            ((false, false, false, false), Nothing),
            ((true, false, false, false), Regular),
            ((true, false, false, true), Regular),
            ((true, false, true, false), Nothing),
            ((true, false, true, true), Heartbeat),
            ((false, false, false, true), Heartbeat),
            ((false, false, true, true), Heartbeat),
            // A failed regular session is retried before any heartbeat, even when its
            // InformResponse had emptied the queue or the events were stalled.
            ((false, true, false, false), Regular),
            ((false, true, false, true), Regular),
            ((true, true, true, true), Regular),
            ((false, true, true, true), Regular),
        ];
        for ((e, r, s, h), want) in table {
            assert_eq!(
                wanted(e, r, s, h),
                want,
                "events {e}, retry {r}, stalled {s}, heartbeat {h}"
            );
        }
    }
}
