use std::collections::HashMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Who caused an event: a user, or the system itself (processors, timers, operators' CLI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(into = "String", from = "String")]
pub enum Actor {
    /// The authenticated user with this id.
    User(uuid::Uuid),
    /// ScoreMate itself.
    System,
}

impl From<Actor> for String {
    fn from(actor: Actor) -> Self {
        match actor {
            Actor::User(id) => id.to_string(),
            Actor::System => "system".to_owned(),
        }
    }
}

impl From<String> for Actor {
    fn from(raw: String) -> Self {
        uuid::Uuid::parse_str(&raw).map_or(Self::System, Self::User)
    }
}

/// What every stored event carries besides its payload (DESIGN.md §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMetadata {
    /// When the command that produced the event was decided (UTC).
    pub occurred_at: DateTime<Utc>,
    /// Who caused it.
    pub actor: Actor,
    /// The HTTP request (or CLI invocation) that issued the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The event a processor reacted to when it issued the command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causation_id: Option<String>,
    /// The request or event that started the chain this event belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
}

impl EventMetadata {
    /// Metadata for a command issued now by `actor`.
    pub fn new(actor: Actor, occurred_at: DateTime<Utc>) -> Self {
        Self {
            occurred_at,
            actor,
            request_id: None,
            causation_id: None,
            correlation_id: None,
        }
    }

    #[must_use]
    pub fn with_request_id(mut self, request_id: impl Into<String>) -> Self {
        self.request_id = Some(request_id.into());
        self
    }

    #[must_use]
    pub fn caused_by(
        mut self,
        causation_id: impl Into<String>,
        correlation_id: impl Into<String>,
    ) -> Self {
        self.causation_id = Some(causation_id.into());
        self.correlation_id = Some(correlation_id.into());
        self
    }

    /// The flat string map cqrs-es stores beside each event.
    pub fn to_map(&self) -> HashMap<String, String> {
        let mut map = HashMap::from([
            (
                "occurred_at".to_owned(),
                self.occurred_at
                    .to_rfc3339_opts(SecondsFormat::Micros, true),
            ),
            ("actor".to_owned(), String::from(self.actor.clone())),
        ]);
        let optional = [
            ("request_id", &self.request_id),
            ("causation_id", &self.causation_id),
            ("correlation_id", &self.correlation_id),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                map.insert(key.to_owned(), value.clone());
            }
        }
        map
    }

    /// Reads the metadata back from a stored event's JSON.
    pub fn from_json(value: &serde_json::Value) -> Option<Self> {
        Self::deserialize(value).ok()
    }

    /// Reads the metadata back from a stored event's JSON text.
    pub fn from_json_text(text: &str) -> Option<Self> {
        serde_json::from_str(text).ok()
    }
}
