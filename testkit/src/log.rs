//! Reading the global log to its end in tests.

use std::time::{Duration, Instant};

use eventstore::{EventLog, LogCursor, RecordedEvent};

/// Every event committed before the call, in log order.
///
/// On PostgreSQL an event is readable only once every older transaction of the cluster
/// has finished — including other tests' transactions in other databases — so an empty
/// batch before the head means "not yet", not "done".
pub async fn read_whole_log(log: &EventLog, batch: u32) -> Vec<RecordedEvent> {
    let head = log
        .head()
        .await
        .unwrap_or_else(|error| panic!("log head: {error}"));
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut cursor = LogCursor::START;
    let mut events = Vec::new();
    while cursor < head {
        let page = log
            .read_after(cursor, batch)
            .await
            .unwrap_or_else(|error| panic!("reading the log: {error}"));
        match page.last() {
            Some(last) => cursor = last.cursor,
            None if Instant::now() > deadline => panic!("the log did not reach its head {head:?}"),
            None => tokio::time::sleep(Duration::from_millis(10)).await,
        }
        events.extend(page);
    }
    events
}
