//! Faults at the ports: a store and a notifier that fail the k-th call of a request in a
//! chosen way, and otherwise pass every call through, counting it.
//!
//! The kinds are what the adapters can answer (shared/src/store/dynamo.rs,
//! shared/src/notify/sns.rs), not every error one could imagine: a read by key or a query
//! fails `Unavailable` (GetItem and Query have no other failure the adapter tells apart);
//! a batch read also `Contention` (a TransactGetItems cancelled by a transaction in flight);
//! a write `Unavailable`, `Contention`, or applied with its answer lost (a timeout after
//! DynamoDB took it); and a conditional write of one item, which goes as a PutItem or
//! DeleteItem without an idempotency token, may also come back `ConditionFailed` after it
//! was applied: the SDK's retry of a timed-out attempt that had landed meets its own write
//! (see [`Fault::Echo`]). Every notifier and event bus call fails `Unavailable` (SNS and
//! EventBridge have no other answer the adapters tell apart).

use super::harness::Recorder;
use super::interleaving::Interleaving;
use latchkey::notify::bus::{EventBus, RecordingBus};
use latchkey::notify::{Notifier, NotifyError};
use latchkey::store::{Expect, Item, Key, Store, StoreError, Write};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Nothing done, `Unavailable`: a timeout, throttling after the SDK's retries, a 5xx.
    Unavailable,
    /// Nothing done, `Contention`: a transaction conflict.
    Contention,
    /// Applied, then answered `ConditionFailed(0)`: the SDK retried a PutItem/DeleteItem
    /// whose first attempt landed unanswered, and the retry's condition met that write.
    /// DynamoDB never reports a condition failed on an item that is as expected, so a
    /// refusal with nothing written is no fault the store can make; this is the one way a
    /// condition is "wrongly" reported failed.
    Echo,
    /// Applied, then answered `Unavailable`: the ambiguous timeout.
    Lost,
}

impl Fault {
    pub const ALL: [Fault; 4] = [
        Fault::Unavailable,
        Fault::Contention,
        Fault::Echo,
        Fault::Lost,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Fault::Unavailable => "unavailable",
            Fault::Contention => "contention",
            Fault::Echo => "condition echo",
            Fault::Lost => "answer lost",
        }
    }
}

/// One call through a port, as a request made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    Get(Vec<Key>),
    GetMany(Vec<Key>),
    Query(String),
    Write(Vec<(Key, Expect, &'static str)>),
    Publish,
    Subscribe,
    Unsubscribe,
    /// EventBridge PutEvents (the security-events handler's bus).
    PutEvent,
}

impl Call {
    /// The faults this call can meet.
    pub fn faults(&self) -> Vec<Fault> {
        match self {
            Call::Get(_) | Call::Query(_) => vec![Fault::Unavailable],
            Call::GetMany(_) => vec![Fault::Unavailable, Fault::Contention],
            Call::Write(items) => {
                let mut kinds = vec![Fault::Unavailable, Fault::Contention];
                if let [(_, expect, kind)] = items.as_slice() {
                    if *expect != Expect::Anything && *kind != "check" {
                        kinds.push(Fault::Echo);
                    }
                }
                kinds.push(Fault::Lost);
                kinds
            }
            Call::Publish | Call::Subscribe | Call::Unsubscribe | Call::PutEvent => {
                vec![Fault::Unavailable]
            }
        }
    }

    /// Whether this is a write that puts or deletes an item whose sort key is `sk`.
    pub fn writes(&self, sk: &str) -> bool {
        matches!(self, Call::Write(items) if items.iter().any(|(key, _, op)| key.sk == sk && *op != "check"))
    }

    /// A short name: the port and the kinds of items it touches.
    pub fn label(&self) -> String {
        let kinds = |keys: &mut dyn Iterator<Item = &Key>| {
            let mut names: Vec<&str> = keys.map(kind_of).collect();
            names.dedup();
            names.join(", ")
        };
        match self {
            Call::Get(keys) => format!("get {}", kinds(&mut keys.iter())),
            Call::GetMany(keys) => format!("get {}", kinds(&mut keys.iter())),
            Call::Query(prefix) => format!("query {}", kind_of(&Key::new("", prefix.clone()))),
            Call::Write(items) => {
                // In order of first appearance, counted: "delete session ×5".
                let mut parts: Vec<(String, usize)> = Vec::new();
                for (key, _, op) in items {
                    let part = format!("{op} {}", kind_of(key));
                    match parts.iter_mut().find(|(p, _)| *p == part) {
                        Some((_, n)) => *n += 1,
                        None => parts.push((part, 1)),
                    }
                }
                let parts: Vec<String> = parts
                    .into_iter()
                    .map(|(part, n)| {
                        if n == 1 {
                            part
                        } else {
                            format!("{part} ×{n}")
                        }
                    })
                    .collect();
                format!("write {}", parts.join(", "))
            }
            Call::Publish => "SNS publish".to_owned(),
            Call::Subscribe => "SNS subscribe".to_owned(),
            Call::Unsubscribe => "SNS unsubscribe".to_owned(),
            Call::PutEvent => "EventBridge put".to_owned(),
        }
    }
}

/// The kind of item a key names, by its sort key: `PROFILE`, `SESSION`, `EVENT#…`.
fn kind_of(key: &Key) -> &'static str {
    let sk = key.sk.as_str();
    match sk.split('#').next().unwrap_or(sk) {
        "PROFILE" => "profile",
        "SESSION" if sk.contains('#') => "session index",
        "SESSION" => "session",
        "MFA" => "login",
        "REG" => "registration",
        "PUSH" => "push",
        "PASSKEY" => "passkey login",
        "WEBAUTHN" => "user handle",
        "EVENT" => "event",
        "NOTICE" => "notice report",
        _ => "item",
    }
}

#[derive(Default)]
struct Log {
    calls: Vec<Call>,
    armed: Option<(usize, Fault)>,
}

/// Counts the calls of both ports, in order, and fails the armed one.
#[derive(Default)]
pub struct Injector {
    log: Mutex<Log>,
}

impl Injector {
    /// Fails call `index` (from 0) of what follows with `fault`.
    pub fn arm(&self, index: usize, fault: Fault) {
        let mut log = self.log.lock().unwrap();
        *log = Log {
            armed: Some((index, fault)),
            ..Log::default()
        };
    }

    /// Starts counting afresh, with nothing armed.
    pub fn clear(&self) {
        *self.log.lock().unwrap() = Log::default();
    }

    /// The calls made since [`Injector::arm`] or [`Injector::clear`].
    pub fn calls(&self) -> Vec<Call> {
        self.log.lock().unwrap().calls.clone()
    }

    fn enter(&self, call: Call) -> Option<Fault> {
        let mut log = self.log.lock().unwrap();
        let index = log.calls.len();
        log.calls.push(call);
        match log.armed {
            Some((at, fault)) if at == index => Some(fault),
            _ => None,
        }
    }
}

fn refusal(fault: Fault) -> StoreError {
    match fault {
        Fault::Contention => StoreError::Contention,
        _ => StoreError::Unavailable,
    }
}

/// The store port with faults, over the harness's store.
pub struct FaultyStore {
    pub inner: Arc<Interleaving>,
    pub injector: Arc<Injector>,
}

#[async_trait::async_trait]
impl Store for FaultyStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        match self.injector.enter(Call::Get(vec![key.clone()])) {
            Some(fault) => Err(refusal(fault)),
            None => self.inner.get(key).await,
        }
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        match self.injector.enter(Call::GetMany(keys.to_vec())) {
            Some(fault) => Err(refusal(fault)),
            None => self.inner.get_many(keys).await,
        }
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let shape = writes
            .iter()
            .map(|w| {
                let op = match w {
                    Write::Put { .. } => "put",
                    Write::Delete { .. } => "delete",
                    Write::Check { .. } => "check",
                };
                (w.key().clone(), w.expect(), op)
            })
            .collect();
        match self.injector.enter(Call::Write(shape)) {
            None => self.inner.write(writes).await,
            Some(fault @ (Fault::Unavailable | Fault::Contention)) => Err(refusal(fault)),
            Some(Fault::Echo) => {
                self.inner.write(writes).await?;
                Err(StoreError::ConditionFailed(0))
            }
            Some(Fault::Lost) => {
                // Whatever the store made of it, the caller hears of a timeout.
                let _ = self.inner.write(writes).await;
                Err(StoreError::Unavailable)
            }
        }
    }

    async fn query_desc(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        match self.injector.enter(Call::Query(sk_prefix.to_owned())) {
            Some(fault) => Err(refusal(fault)),
            None => self.inner.query_desc(pk, sk_prefix, limit).await,
        }
    }
}

/// The notifier port with faults, over the harness's recorder.
pub struct FaultyNotifier {
    pub inner: Arc<Recorder>,
    pub injector: Arc<Injector>,
}

#[async_trait::async_trait]
impl Notifier for FaultyNotifier {
    async fn publish(&self, device_id: &str, message: &str) -> Result<(), NotifyError> {
        match self.injector.enter(Call::Publish) {
            Some(_) => Err(NotifyError::Unavailable),
            None => self.inner.publish(device_id, message).await,
        }
    }
    async fn subscribe(&self, endpoint: &str, device_id: &str) -> Result<String, NotifyError> {
        match self.injector.enter(Call::Subscribe) {
            Some(_) => Err(NotifyError::Unavailable),
            None => self.inner.subscribe(endpoint, device_id).await,
        }
    }
    async fn unsubscribe(&self, subscription: &str) -> Result<(), NotifyError> {
        match self.injector.enter(Call::Unsubscribe) {
            Some(_) => Err(NotifyError::Unavailable),
            None => self.inner.unsubscribe(subscription).await,
        }
    }
}

/// The operators' event bus with faults, over a recording bus.
pub struct FaultyBus {
    pub inner: RecordingBus,
    pub injector: Arc<Injector>,
}

#[async_trait::async_trait]
impl EventBus for FaultyBus {
    async fn put(&self, detail_type: &str, detail: &str) -> Result<(), NotifyError> {
        match self.injector.enter(Call::PutEvent) {
            Some(_) => Err(NotifyError::Unavailable),
            None => self.inner.put(detail_type, detail).await,
        }
    }
}
