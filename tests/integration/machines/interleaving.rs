//! A memory store that forces the interleavings that matter.
//!
//! The races of this service live between a read and the conditional write that follows
//! it (argon2, a signature check or a ceremony sits in between). Left to the scheduler,
//! a burst may or may not have its requests read the same state; armed with a [`Plan`],
//! this store makes them: the first `readers` reads of the chosen item kind are held until
//! all of them have been made, so every contender judges the same version before any of
//! them writes. A plan may also hold the writes a predicate picks (a right password's
//! outcome, a login's success) until a number of other writes have landed, to put a
//! decision after the lock it must respect.
//!
//! Holding is bounded: a plan whose contenders never all arrive is a broken test, and
//! fails loudly after [`PATIENCE`] instead of hanging.

use latchkey::store::memory::MemoryStore;
use latchkey::store::{Item, Key, Store, StoreError, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{watch, Barrier};

/// How long a held read or write waits for the others before the test fails.
const PATIENCE: Duration = Duration::from_secs(5);

/// Which writes a plan holds back.
pub type Picks = fn(&[Write]) -> bool;

pub struct Plan {
    /// The sort key of the items whose reads are held (`PROFILE`, `MFA`, `PUSH`).
    sort_key: &'static str,
    readers: usize,
    arrived: AtomicUsize,
    together: Barrier,
    hold: Option<(Picks, usize)>,
    landed: watch::Sender<usize>,
    clashes: AtomicUsize,
}

impl Plan {
    /// The first `readers` reads of an item whose sort key is `sort_key` (alone or in a
    /// batch) each see the store as it is, then wait until all `readers` have read.
    pub fn reads_together(sort_key: &'static str, readers: usize) -> Plan {
        Plan {
            sort_key,
            readers,
            arrived: AtomicUsize::new(0),
            together: Barrier::new(readers),
            hold: None,
            landed: watch::channel(0).0,
            clashes: AtomicUsize::new(0),
        }
    }

    /// Also holds every write that `picks` until `landed` other writes have succeeded
    /// since the plan was armed.
    pub fn holding(mut self, picks: Picks, landed: usize) -> Plan {
        self.hold = Some((picks, landed));
        self
    }

    /// Writes that succeeded since the plan was armed.
    pub fn landed(&self) -> usize {
        *self.landed.borrow()
    }

    /// Writes refused since the plan was armed because an item was no longer as read:
    /// proof that the contenders really did read the same state. A race test asserts
    /// some, so that it cannot pass by running its requests one after the other.
    pub fn clashes(&self) -> usize {
        self.clashes.load(Ordering::SeqCst)
    }

    async fn read(&self, keys: &[Key]) {
        if !keys.iter().any(|k| k.sk == self.sort_key) {
            return;
        }
        let arrival = self.arrived.fetch_add(1, Ordering::SeqCst);
        if arrival < self.readers
            && tokio::time::timeout(PATIENCE, self.together.wait())
                .await
                .is_err()
        {
            panic!(
                "the plan waits for {} reads of {} items; only {} came",
                self.readers,
                self.sort_key,
                self.arrived.load(Ordering::SeqCst)
            );
        }
    }

    async fn before_write(&self, writes: &[Write]) {
        let Some((picks, landed)) = self.hold else {
            return;
        };
        if picks(writes) {
            let mut seen = self.landed.subscribe();
            if tokio::time::timeout(PATIENCE, seen.wait_for(|n| *n >= landed))
                .await
                .is_err()
            {
                panic!(
                    "a held write waits for {landed} writes to land; only {} did",
                    self.landed()
                );
            }
        }
    }
}

/// The memory store with an optional [`Plan`]; unarmed, it is the memory store.
#[derive(Default)]
pub struct Interleaving {
    inner: MemoryStore,
    plan: Mutex<Option<Arc<Plan>>>,
}

impl Interleaving {
    /// Applies `plan` to the calls from now on; the returned handle tells what happened.
    pub fn arm(&self, plan: Plan) -> Arc<Plan> {
        let plan = Arc::new(plan);
        *self.plan.lock().unwrap() = Some(plan.clone());
        plan
    }

    pub fn disarm(&self) {
        *self.plan.lock().unwrap() = None;
    }

    /// Every item, in key order.
    pub fn contents(&self) -> Vec<Item> {
        self.inner.contents()
    }

    /// Makes the store hold exactly `items`.
    pub fn restore(&self, items: Vec<Item>) {
        self.inner.restore(items);
    }

    fn plan(&self) -> Option<Arc<Plan>> {
        self.plan.lock().unwrap().clone()
    }
}

#[async_trait::async_trait]
impl Store for Interleaving {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let item = self.inner.get(key).await?;
        if let Some(plan) = self.plan() {
            plan.read(std::slice::from_ref(key)).await;
        }
        Ok(item)
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        let items = self.inner.get_many(keys).await?;
        if let Some(plan) = self.plan() {
            plan.read(keys).await;
        }
        Ok(items)
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let plan = self.plan();
        if let Some(plan) = &plan {
            plan.before_write(&writes).await;
        }
        let result = self.inner.write(writes).await;
        if let Some(plan) = &plan {
            match &result {
                Ok(()) => plan.landed.send_modify(|n| *n += 1),
                Err(StoreError::ConditionFailed(_)) => {
                    plan.clashes.fetch_add(1, Ordering::SeqCst);
                }
                Err(_) => {}
            }
        }
        result
    }

    async fn query_desc(
        &self,
        pk: &str,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        self.inner.query_desc(pk, prefix, limit).await
    }
}

/// Picks a write that only checks a version (a right password's outcome).
pub fn checks_a_version(writes: &[Write]) -> bool {
    writes.iter().any(|w| matches!(w, Write::Check { .. }))
}

/// Picks a write that spends a login in progress (a second factor's success, or its
/// fifth failure).
pub fn spends_a_login(writes: &[Write]) -> bool {
    writes
        .iter()
        .any(|w| matches!(w, Write::Delete { key, .. } if key.sk == "MFA"))
}
