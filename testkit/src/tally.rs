//! A minimal aggregate for exercising the event store without any business rules.

use cqrs_es::event_sink::EventSink;
use cqrs_es::{Aggregate, DomainEvent};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Tally {
    pub count: u64,
    pub last_note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TallyCommand {
    Add {
        by: u64,
        note: Option<String>,
    },
    /// Appends `n` events in one commit.
    AddMany {
        n: u64,
    },
    Refuse,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum TallyEvent {
    Added { by: u64, note: Option<String> },
}

impl DomainEvent for TallyEvent {
    fn event_type(&self) -> String {
        "Added".to_owned()
    }

    fn event_version(&self) -> String {
        "1.0".to_owned()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("refused")]
pub struct Refused;

impl Aggregate for Tally {
    const TYPE: &'static str = "Tally";
    type Command = TallyCommand;
    type Event = TallyEvent;
    type Error = Refused;
    type Services = ();

    async fn handle(
        &mut self,
        command: TallyCommand,
        _services: &(),
        sink: &EventSink<Self>,
    ) -> Result<(), Refused> {
        let events = match command {
            TallyCommand::Add { by, note } => vec![TallyEvent::Added { by, note }],
            TallyCommand::AddMany { n } => (0..n)
                .map(|_| TallyEvent::Added { by: 1, note: None })
                .collect(),
            TallyCommand::Refuse => return Err(Refused),
        };
        for event in events {
            sink.write(event, self).await;
        }
        Ok(())
    }

    fn apply(&mut self, event: TallyEvent) {
        match event {
            TallyEvent::Added { by, note } => {
                self.count += by;
                self.last_note = note;
            }
        }
    }
}
