use cqrs_es::Aggregate;
use cqrs_es::event_sink::EventSink;

/// The whole of every aggregate's `handle`: the decision is already made, so the events
/// are applied and recorded in order.
pub(crate) async fn write_all<A: Aggregate>(
    aggregate: &mut A,
    events: Vec<A::Event>,
    sink: &EventSink<A>,
) {
    for event in events {
        sink.write(event, aggregate).await;
    }
}
