//! Property: whatever two sessions of one user do with uploads — reserve, put and confirm,
//! cancel, delete, let expire — one at a time or at the same moment, after every step
//! `used` is the sum of the live scores' sizes, `reserved` the sum of the open
//! reservations, `used + reserved <= limit`, and `/quota/history` adds up to `/quota`.
//!
//! Model-based: the model (`integration_tests::quota_model`) follows the API's answers;
//! two requests sent together must be explained by some interleaving of their steps.
//! `PROPTEST_CASES` and `PROPTEST_RNG_SEED` apply as usual.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};

use integration_tests::quota_model::{Action, Observed, QuotaModel, Slot, UploadState, explain};
use integration_tests::upload_client::{
    Answer, HistoryError, QuotaBalance, Ticket, UploadClient, junk_bytes_of_size, pdf_bytes_of_size,
};
use integration_tests::{PASSWORD, TestApp, spawn_app_with, unique_email};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::Value;
use testkit::TestDatabase;

/// Small enough that a few uploads of up to `MAX_SIZE` bytes run into it.
const LIMIT: u64 = 5_000;
const MAX_SIZE: u64 = 1_500;
/// Small, so that reading the history walks several pages.
const HISTORY_PAGE_SIZE: u32 = 7;
/// How often an expiry step drains the processors at most (see `Run::settle_expiry`).
const EXPIRY_DRAINS: usize = 20;

/// Which upload an operation acts on.
#[derive(Debug, Clone, Copy)]
enum Target {
    /// One for which the operation can succeed (open for confirm and cancel, a live score
    /// for delete), if there is any.
    Apt(Index),
    /// Any upload made so far.
    Any(Index),
}

/// What one client does in a step.
#[derive(Debug, Clone, Copy)]
enum ClientOp {
    /// Asks to upload `size` bytes; `pdf` tells whether the bytes will be a PDF.
    Reserve {
        size: u64,
        pdf: bool,
    },
    /// Asks for exactly what is available, plus `extra` bytes.
    ReserveRest {
        extra: u64,
    },
    /// Confirms an upload, PUTting its bytes first when `put`.
    Confirm {
        target: Target,
        put: bool,
    },
    Cancel {
        target: Target,
    },
    Delete {
        target: Target,
    },
}

/// One step of a run.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// One client acts alone.
    Alone { client: usize, op: ClientOp },
    /// Both clients act at the same moment.
    Together { first: ClientOp, second: ClientOp },
    /// Every open upload expires.
    Expire,
    /// A client acts while every open upload expires.
    ExpireDuring { client: usize, op: ClientOp },
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        3 => any::<Index>().prop_map(Target::Apt),
        1 => any::<Index>().prop_map(Target::Any),
    ]
}

/// Operations whose outcome does not depend on how much quota is free; only these run
/// during an expiry, which frees reservations one by one.
fn upload_op() -> impl Strategy<Value = ClientOp> {
    prop_oneof![
        4 => (target(), prop::bool::weighted(0.8))
            .prop_map(|(target, put)| ClientOp::Confirm { target, put }),
        2 => target().prop_map(|target| ClientOp::Cancel { target }),
        2 => target().prop_map(|target| ClientOp::Delete { target }),
    ]
}

fn client_op() -> impl Strategy<Value = ClientOp> {
    prop_oneof![
        5 => (1..=MAX_SIZE, prop::bool::weighted(0.85))
            .prop_map(|(size, pdf)| ClientOp::Reserve { size, pdf }),
        1 => (0..=1_u64).prop_map(|extra| ClientOp::ReserveRest { extra }),
        6 => upload_op(),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        3 => (0..2_usize, client_op()).prop_map(|(client, op)| Step::Alone { client, op }),
        3 => (client_op(), client_op())
            .prop_map(|(first, second)| Step::Together { first, second }),
        1 => Just(Step::Expire),
        1 => (0..2_usize, upload_op()).prop_map(|(client, op)| Step::ExpireDuring { client, op }),
    ]
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(step(), 10..=25)
}

/// An upload the run made, as the API handed it out.
struct Known {
    size: u64,
    pdf: bool,
    ticket: Ticket,
}

/// An operation resolved against what the run knows, ready to send.
#[derive(Debug, Clone)]
enum Plan {
    /// Nothing to act on yet.
    Nothing,
    Reserve {
        size: u64,
        pdf: bool,
    },
    Confirm {
        slot: Slot,
        upload_id: String,
        put: Option<(Ticket, Vec<u8>)>,
    },
    Cancel {
        slot: Slot,
        upload_id: String,
    },
    Delete {
        slot: Slot,
        upload_id: String,
    },
}

/// What a client's plan did: its observed actions, and the ticket of a new upload.
type Done = (Vec<Observed>, Option<Ticket>);

/// Prints the missing-route notice once per test binary, not once per case.
static HISTORY_NOTICE: AtomicBool = AtomicBool::new(false);

/// One proptest case: a fresh user with two sessions on a shared app.
struct Run<'a> {
    app: &'a TestApp,
    clients: [UploadClient<'a>; 2],
    known: Vec<Known>,
    /// The models that explain every answer so far (several when two orders of
    /// concurrent steps explain them equally well).
    candidates: Vec<QuotaModel>,
    trace: Vec<String>,
    history_route: bool,
}

impl Run<'_> {
    fn fail(&self, step: usize, reason: &str) -> String {
        format!(
            "after step {step}: {reason}\n  run so far:\n    {}",
            self.trace.join("\n    ")
        )
    }

    fn slots_where(&self, wanted: impl Fn(UploadState) -> bool) -> Vec<Slot> {
        (0..self.known.len())
            .filter(|slot| {
                self.candidates
                    .iter()
                    .any(|model| model.state(*slot).is_some_and(&wanted))
            })
            .collect()
    }

    fn pick(&self, target: Target, apt: impl Fn(UploadState) -> bool) -> Option<Slot> {
        let index = match target {
            Target::Apt(index) => {
                let slots = self.slots_where(apt);
                if !slots.is_empty() {
                    return Some(slots[index.index(slots.len())]);
                }
                index
            }
            Target::Any(index) => index,
        };
        (!self.known.is_empty()).then(|| index.index(self.known.len()))
    }

    fn plan(&self, op: ClientOp) -> Plan {
        let open = |state| matches!(state, UploadState::Open { .. });
        let id = |slot: Slot| self.known[slot].ticket.upload_id.clone();
        match op {
            ClientOp::Reserve { size, pdf } => Plan::Reserve {
                size,
                // Fewer bytes than `%PDF-` cannot be a PDF.
                pdf: pdf && size >= 5,
            },
            ClientOp::ReserveRest { extra } => {
                // Every candidate matched `/quota`, so they agree on what is available.
                let model = &self.candidates[0];
                let available = LIMIT.saturating_sub(model.used() + model.reserved());
                Plan::Reserve {
                    size: (available + extra).max(1),
                    pdf: true,
                }
            }
            ClientOp::Confirm { target, put } => match self.pick(target, open) {
                None => Plan::Nothing,
                Some(slot) => {
                    let known = &self.known[slot];
                    // Bytes go only to uploads that may still be open: a PUT to an ended
                    // upload would just leave an orphan object behind.
                    let put = (put && self.slots_where(open).contains(&slot)).then(|| {
                        let size = usize::try_from(known.size).unwrap();
                        let bytes = if known.pdf {
                            pdf_bytes_of_size(size)
                        } else {
                            junk_bytes_of_size(size)
                        };
                        (known.ticket.clone(), bytes)
                    });
                    Plan::Confirm {
                        slot,
                        upload_id: id(slot),
                        put,
                    }
                }
            },
            ClientOp::Cancel { target } => match self.pick(target, open) {
                None => Plan::Nothing,
                Some(slot) => Plan::Cancel {
                    slot,
                    upload_id: id(slot),
                },
            },
            ClientOp::Delete { target } => {
                match self.pick(target, |state| state == UploadState::Confirmed) {
                    None => Plan::Nothing,
                    Some(slot) => Plan::Delete {
                        slot,
                        upload_id: id(slot),
                    },
                }
            }
        }
    }

    /// Runs one step, then checks every invariant.
    async fn step(&mut self, number: usize, step: Step) -> Result<(), String> {
        let [first, second] = self.clients;
        let (mut done_first, mut done_second, label) = match step {
            Step::Alone { client, op } => {
                let done = execute(self.clients[client], self.plan(op)).await;
                (done, Ok((vec![], None)), format!("client {client}"))
            }
            Step::Together {
                first: op_first,
                second: op_second,
            } => {
                let (plan_first, plan_second) = (self.plan(op_first), self.plan(op_second));
                let (done_first, done_second) =
                    tokio::join!(execute(first, plan_first), execute(second, plan_second));
                (done_first, done_second, "clients 0 ∥ 1".to_owned())
            }
            Step::Expire => (
                expire(self.app).await,
                Ok((vec![], None)),
                "timer".to_owned(),
            ),
            Step::ExpireDuring { client, op } => {
                let plan = self.plan(op);
                let (done, expired) =
                    tokio::join!(execute(self.clients[client], plan), expire(self.app));
                (done, expired, format!("client {client} ∥ timer"))
            }
        };
        let extra_drains = if matches!(step, Step::Expire | Step::ExpireDuring { .. }) {
            self.settle_expiry().await
        } else {
            0
        };
        // Uploads made by the step get their slots in a fixed order (first, second).
        for done in [&mut done_first, &mut done_second] {
            let Ok((observed, ticket)) = done else {
                continue;
            };
            if let Some(ticket) = ticket.take() {
                let slot = self.known.len();
                let Some(Observed {
                    action:
                        Action::Reserve {
                            size,
                            pdf,
                            slot: named,
                        },
                    ..
                }) = observed.first_mut()
                else {
                    unreachable!("only a reservation makes an upload");
                };
                *named = Some(slot);
                self.known.push(Known {
                    size: *size,
                    pdf: *pdf,
                    ticket,
                });
            }
        }
        let describe = |done: &Result<Done, String>| match done {
            Ok((observed, _)) if observed.is_empty() => "—".to_owned(),
            Ok((observed, _)) => observed
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            Err(error) => error.clone(),
        };
        self.trace.push(format!(
            "{number}. {label}: {} ∥ {}",
            describe(&done_first),
            describe(&done_second)
        ));
        if extra_drains > 0 {
            self.trace
                .push(format!("   (the expiry took {extra_drains} more drains)"));
        }
        let (observed_first, observed_second) = match (done_first, done_second) {
            (Ok((first, _)), Ok((second, _))) => (first, second),
            (Err(error), _) | (_, Err(error)) => return Err(self.fail(number, &error)),
        };
        match explain(&self.candidates, &observed_first, &observed_second) {
            Ok(explained) => self.candidates = explained,
            Err(reasons) => {
                let reasons = reasons.join("\n    or: ");
                return Err(self.fail(
                    number,
                    &format!("no order of the step explains its answers:\n    {reasons}"),
                ));
            }
        }
        self.check(number).await
    }

    /// Drains the expiry again until no reservation is open, a bounded number of times.
    ///
    /// Every open upload is due, and nothing in an expiry step reserves, so none stays
    /// open. But on PostgreSQL one drain can stop short: the log reader holds back events
    /// younger than the oldest transaction still open (a step of the serve loop's own
    /// background runner, say), so the expiry may miss a reservation made just before.
    /// Answers how many extra drains it took.
    async fn settle_expiry(&self) -> usize {
        for attempt in 0..EXPIRY_DRAINS {
            if self.clients[0].quota().await.reserved == 0 {
                return attempt;
            }
            let _ = expire(self.app).await;
        }
        EXPIRY_DRAINS
    }

    /// The invariants, against `GET /quota` (from alternating sessions) and its history.
    async fn check(&mut self, number: usize) -> Result<(), String> {
        let client = self.clients[number % 2];
        let quota = client.quota().await;
        let QuotaBalance {
            limit,
            used,
            reserved,
            available,
        } = quota;
        if limit != LIMIT || used + reserved > limit || available != limit - used - reserved {
            return Err(self.fail(number, &format!("inconsistent balance {quota:?}")));
        }
        let models: Vec<_> = self
            .candidates
            .iter()
            .map(|model| (model.used(), model.reserved()))
            .collect();
        self.candidates
            .retain(|model| (model.used(), model.reserved()) == (used, reserved));
        if self.candidates.is_empty() {
            let mut reason = format!(
                "GET /quota says used {used}, reserved {reserved}; the model's \
                 (used = live confirmed sizes, reserved = open reservations) is one of {models:?}"
            );
            if let Ok(rows) = client.quota_history(HISTORY_PAGE_SIZE).await {
                reason.push_str("\n  /quota/history:");
                for row in rows {
                    let upload = row["upload_id"].as_str().unwrap_or("-");
                    let slot = self
                        .known
                        .iter()
                        .position(|known| known.ticket.upload_id == upload)
                        .map_or_else(String::new, |slot| format!(" (#{slot})"));
                    reason.push_str(&format!(
                        "\n    {} {upload}{slot}: used {:+}, reserved {:+}",
                        row["event"],
                        row["delta_used_bytes"].as_i64().unwrap_or_default(),
                        row["delta_reserved_bytes"].as_i64().unwrap_or_default()
                    ));
                }
            }
            return Err(self.fail(number, &reason));
        }
        self.trace
            .push(format!("   quota: used {used}, reserved {reserved}"));
        if self.history_route {
            self.check_history(number, client, quota).await?;
        }
        Ok(())
    }

    async fn check_history(
        &mut self,
        number: usize,
        client: UploadClient<'_>,
        quota: QuotaBalance,
    ) -> Result<(), String> {
        let rows = match client.quota_history(HISTORY_PAGE_SIZE).await {
            Ok(rows) => rows,
            Err(HistoryError::NoRoute) => {
                self.history_route = false;
                if !HISTORY_NOTICE.swap(true, Ordering::Relaxed) {
                    eprintln!(
                        "NOTICE: GET /api/v1/quota/history answers 404 No such route; \
                         the history checks of this property are skipped."
                    );
                }
                return Ok(());
            }
            Err(HistoryError::Unexpected { page, answer }) => {
                let reason = format!("GET /quota/history page {page}: {answer:?}");
                return Err(self.fail(number, &reason));
            }
        };
        let problems = history_problems(&rows, quota, &self.candidates, &self.known);
        if problems.is_empty() {
            Ok(())
        } else {
            let rows: Vec<String> = rows.iter().map(Value::to_string).collect();
            let reason = format!(
                "/quota/history disagrees with /quota ({quota:?}):\n    {}\n  its rows:\n    {}",
                problems.join("\n    "),
                rows.join("\n    ")
            );
            Err(self.fail(number, &reason))
        }
    }
}

/// What is wrong with the ledger `rows` given the balance and the model's uploads.
fn history_problems(
    rows: &[Value],
    quota: QuotaBalance,
    candidates: &[QuotaModel],
    known: &[Known],
) -> Vec<String> {
    let mut problems = Vec::new();
    let number = |row: &Value, name: &str| row[name].as_i64();
    let (mut used, mut reserved) = (0_i64, 0_i64);
    let (mut position, mut version) = (None::<i64>, None::<i64>);
    for (index, row) in rows.iter().enumerate() {
        let fields = (
            number(row, "delta_used_bytes"),
            number(row, "delta_reserved_bytes"),
            number(row, "used_bytes_after"),
            number(row, "reserved_bytes_after"),
            number(row, "limit_bytes_after"),
            number(row, "position"),
            number(row, "version"),
        );
        let (Some(du), Some(dr), Some(ua), Some(ra), Some(la), Some(p), Some(v)) = fields else {
            problems.push(format!("row {index} lacks a number: {row}"));
            continue;
        };
        used += du;
        reserved += dr;
        if (used, reserved) != (ua, ra) {
            problems.push(format!(
                "row {index}: the deltas so far sum to used {used}, reserved {reserved}, \
                 but it says {ua}, {ra} after"
            ));
        }
        if ua + ra > la {
            problems.push(format!("row {index}: used + reserved > limit ({row})"));
        }
        if position.is_some_and(|before| p <= before) || version.is_some_and(|before| v <= before) {
            problems.push(format!(
                "row {index}: position/version not increasing ({row})"
            ));
        }
        (position, version) = (Some(p), Some(v));
    }
    let expected = (
        i64::try_from(quota.used).unwrap(),
        i64::try_from(quota.reserved).unwrap(),
    );
    if (used, reserved) != expected {
        problems.push(format!(
            "the deltas sum to used {used}, reserved {reserved}; /quota says {expected:?}"
        ));
    }
    match rows.last() {
        Some(last) => {
            let after = (
                number(last, "used_bytes_after"),
                number(last, "reserved_bytes_after"),
                number(last, "limit_bytes_after"),
            );
            let limit = i64::try_from(quota.limit).unwrap();
            if after != (Some(expected.0), Some(expected.1), Some(limit)) {
                problems.push(format!(
                    "the last row says {after:?} after; /quota {quota:?}"
                ));
            }
        }
        None => problems.push("no rows, not even the limit set at registration".to_owned()),
    }
    // One row per quota event: the counts follow from where the uploads stand.
    let events = |name: &str| rows.iter().filter(|row| row["event"] == name).count();
    let counted = [
        "QuotaLimitSet",
        "QuotaReserved",
        "QuotaConfirmed",
        "ReservationReleased",
        "QuotaReleased",
    ]
    .map(|name| (name, events(name)));
    let owed = |model: &QuotaModel| {
        let released = |state| {
            matches!(
                state,
                UploadState::Cancelled | UploadState::Expired | UploadState::Rejected
            )
        };
        let deleted = |state| state == UploadState::Deleted;
        [
            ("QuotaLimitSet", 1),
            ("QuotaReserved", model.uploads.len()),
            (
                "QuotaConfirmed",
                model.count(|state| state == UploadState::Confirmed) + model.count(deleted),
            ),
            ("ReservationReleased", model.count(released)),
            ("QuotaReleased", model.count(deleted)),
        ]
    };
    if !candidates.iter().any(|model| owed(model) == counted) {
        let owed: Vec<_> = candidates.iter().map(owed).collect();
        problems.push(format!(
            "event counts {counted:?}; the model owes one of {owed:?}"
        ));
    }
    let reserved_ids: BTreeSet<&str> = rows
        .iter()
        .filter(|row| row["event"] == "QuotaReserved")
        .filter_map(|row| row["upload_id"].as_str())
        .collect();
    let known_ids: BTreeSet<&str> = known
        .iter()
        .map(|known| known.ticket.upload_id.as_str())
        .collect();
    if reserved_ids != known_ids {
        problems.push(format!(
            "QuotaReserved rows name uploads {reserved_ids:?}; the client made {known_ids:?}"
        ));
    }
    problems
}

/// A server error is never a fair answer; anything else is for the model to judge.
fn judged(action: Action, answer: &Answer) -> Result<Observed, String> {
    if answer.status >= 500 {
        return Err(format!(
            "{action:?} answered {}: {}",
            answer.status, answer.body
        ));
    }
    Ok(Observed::new(
        action,
        Some(answer.status),
        answer.code.clone(),
    ))
}

/// Sends a plan as one client; answers what it observed.
async fn execute(client: UploadClient<'_>, plan: Plan) -> Result<Done, String> {
    match plan {
        Plan::Nothing => Ok((vec![], None)),
        Plan::Reserve { size, pdf } => {
            let answer = client.request_upload("property.pdf", size).await;
            let action = Action::Reserve {
                size,
                pdf,
                slot: None,
            };
            let ticket = (answer.status == 201).then(|| Ticket::from_answer(&answer));
            Ok((vec![judged(action, &answer)?], ticket))
        }
        Plan::Confirm {
            slot,
            upload_id,
            put,
        } => {
            let mut observed = Vec::new();
            if let Some((ticket, bytes)) = put {
                let status = client.put_object(&ticket, bytes).await;
                if status != 200 {
                    return Err(format!("PUT of #{slot} answered {status}"));
                }
                observed.push(Observed::new(Action::Put { slot }, Some(status), None));
            }
            let answer = client.confirm(&upload_id, "Property").await;
            observed.push(judged(Action::Confirm { slot }, &answer)?);
            Ok((observed, None))
        }
        Plan::Cancel { slot, upload_id } => {
            let answer = client.cancel(&upload_id).await;
            Ok((vec![judged(Action::Cancel { slot }, &answer)?], None))
        }
        Plan::Delete { slot, upload_id } => {
            let answer = client.delete_score(&upload_id).await;
            Ok((vec![judged(Action::Delete { slot }, &answer)?], None))
        }
    }
}

/// The expiry timer as of ten minutes from now: past every upload's deadline.
async fn expire(app: &TestApp) -> Result<Done, String> {
    app.run_processors_until_idle_at(chrono::Utc::now() + chrono::Duration::minutes(10))
        .await;
    Ok((vec![Observed::new(Action::ExpireAll, None, None)], None))
}

async fn run_case(app: &TestApp, steps: &[Step]) -> Result<(), String> {
    let email = unique_email();
    app.register(&email, PASSWORD).await;
    let sessions = [
        app.login(&email, PASSWORD).await,
        app.login(&email, PASSWORD).await,
    ];
    let mut run = Run {
        app,
        clients: [0, 1].map(|index| UploadClient {
            app,
            access: &sessions[index].access,
        }),
        known: Vec::new(),
        candidates: vec![QuotaModel::new(LIMIT)],
        trace: Vec::new(),
        history_route: true,
    };
    run.check(0).await?;
    for (index, step) in steps.iter().enumerate() {
        run.step(index + 1, *step).await?;
    }
    Ok(())
}

/// Runs the property for `cases` cases (unless `PROPTEST_CASES` says otherwise) over one
/// app on `database`, a fresh user per case.
fn check_quota_property(runtime: &tokio::runtime::Runtime, database: TestDatabase, cases: u32) {
    let limit = LIMIT.to_string();
    let app = runtime.block_on(spawn_app_with(database, &["--default-quota-bytes", &limit]));
    let defaults = Config::default();
    let config = Config {
        cases: if std::env::var_os("PROPTEST_CASES").is_some() {
            defaults.cases
        } else {
            cases
        },
        max_shrink_iters: 1_000,
        // Races do not always come back while shrinking: bound the time spent trying.
        max_shrink_time: 30_000,
        failure_persistence: None,
        ..defaults
    };
    let mut runner = TestRunner::new(config);
    let outcome = runner.run(&steps(), |steps| {
        runtime
            .block_on(run_case(&app, &steps))
            .map_err(TestCaseError::fail)
    });
    runtime.block_on(app.stop());
    if let Err(error) = outcome {
        panic!("{error}");
    }
}

#[test]
fn the_quota_matches_its_uploads_and_its_history_whatever_two_sessions_do_on_sqlite() {
    let runtime = integration_tests::test_runtime();
    let database = runtime.block_on(TestDatabase::sqlite());
    check_quota_property(&runtime, database, 16);
}

#[test]
fn the_quota_matches_its_uploads_and_its_history_whatever_two_sessions_do_on_postgres() {
    let runtime = integration_tests::test_runtime();
    let Some(database) = runtime.block_on(TestDatabase::postgres()) else {
        return;
    };
    check_quota_property(&runtime, database, 8);
}
