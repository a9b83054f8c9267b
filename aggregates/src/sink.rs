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

/// `cqrs_es::Aggregate` for an aggregate that decides with its own pure
/// `decide(&self, command) -> Result<Vec<Event>, Error>` and changes with its own
/// `evolve(&mut self, event)`: the five aggregates differ only in those two.
macro_rules! decided_aggregate {
    ($aggregate:ty, $name:literal, $command:ty, $event:ty, $error:ty) => {
        impl cqrs_es::Aggregate for $aggregate {
            const TYPE: &'static str = $name;
            type Command = $command;
            type Event = $event;
            type Error = $error;
            type Services = ();

            async fn handle(
                &mut self,
                command: Self::Command,
                _services: &Self::Services,
                sink: &cqrs_es::event_sink::EventSink<Self>,
            ) -> Result<(), Self::Error> {
                let events = self.decide(command)?;
                $crate::sink::write_all(self, events, sink).await;
                Ok(())
            }

            fn apply(&mut self, event: Self::Event) {
                self.evolve(event);
            }
        }
    };
}

pub(crate) use decided_aggregate;
