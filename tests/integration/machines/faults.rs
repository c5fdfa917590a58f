//! Fault injection: every route, every store and SNS call it makes, every way that call can
//! fail ([`super::injection`]).
//!
//! One user walks through every route of [`latchkey::ROUTES`] and the security-events
//! handler. Before each step the machine is saved (the table, SNS's subscriptions and
//! messages, the random source's position). The step runs once without faults, counting
//! its port calls and saving the state after it; then, for each call `k` and each fault
//! that call can meet, the machine is put back as it was before the step, call `k` is
//! failed, and the step runs again. The walk then goes on from the fault-free run, so
//! every step starts from the same state however many faults ran before it.
//!
//! Each faulted run must answer either `503 unavailable` with `Retry-After` (a stream
//! batch: the record reported for the retry) or exactly what a fault-free run answers, and
//! leave the table (every item, compared whole) and SNS's live subscriptions either as
//! before the step or as a fault-free run of the step leaves them. Nothing else: no item
//! half-written, no one-time thing spent without its effect.
//!
//! "As a fault-free run leaves them" stays strict although a retried attempt draws new
//! random values (a token, an id, the backoff's jitter). Every run draws from one seeded
//! source ([`super::harness::Tape`]), rewound to where it stood before the step, so a run
//! that did not retry must match the fault-free run byte for byte. A run that retried drew
//! more: the failed attempt's values and the jitter, then the same kinds of values again.
//! It must match, table and answer, a fault-free run from the state before the step whose
//! random stream skips exactly that many blocks at one of the points where the fault-free
//! run drew (the attempt's start): the fault-free run plus a hole where the failed attempt
//! was. A retry that stacks its writes on a half-done first attempt matches none. WebAuthn
//! challenges are the one thing masked: webauthn-rs draws them from the OS.
//!
//! A few steps accept one more outcome, each a decision documented in the section and
//! checked as exactly ([`Also`]).
//!
//! The table the test generates is the "## Fault injection" section of
//! docs/reliability.md; the test fails when the committed one differs, and
//! [`REGENERATE`] rewrites it.

use super::harness::{text, token, Machine, Saved, ORIGIN};
use super::injection::{Call, Fault, FaultyBus};
use super::notices::{batch, event_items};
use super::webauthn::SoftAuthenticator;
use crate::support::{Response, PASSWORD};
use latchkey::notice::NoticeRef;
use latchkey::records::{self, Event};
use latchkey::store::{Item, Key};
use latchkey::stream::{self, StreamEvent};
use latchkey::Operation;
use push_agent::crypto::{answer_message, notice_report_message, system_random, Decision};
use serde_json::{json, Value};
use std::collections::BTreeSet;

/// Rewrites the committed section.
pub const REGENERATE: &str = "LATCHKEY_WRITE_RELIABILITY=1 cargo test -p latchkey-tests faults";

const DOC: &str = "docs/reliability.md";
const HEADING: &str = "## Fault injection";

const USER: &str = "faulty";

/// What a step sends: a request to a route, or a batch to the security-events handler.
#[derive(Clone)]
enum Request {
    Http {
        operation: Operation,
        token: Option<String>,
        device: Option<String>,
        body: Value,
    },
    Stream(StreamEvent),
}

fn http(operation: Operation, token: Option<&str>, body: Value) -> Request {
    Request::Http {
        operation,
        token: token.map(str::to_owned),
        device: None,
        body,
    }
}

/// An answer, as the comparison sees it.
#[derive(Debug, Clone, PartialEq)]
struct Answer {
    /// The status, or for a stream batch `done` / `resumes`.
    label: String,
    /// `503 unavailable` with `Retry-After`, or a batch that reports its record again.
    unavailable: bool,
    body: Value,
}

impl Answer {
    fn of(r: &Response) -> Answer {
        let status = r.status.as_u16();
        Answer {
            label: status.to_string(),
            unavailable: status == 503
                && r.code() == "unavailable"
                && r.headers.get("retry-after").is_some(),
            body: r.body.clone(),
        }
    }
}

/// An outcome a step accepts besides "as before" and "as after", each a decision written
/// down in the section's text and checked as exactly as the other two.
#[derive(Clone, Debug)]
enum Also {
    /// The password in the body was judged and the session `0` marked re-authenticated,
    /// then the change failed: 503, and the table is as a fault-free
    /// `POST /v1/session/reauthenticate` of that session leaves it.
    Reauthenticated(String),
    /// The push was written and its publish failed: 503; the push is marked failed (it
    /// can never be answered) and both push counters are given back, so the table is as
    /// before but for the failed push and the two records' versions.
    Withdrawn,
    /// The session `0` was used more than five minutes after its `last_seen_at`, which is
    /// recorded first, in a write of its own, best effort. When that write fails, the
    /// request goes on: the normal answer, the table as after but for the session's items,
    /// as before ("not seen"). When the change fails after it: 503, and the table as a
    /// fault-free `GET /v1/me` of that session leaves it ("seen").
    Seen(String),
    /// The change ended every other session at once (the profile's session generation
    /// moved on) and deleted the first ones' items with it; deleting the rest, later and
    /// best effort, failed or was never reached (the first write's answer lost: 503): the
    /// table as after but for some of those sessions' items, left for the TTL (a report's
    /// count is then of the items deleted).
    SessionsLeft,
    /// The change committed and the SNS call after it failed or was never made (the
    /// commit's answer was lost: 503): the table as after, and the subscription left
    /// behind (it filters on a device id no longer in any profile, so nothing reaches it).
    StraySubscription,
}

/// How the state after a faulted run compares.
#[derive(Debug)]
enum State {
    Before,
    After,
    /// Equal to the fault-free run from the same state whose random stream skips what the
    /// failed attempt and its backoff drew: a retry. Its answer.
    Retried(Answer),
    /// One of the step's [`Also`] outcomes; its label.
    Also(&'static str),
    /// None of these: the finding.
    Other,
}

struct Row {
    function: &'static str,
    step: String,
    call: String,
    cells: Vec<String>,
}

struct Walk {
    m: Machine,
    bus: FaultyBus,
    rows: Vec<Row>,
    failures: Vec<String>,
    walked: BTreeSet<&'static str>,
    /// Faulted runs made, and fault-free reference runs made to judge them.
    runs: usize,
    references: usize,
}

/// What a request may change for good: the table and SNS's live subscriptions. WebAuthn
/// challenges are masked: webauthn-rs draws them from the OS, not from the app's source.
type Durable = (Vec<Item>, BTreeSet<String>);

fn durable(saved: &Saved) -> Durable {
    let items = saved
        .items
        .iter()
        .map(|item| {
            if !item.body.contains("\"challenge\"") {
                return item.clone();
            }
            let mut body: Value = serde_json::from_str(&item.body).unwrap();
            mask(&mut body, 0);
            Item {
                body: body.to_string(),
                ..item.clone()
            }
        })
        .collect();
    (items, saved.sns.live.clone())
}

/// Replaces every `challenge` nested below the top level of `value` (a WebAuthn
/// ceremony's; a push's own challenge is top-level and drawn from the app's source).
fn mask(value: &mut Value, depth: usize) {
    match value {
        Value::Object(map) => {
            for (name, inner) in map.iter_mut() {
                if name == "challenge" && depth > 0 && inner.is_string() {
                    *inner = json!("(webauthn-rs)");
                } else {
                    mask(inner, depth + 1);
                }
            }
        }
        Value::Array(list) => list.iter_mut().for_each(|v| mask(v, depth + 1)),
        _ => {}
    }
}

/// One step's fault-free run, to judge its faulted runs by.
struct Normal {
    request: Request,
    before: Saved,
    after: Saved,
    answer: Answer,
    /// Where each of its draws from the random source started.
    draws: Vec<u64>,
    also: Vec<Also>,
}

impl Walk {
    /// Runs `request`; the answer with its WebAuthn challenges masked.
    async fn run(&self, request: &Request) -> Answer {
        let mut answer = self.run_raw(request).await;
        mask(&mut answer.body, 0);
        answer
    }

    async fn run_raw(&self, request: &Request) -> Answer {
        match request {
            Request::Http {
                operation,
                token,
                device,
                body,
            } => {
                // Boxed: the dispatcher's future is large, and the walk awaits it often.
                let r = Box::pin(self.m.send(
                    *operation,
                    token.as_deref(),
                    device.as_deref(),
                    body.clone(),
                ))
                .await;
                Answer::of(&r)
            }
            Request::Stream(event) => {
                let answer = Box::pin(stream::handle(&self.m.app, &self.bus, event)).await;
                let resumes = answer
                    .batch_item_failures
                    .first()
                    .map(|f| &f.item_identifier)
                    == event.records.first().map(|r| &r.dynamodb.sequence_number);
                Answer {
                    label: if answer.batch_item_failures.is_empty() {
                        "done".to_owned()
                    } else {
                        "resumes".to_owned()
                    },
                    unavailable: resumes,
                    body: serde_json::to_value(&answer).unwrap(),
                }
            }
        }
    }

    async fn step(&mut self, function: &'static str, case: &str, request: Request) -> Answer {
        self.step_also(function, case, request, &[]).await
    }

    /// Runs `request` as step `function` (`case`) fault-free and under every fault, records
    /// its rows, and leaves the machine as the fault-free run left it; returns the
    /// fault-free answer. `also`: the outcomes it accepts besides before and after.
    async fn step_also(
        &mut self,
        function: &'static str,
        case: &str,
        request: Request,
        also: &[Also],
    ) -> Answer {
        self.walked.insert(function);
        let before = self.m.save();
        self.m.faults.clear();
        self.m.rng.clear();
        let raw = self.run_raw(&request).await;
        let mut answer = raw.clone();
        mask(&mut answer.body, 0);
        let calls = self.m.faults.calls();
        let draws = self.m.rng.clear();
        let normal = Normal {
            request,
            after: self.m.save(),
            before,
            answer,
            draws,
            also: also.to_vec(),
        };
        let step = format!("`{function}` {case} → {}", normal.answer.label);
        for (k, call) in calls.iter().enumerate() {
            let mut cells = Vec::new();
            for fault in Fault::ALL {
                if !call.faults().contains(&fault) {
                    cells.push(String::new());
                    continue;
                }
                match self.faulted(&normal, k, call, fault).await {
                    Ok(cell) => cells.push(cell),
                    Err(why) => {
                        self.failures.push(format!(
                            "{function} ({case}), call {} ({}), {}: {why}",
                            k + 1,
                            call.label(),
                            fault.title()
                        ));
                        cells.push("**FAILS**".to_owned());
                    }
                }
            }
            self.rows.push(Row {
                function,
                step: step.clone(),
                call: format!("{} {}", k + 1, call.label()),
                cells,
            });
        }
        self.m.restore(&normal.after);
        self.m.faults.clear();
        self.m.rng.clear();
        raw
    }

    /// One faulted run, judged: the table's cell, or why it breaks the rule.
    async fn faulted(
        &mut self,
        normal: &Normal,
        k: usize,
        call: &Call,
        fault: Fault,
    ) -> Result<String, String> {
        self.runs += 1;
        self.m.restore(&normal.before);
        self.m.faults.arm(k, fault);
        let got = self.run(&normal.request).await;
        self.m.faults.clear();
        self.m.rng.clear();
        let faulted = self.m.save();
        let (before, after, now) = (
            durable(&normal.before),
            durable(&normal.after),
            durable(&faulted),
        );
        let state = if now == before {
            State::Before
        } else if now == after {
            State::After
        } else if let Some(answer) = self.redrawn(normal, &faulted, &now).await {
            State::Retried(answer)
        } else {
            self.also(normal, &now, &got, call).await
        };
        let unchanged = before == after;
        let word = match &state {
            State::Before | State::After | State::Retried(_) if unchanged => "unchanged",
            State::Before => "before",
            State::After | State::Retried(_) => "after",
            State::Also(label) => label,
            State::Other => {
                return Err(format!(
                    "answered {} {}; the table is neither as before nor as after:\n{}",
                    got.label,
                    got.body,
                    difference(&before, &after, &now)
                ))
            }
        };
        let expected = match &state {
            State::After | State::Before => {
                (unchanged || matches!(state, State::After)).then_some(&normal.answer)
            }
            State::Retried(answer) => Some(answer),
            State::Also(_) => Some(&got),
            State::Other => None,
        };
        // A report's count is of the items its cleanup deleted.
        let counted_less = matches!(state, State::After)
            && normal.also.iter().any(|a| matches!(a, Also::SessionsLeft))
            && got.label == normal.answer.label;
        if got.unavailable || Some(&got) == expected || counted_less {
            Ok(format!("{} · {word}", got.label))
        } else {
            let expected = expected.unwrap_or(&normal.answer);
            Err(format!(
                "answered {} {} with the table {word}; a fault-free run answers {} {}",
                got.label, got.body, expected.label, expected.body
            ))
        }
    }

    /// A fault-free run from before the step whose random stream skips, at one of the
    /// points where the fault-free run drew, as much as the faulted run drew more: when its
    /// table is the faulted run's, the faulted run was that run plus a failed attempt and
    /// a backoff. Its answer.
    async fn redrawn(&mut self, normal: &Normal, faulted: &Saved, now: &Durable) -> Option<Answer> {
        let by = faulted.rng.checked_sub(normal.after.rng)?;
        if by == 0 {
            return None;
        }
        for &at in &normal.draws {
            self.references += 1;
            self.m.restore(&normal.before);
            self.m.rng.skip(at, by);
            let answer = self.run(&normal.request).await;
            self.m.rng.clear();
            if durable(&self.m.save()) == *now {
                return Some(answer);
            }
        }
        None
    }

    /// Which of the step's other accepted outcomes the faulted table `now` is, if any.
    async fn also(&mut self, normal: &Normal, now: &Durable, got: &Answer, call: &Call) -> State {
        for also in &normal.also {
            match also {
                Also::Reauthenticated(token) if got.unavailable => {
                    self.references += 1;
                    self.m.restore(&normal.before);
                    let reauthenticate = http(
                        Operation::Reauthenticate,
                        Some(token),
                        json!({ "password": PASSWORD }),
                    );
                    self.run(&reauthenticate).await;
                    if durable(&self.m.save()) == *now {
                        return State::Also("re-authenticated");
                    }
                }
                Also::Seen(token) => {
                    self.references += 1;
                    self.m.restore(&normal.before);
                    self.run(&http(Operation::Me, Some(token), Value::Null))
                        .await;
                    let seen = durable(&self.m.save());
                    if got.unavailable && seen == *now {
                        return State::Also("seen");
                    }
                    let before = durable(&normal.before);
                    let touched: BTreeSet<&Key> = seen
                        .0
                        .iter()
                        .filter(|i| !before.0.contains(i))
                        .map(|i| &i.key)
                        .collect();
                    let mut unseen: Vec<Item> = durable(&normal.after)
                        .0
                        .into_iter()
                        .filter(|i| !touched.contains(&i.key))
                        .chain(
                            before
                                .0
                                .iter()
                                .filter(|i| touched.contains(&i.key))
                                .cloned(),
                        )
                        .collect();
                    unseen.sort_by(|a, b| a.key.cmp(&b.key));
                    if *got == normal.answer && unseen == now.0 && before.1 == now.1 {
                        return State::Also("after, not seen");
                    }
                }
                // 503 only when the change's own write failed: the cleanup's failure is
                // not the caller's.
                Also::SessionsLeft
                    if (got.unavailable && call.writes("PROFILE"))
                        || got.label == normal.answer.label =>
                {
                    let (after_items, after_live) = durable(&normal.after);
                    let before = durable(&normal.before).0;
                    let left: Vec<&Item> =
                        now.0.iter().filter(|i| !after_items.contains(i)).collect();
                    let sessions = left
                        .iter()
                        .all(|i| before.contains(i) && i.key.sk.starts_with("SESSION"));
                    if !left.is_empty()
                        && sessions
                        && after_items.iter().all(|i| now.0.contains(i))
                        && after_live == now.1
                    {
                        return State::Also("after, ended sessions' items left");
                    }
                }
                Also::Withdrawn
                    if got.unavailable
                        && withdrawn(&durable(&normal.before), &durable(&normal.after), now) =>
                {
                    return State::Also("withdrawn");
                }
                Also::StraySubscription if got.unavailable || *got == normal.answer => {
                    let (after_items, after_live) = durable(&normal.after);
                    let (items, live) = now;
                    let stray: Vec<_> = live.difference(&after_live).collect();
                    if *items == after_items
                        && after_live.is_subset(live)
                        && stray.len() == 1
                        && normal.before.sns.live.contains(stray[0])
                    {
                        return State::Also("after, subscription stays");
                    }
                }
                _ => {}
            }
        }
        State::Other
    }

    fn table(&self) -> String {
        let mut out = String::from("| route, case → fault-free answer | call | ");
        out += &Fault::ALL.map(Fault::title).join(" | ");
        out += " |\n|---|---|---|---|---|---|\n";
        // Grouped by route, in the route table's order (the stream handler last); a
        // route's cases in the walk's order.
        let place = |function: &str| {
            latchkey::ROUTES
                .iter()
                .position(|r| r.function == function)
                .unwrap_or(latchkey::ROUTES.len())
        };
        let mut rows: Vec<&Row> = self.rows.iter().collect();
        rows.sort_by_key(|row| place(row.function));
        let mut last = String::new();
        for row in rows {
            let step = if row.step == last { "" } else { &row.step };
            last.clone_from(&row.step);
            out += &format!("| {step} | {} | {} |\n", row.call, row.cells.join(" | "));
        }
        out
    }
}

/// The table after a withdrawn push: as before, but for one more push item, marked
/// failed, and new versions of records whose bodies are back as they were.
fn withdrawn(before: &Durable, after: &Durable, now: &Durable) -> bool {
    let (before, now) = (&before.0, &now.0);
    let added: Vec<&Item> = now
        .iter()
        .filter(|i| !before.iter().any(|b| b.key == i.key))
        .collect();
    let [push] = added.as_slice() else {
        return false;
    };
    let written = after.0.iter().find(|i| i.key == push.key);
    let failed = serde_json::from_str::<Value>(&push.body).unwrap()["status"] == "failed";
    let same_bodies = before.iter().all(|b| {
        now.iter()
            .any(|i| i.key == b.key && i.body == b.body && i.ttl == b.ttl)
    });
    failed && written.is_some() && same_bodies && now.len() == before.len() + 1
}

/// The items that differ from before and from after, for a failure's message.
fn difference(before: &Durable, after: &Durable, faulted: &Durable) -> String {
    let (before, after, faulted) = (&before.0, &after.0, &faulted.0);
    let line = |label: &str, items: &[Item], others: &[Item]| -> Vec<String> {
        items
            .iter()
            .filter(|i| !others.contains(i))
            .map(|i| {
                format!(
                    "  {label} {} {} v{}: {}",
                    i.key.pk, i.key.sk, i.version, i.body
                )
            })
            .collect()
    };
    let mut out = line("only faulted:", faulted, after);
    out.extend(line("only after:  ", after, faulted));
    out.extend(line("only before: ", before, faulted));
    out.join("\n")
}

/// The device id of `kind` in the settings `token` sees.
async fn device_of(m: &Machine, token: &str, kind: &str) -> String {
    m.devices(token)
        .await
        .iter()
        .find(|d| d["type"] == kind)
        .map(|d| text(&d["id"]))
        .unwrap()
}

/// Signs in `count` times with the passkey of `key`.
async fn passkey_sessions(m: &Machine, key: &mut SoftAuthenticator, count: usize) {
    for _ in 0..count {
        let r = m
            .call(Operation::LoginPasskeyStart, json!({}))
            .await
            .expect(200);
        let assertion = key.discover(&r.body["publicKey"], 0).unwrap();
        m.call(
            Operation::LoginPasskeyFinish,
            json!({ "login_id": r.body["login_id"], "credential": assertion }),
        )
        .await
        .expect(200);
    }
}

async fn walk() -> Walk {
    let m = Machine::new();
    let bus = FaultyBus {
        inner: Default::default(),
        injector: m.faults.clone(),
    };
    let mut w = Walk {
        m,
        bus,
        rows: Vec::new(),
        failures: Vec::new(),
        walked: BTreeSet::new(),
        runs: 0,
        references: 0,
    };
    let credentials = json!({ "username": USER, "password": PASSWORD });
    let with_password = json!({ "password": PASSWORD });

    // Sign-up, the password step, a setup session.
    w.step(
        "create-account",
        "new account",
        http(Operation::CreateAccount, None, credentials.clone()),
    )
    .await;
    let r = w
        .step(
            "login",
            "MFA setup pending",
            http(Operation::Login, None, credentials.clone()),
        )
        .await;
    let setup = token(&r.body);
    w.step(
        "login",
        "wrong password",
        http(
            Operation::Login,
            None,
            json!({ "username": USER, "password": "not the password" }),
        ),
    )
    .await;
    w.step(
        "me",
        "setup session",
        http(Operation::Me, Some(&setup), Value::Null),
    )
    .await;
    w.step(
        "get-mfa",
        "setup session",
        http(Operation::GetMfa, Some(&setup), Value::Null),
    )
    .await;

    // The first device, an authenticator app: the session becomes full.
    let r = w
        .step(
            "start-totp-registration",
            "first device",
            http(Operation::StartTotpRegistration, Some(&setup), json!({})),
        )
        .await;
    let secret = text(&r.body["secret"]);
    let confirm = json!({
        "registration_id": r.body["registration_id"],
        "code": w.m.code(&secret),
    });
    w.step(
        "confirm-totp-registration",
        "first device",
        http(Operation::ConfirmTotpRegistration, Some(&setup), confirm),
    )
    .await;
    let session = setup;
    let totp = device_of(&w.m, &session, "totp").await;
    w.m.advance(30);

    // Settings, re-authenticated.
    w.step(
        "reauthenticate",
        "right password",
        http(
            Operation::Reauthenticate,
            Some(&session),
            with_password.clone(),
        ),
    )
    .await;
    w.step(
        "reauthenticate",
        "wrong password",
        http(
            Operation::Reauthenticate,
            Some(&session),
            json!({ "password": "not the password" }),
        ),
    )
    .await;
    w.step(
        "list-events",
        "full session",
        http(Operation::ListEvents, Some(&session), Value::Null),
    )
    .await;
    w.step(
        "rename-device",
        "authenticator app",
        Request::Http {
            operation: Operation::RenameDevice,
            token: Some(session.clone()),
            device: Some(totp.clone()),
            body: json!({ "name": "Phone" }),
        },
    )
    .await;
    let sudo = [Also::Reauthenticated(session.clone())];
    w.step_also(
        "update-mfa-settings",
        "unchanged, password in body",
        http(
            Operation::UpdateMfaSettings,
            Some(&session),
            json!({ "mfa_enabled": true, "password": PASSWORD }),
        ),
        &sudo,
    )
    .await;
    w.step_also(
        "regenerate-recovery-codes",
        "password in body",
        http(
            Operation::RegenerateRecoveryCodes,
            Some(&session),
            with_password.clone(),
        ),
        &sudo,
    )
    .await;
    let r = w
        .step(
            "regenerate-recovery-codes",
            "re-authenticated session",
            http(
                Operation::RegenerateRecoveryCodes,
                Some(&session),
                Value::Null,
            ),
        )
        .await;
    let recovery_code = text(&r.body["codes"][0]);

    // Second factors: the app's code, a wrong one, a recovery code.
    let r = w
        .step(
            "login",
            "MFA required",
            http(Operation::Login, None, credentials.clone()),
        )
        .await;
    let mfa = text(&r.body["mfa_token"]);
    w.m.advance(30);
    w.step(
        "login-totp",
        "right code",
        http(
            Operation::LoginTotp,
            None,
            json!({ "mfa_token": mfa, "code": w.m.code(&secret) }),
        ),
    )
    .await;
    let mfa = w.m.mfa_token(USER).await;
    w.step(
        "login-totp",
        "wrong code",
        http(
            Operation::LoginTotp,
            None,
            json!({ "mfa_token": mfa, "code": w.m.wrong_code(&secret) }),
        ),
    )
    .await;
    // The fifth wrong code ends the login.
    let ended = w.m.mfa_token(USER).await;
    for _ in 0..4 {
        w.m.totp_login(&ended, &w.m.wrong_code(&secret))
            .await
            .expect_error(401, "invalid_code");
    }
    w.step(
        "login-totp",
        "fifth wrong code",
        http(
            Operation::LoginTotp,
            None,
            json!({ "mfa_token": ended, "code": w.m.wrong_code(&secret) }),
        ),
    )
    .await;
    w.step(
        "login-recovery-code",
        "right code",
        http(
            Operation::LoginRecoveryCode,
            None,
            json!({ "mfa_token": mfa, "code": recovery_code }),
        ),
    )
    .await;

    // A push device, enrolled as the agent does; a push login approved with the number.
    let r = w
        .step(
            "start-push-registration",
            "second device",
            http(Operation::StartPushRegistration, Some(&session), json!({})),
        )
        .await;
    let uri = latchkey_wire::RegistrationUri::parse(&text(&r.body["registration_uri"])).unwrap();
    let (enroll, device_key) = super::push::enroll_body_for(&uri);
    let r = w
        .step(
            "push-enroll",
            "second device",
            http(Operation::PushEnroll, None, enroll),
        )
        .await;
    let push_device = text(&r.body["device_id"]);
    let mfa = w.m.mfa_token(USER).await;
    let r = w
        .step_also(
            "login-push",
            "push sent",
            http(Operation::LoginPush, None, json!({ "mfa_token": mfa })),
            &[Also::Withdrawn],
        )
        .await;
    let (push_id, number) = (text(&r.body["push_id"]), text(&r.body["number"]));
    let status = json!({ "mfa_token": mfa, "push_id": push_id });
    w.step(
        "login-push-status",
        "pending",
        http(Operation::LoginPushStatus, None, status.clone()),
    )
    .await;
    let (_, push) = w.m.notifier.login_push(&uri.server_key, &push_id);
    let answer = answer_message(&push_id, &push.challenge, Decision::Approve, Some(&number));
    w.step(
        "push-respond",
        "approve, right number",
        http(
            Operation::PushRespond,
            None,
            json!({
                "push_id": push_id,
                "device_id": push_device,
                "decision": "approve",
                "number": number,
                "signature": device_key.sign(&system_random(), answer.as_bytes()).unwrap(),
            }),
        ),
    )
    .await;
    w.step(
        "login-push-status",
        "approved",
        http(Operation::LoginPushStatus, None, status),
    )
    .await;
    // A push denied on the device.
    let mfa = w.m.mfa_token(USER).await;
    let r =
        w.m.call(Operation::LoginPush, json!({ "mfa_token": mfa }))
            .await
            .expect(202);
    let push_id = text(&r.body["push_id"]);
    let (_, push) = w.m.notifier.login_push(&uri.server_key, &push_id);
    let answer = answer_message(&push_id, &push.challenge, Decision::Deny, None);
    w.step(
        "push-respond",
        "deny",
        http(
            Operation::PushRespond,
            None,
            json!({
                "push_id": push_id,
                "device_id": push_device,
                "decision": "deny",
                "signature": device_key.sign(&system_random(), answer.as_bytes()).unwrap(),
            }),
        ),
    )
    .await;
    w.step(
        "login-push-status",
        "denied",
        http(
            Operation::LoginPushStatus,
            None,
            json!({ "mfa_token": mfa, "push_id": push_id }),
        ),
    )
    .await;

    // A security key that keeps a passkey: registration, a second-factor login, a
    // passkey login.
    // A second later, so that the push device was the account's before the key came.
    w.m.advance(1);
    let mut key = SoftAuthenticator::with_resident_keys(ORIGIN);
    let r = w
        .step(
            "start-webauthn-registration",
            "first key",
            http(
                Operation::StartWebauthnRegistration,
                Some(&session),
                json!({}),
            ),
        )
        .await;
    let credential = key.create(&r.body["publicKey"]).unwrap();
    let r = w
        .step(
            "confirm-webauthn-registration",
            "first key",
            http(
                Operation::ConfirmWebauthnRegistration,
                Some(&session),
                json!({ "registration_id": r.body["registration_id"], "credential": credential }),
            ),
        )
        .await;
    let key_id = text(&r.body["device"]["id"]);
    let mfa = w.m.mfa_token(USER).await;
    let r = w
        .step(
            "login-webauthn-start",
            "one key",
            http(
                Operation::LoginWebauthnStart,
                None,
                json!({ "mfa_token": mfa }),
            ),
        )
        .await;
    let assertion = key.get(&r.body["publicKey"]);
    w.step(
        "login-webauthn-finish",
        "right key",
        http(
            Operation::LoginWebauthnFinish,
            None,
            json!({ "mfa_token": mfa, "credential": assertion }),
        ),
    )
    .await;
    let r = w
        .step(
            "login-passkey-start",
            "no account known",
            http(Operation::LoginPasskeyStart, None, json!({})),
        )
        .await;
    let assertion = key.discover(&r.body["publicKey"], 0).unwrap();
    w.step(
        "login-passkey-finish",
        "right passkey",
        http(
            Operation::LoginPasskeyFinish,
            None,
            json!({ "login_id": r.body["login_id"], "credential": assertion }),
        ),
    )
    .await;

    // Many sessions: the first write that ends them deletes only the first ones' items.
    passkey_sessions(&w.m, &mut key, 45).await;
    w.step_also(
        "revoke-other-sessions",
        "46 others",
        http(Operation::RevokeOtherSessions, Some(&session), json!({})),
        &[Also::SessionsLeft],
    )
    .await;
    passkey_sessions(&w.m, &mut key, 30).await;

    // The key's arrival reaches the push device as a notice (the table's stream), which
    // the device reports: the key goes, every session ends.
    let events = event_items(&w.m, USER, 0).await;
    let added = events
        .iter()
        .map(|item| records::decode::<Event>(item).unwrap().value)
        .zip(&events)
        .find(|(e, _)| e.kind == "device_added" && e.device_id.as_deref() == Some(&key_id))
        .unwrap();
    w.step(
        "security-events",
        "device_added notice",
        Request::Stream(batch(std::slice::from_ref(added.1))),
    )
    .await;
    let notice_id = NoticeRef::of(&added.0).notice_id();
    let report = notice_report_message(&notice_id, &push_device);
    w.step_also(
        "push-report",
        "device_added notice, 31 sessions",
        http(
            Operation::PushReport,
            None,
            json!({
                "notice_id": notice_id,
                "device_id": push_device,
                "signature": device_key.sign(&system_random(), report.as_bytes()).unwrap(),
            }),
        ),
        &[Also::SessionsLeft],
    )
    .await;

    // Signed in again (three sessions), the push device removed, the sessions ended.
    let mut sessions = Vec::new();
    for _ in 0..3 {
        let mfa = w.m.mfa_token(USER).await;
        w.m.advance(30);
        let r = w.m.totp_login(&mfa, &w.m.code(&secret)).await.expect(200);
        sessions.push(token(&r.body));
    }
    let session = sessions[0].clone();
    w.step_also(
        "remove-device",
        "push device, password in body",
        Request::Http {
            operation: Operation::RemoveDevice,
            token: Some(session.clone()),
            device: Some(push_device.clone()),
            body: with_password.clone(),
        },
        &[
            Also::Reauthenticated(session.clone()),
            Also::StraySubscription,
        ],
    )
    .await;
    // A session last seen more than five minutes ago is recorded as seen first.
    w.m.advance(latchkey::auth::LAST_SEEN_INTERVAL_SECS + 1);
    w.step_also(
        "rename-device",
        "session last seen 5 min ago",
        Request::Http {
            operation: Operation::RenameDevice,
            token: Some(session.clone()),
            device: Some(totp.clone()),
            body: json!({ "name": "Old phone" }),
        },
        &[Also::Seen(session.clone())],
    )
    .await;
    w.step(
        "me",
        "full session",
        http(Operation::Me, Some(&session), Value::Null),
    )
    .await;
    w.step(
        "get-mfa",
        "full session",
        http(Operation::GetMfa, Some(&session), Value::Null),
    )
    .await;
    let r = w
        .step(
            "list-sessions",
            "three sessions",
            http(Operation::ListSessions, Some(&session), Value::Null),
        )
        .await;
    let other = r.body["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == false)
        .map(|s| text(&s["id"]))
        .unwrap();
    w.step(
        "revoke-session",
        "another session",
        Request::Http {
            operation: Operation::RevokeSession,
            token: Some(session.clone()),
            device: Some(other),
            body: Value::Null,
        },
    )
    .await;
    w.step(
        "revoke-other-sessions",
        "one other",
        http(Operation::RevokeOtherSessions, Some(&session), json!({})),
    )
    .await;
    w.step(
        "change-password",
        "new password",
        http(
            Operation::ChangePassword,
            Some(&session),
            json!({ "current_password": PASSWORD, "new_password": "a brand new passphrase" }),
        ),
    )
    .await;
    w.step(
        "logout",
        "full session",
        http(Operation::Logout, Some(&session), Value::Null),
    )
    .await;
    w
}

/// The committed document with its fault-injection section replaced by `section`.
fn with_section(document: &str, section: &str) -> String {
    let start = document
        .find(&format!("{HEADING}\n"))
        .unwrap_or_else(|| panic!("{DOC} has no `{HEADING}` section"));
    let body = start + HEADING.len() + 1;
    let end = document[body..]
        .find("\n## ")
        .map_or(document.len(), |at| body + at + 1);
    format!(
        "{}{HEADING}\n\n{section}\n{}",
        &document[..start],
        &document[end..]
    )
}

#[tokio::test]
async fn every_route_answers_503_or_normally_under_every_fault_and_writes_all_or_nothing() {
    let w = walk().await;

    let routes: BTreeSet<&str> = latchkey::ROUTES.iter().map(|r| r.function).collect();
    let missing: Vec<_> = routes.difference(&w.walked).collect();
    assert!(missing.is_empty(), "no fault walk step for {missing:?}");
    for function in latchkey::routes::FUNCTIONS {
        assert!(
            w.walked.contains(function.function),
            "no fault walk step for {}",
            function.function
        );
    }
    assert!(
        w.failures.is_empty(),
        "{} of {} faulted runs break the rule:\n{}",
        w.failures.len(),
        w.runs,
        w.failures.join("\n")
    );

    let section = format!("{}\n{}", prose(&w), w.table());
    let path = format!("{}/../{DOC}", env!("CARGO_MANIFEST_DIR"));
    let committed = std::fs::read_to_string(&path).unwrap();
    let generated = with_section(&committed, &section);
    if std::env::var_os("LATCHKEY_WRITE_RELIABILITY").is_some() {
        std::fs::write(&path, &generated).unwrap();
    } else {
        assert!(
            generated == committed,
            "{DOC}'s `{HEADING}` section is not what the fault walk generates; \
             rewrite it with `{REGENERATE}` and commit it"
        );
    }
}

/// The section's text above the table, with the walk's counts.
fn prose(w: &Walk) -> String {
    format!(
        r#"One user walks through every route of the route table and the security-events handler,
in process on the memory store (`tests/integration/machines/faults.rs`; the wrappers around
the store and notifier ports are `machines/injection.rs`). Each step runs once without
faults, counting its store and SNS calls; then, for each call k and each fault that call
can meet, the step runs again from the state before it with call k failed: {runs} faulted
runs, plus {references} fault-free reference runs to judge them, in one to two seconds in a
debug build. A route added to the table without a step fails the test. For every run:

- the answer is `503 unavailable` with `Retry-After` (the stream handler: the record
  reported for redelivery), or exactly what the fault-free run answers;
- the table (every item, compared whole) and SNS's live subscriptions are as before the
  request or as the fault-free run leaves them, but for the outcomes listed below.

Every one-time thing (a TOTP step, a recovery code, a challenge, a push and its answer, a
registration, a `login_id`) is an item or a field of one, so it is spent together with its
effect or not at all.

A retry draws new random values (tokens, ids, the backoff's jitter), and the comparison
stays strict all the same: every run draws from one seeded source, rewound to where it
stood before the step, so a run that did not retry must match the fault-free run byte for
byte, and a run that retried must match a fault-free run whose random stream skips, at one
of its draws, exactly as many blocks as the faulted run drew more (the failed attempt and
the backoff). Only WebAuthn challenges are masked: webauthn-rs draws them from the OS.

### The faults

What the DynamoDB adapter (`shared/src/store/dynamo.rs`) can answer, per request:

| request | unavailable | contention | condition echo | answer lost |
|---|---|---|---|---|
| GetItem, Query | yes | no | no | no |
| TransactGetItems | yes | yes: cancelled by a transaction in flight | no | no |
| PutItem, DeleteItem (one item, with a condition) | yes | yes: `TransactionConflictException` | yes | yes |
| TransactWriteItems | yes | yes: cancelled by `TransactionConflict`, `TransactionConflictException`, `TransactionInProgressException` | no | yes |
| SNS Publish, Subscribe, Unsubscribe; EventBridge PutEvents | yes | no | no | no |

- **unavailable**: nothing done, `StoreError::Unavailable`. The adapter maps every SDK error
  that is not a failed condition or a conflict there (`unavailable()`): after the SDK's own
  retries, that is a timeout, throttling (`ProvisionedThroughputExceededException`,
  `RequestLimitExceeded`, `ThrottlingException`) or a 5xx; a malformed item too.
- **contention**: nothing done, `StoreError::Contention`.
- **condition echo**: the write is applied, then answered `ConditionFailed(0)`. This is what
  conditional-check noise is on DynamoDB: it never reports a condition failed on an item
  that is as expected, so "refused although nothing was written" is no fault the store
  makes (and an operation would rightly answer it "already used"). But PutItem and
  DeleteItem carry no idempotency token: when the SDK retries an attempt that landed
  unanswered, the retry meets its own write and fails its condition. So the echo is
  injected on writes of one item with a condition.
- **answer lost**: the write is applied, then answered `Unavailable`: the ambiguous timeout.

Transactions are not echoed. aws-sdk-dynamodb (1.136) fills TransactWriteItems'
`ClientRequestToken` when the caller leaves it empty (`IdempotencyTokenRuntimePlugin`, in
`modify_before_serialization`, which runs once per call, before the retry loop), so every
SDK retry of one call carries the same token, and DynamoDB answers the repeat of a
transaction that succeeded (within 10 minutes) with success, without applying it again.
Our own retries
(after `Contention`) are new calls that read afresh. A write of one item goes as
PutItem/DeleteItem (half the write units of a transaction) and has no token; where it puts
an item no other request can put byte for byte (a random id or challenge, a salted hash),
`txn::commit_unique` reads a refused item back and takes an exact match for its own
success: sign-up, the registrations' starts, the WebAuthn and passkey login starts.

### Outcomes besides "before" and "after"

- **re-authenticated**: a password in the body is judged, and the session marked for five
  minutes, in a write of its own before the change. A fault after that write answers 503
  with the session re-authenticated and the change not made, exactly as a fault-free
  `POST /v1/session/reauthenticate` leaves it (the test compares with that run); the retry
  needs no password.
- **seen**, **after, not seen**: a session used more than five minutes after its
  `last_seen_at` has it recorded first, in a write of its own, best effort. When that
  write fails the request goes on and the use is not recorded; when the change fails after
  it, the answer is 503 and the session is recorded as seen, exactly as a fault-free
  `GET /v1/me` leaves it.
- **withdrawn**: the login push is written, then its SNS publish fails: 503, the push is
  marked failed (it can never be answered; its status reads `expired`) and both push
  counters are given back, so the user can send another at once.
- **after, subscription stays**: `remove-device` forgets the device first and unsubscribes
  after. When the unsubscribe fails the answer is 200; when the profile write's answer is
  lost it is 503 (a retry finds no device: 404). Either way the subscription stays,
  filtering on an id no profile holds, so nothing reaches it; a warning is logged.
- **after, ended sessions' items left**: revoking the other sessions, changing the
  password and reporting a notice end sessions at once by moving the profile's session
  generation on, and delete the first sessions' items in the same write; the rest are
  deleted after, best effort. When that cleanup fails the answer is the normal one (a
  report's count is then of the items deleted) and the dead sessions' items wait for the
  TTL; when the first write's answer is lost, 503 with the same table.
- **503 · after** is the ambiguous timeout: the change is made and the caller hears 503;
  its retry meets the change (a sign-up `409 username_taken`, a removed device `404`, a
  spent TOTP step `401 invalid_code`: the session made for that code is never seen and
  expires; a login push counted against the limits but never sent, which expires
  unanswered).
- The stream handler writes nothing: a failed read, publish or EventBridge put reports the
  record, and the stream delivers it again. The change the notice is about was answered
  when it was made; the push device hears of it on the redelivery. Delivery is at least
  once: a put that fails after the publish went out sends the notice again, with the same
  id.

### Bugs the walk found, fixed

- `create-account`: an echoed PutItem answered `409 username_taken` to the user whose
  account it had just created.
- `update-mfa-settings` with the setting unchanged: an echoed version write was applied
  twice. A setting that does not change is no longer written.
- `login-webauthn-start`, `login-passkey-start`: an echoed write was retried, writing a
  second challenge (the login's version twice) or an orphan passkey login.
- `remove-device`: SNS Unsubscribe came before the profile write, so a failed write left
  the device in the profile without its subscription: a push device that never hears a
  login push again. The order is reversed.
- `push-respond`: an echoed approval answered `409 already_answered` to the device whose
  approval had counted. Its own write could not be told apart (two identical answers in
  one millisecond are the same item, and exactly one must win); instead the approval now
  checks the profile's version beside the push, the house rule for a decision taken on a
  record: an approval from a device removed meanwhile no longer counts, and the write is a
  transaction, whose idempotency token makes the SDK's retry harmless.
- `push-report` with more sessions than its first write deletes: a failure while deleting
  the rest answered 503 for a report that had been made (and its retry
  `409 already_answered`). The rest is cleanup now, as for the password change.
- Better, though within the rule before: `start-totp-registration`,
  `start-push-registration` under an echo answered 503 with the registration written; now
  200. A session's read (every route behind a session) and the passkey finish's read,
  cancelled by a write transaction in flight on one of their items (a sign-in's check on
  the profile is one), answered 503; they are read again now (`txn::read_many`).

The table is grouped by route, in the route table's order, one row per call of a case.
Cells: the answer's status (stream: `done` or `resumes`) · the table afterwards (`before`,
`after`, `unchanged` where the step changes nothing, or an outcome above). Blank: the call
cannot meet that fault. Rewrite the section with `{REGENERATE}`; the test fails while the
committed one differs.
"#,
        runs = w.runs,
        references = w.references,
    )
}
