//! The store port: one table of versioned items, written atomically.
//!
//! Every item carries a `version`. A write states what it expects to find: nothing
//! (create), exactly version `v` (replace or consume), or anything. A call with several
//! writes is all-or-nothing; when an expectation fails the error names which write, so an
//! operation can tell "someone else changed the profile, retry" from "this one-time item was
//! already spent". This is how every one-time thing is spent exactly once.

pub mod dynamo;
pub mod memory;

use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Key {
            pk: pk.into(),
            sk: sk.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub key: Key,
    pub version: u64,
    /// Unix seconds after which DynamoDB may delete the item. Readers check expiry themselves.
    pub ttl: Option<i64>,
    pub body: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    Absent,
    Present,
    Version(u64),
    Anything,
}

#[derive(Debug, Clone)]
pub enum Write {
    Put {
        item: Item,
        expect: Expect,
    },
    Delete {
        key: Key,
        expect: Expect,
    },
    /// Writes nothing, but the whole call fails unless the item is as expected: a decision
    /// taken on a record (a password judged on a profile version) commits only while the
    /// record is still as it was read.
    Check {
        key: Key,
        expect: Expect,
    },
}

impl Write {
    pub fn key(&self) -> &Key {
        match self {
            Write::Put { item, .. } => &item.key,
            Write::Delete { key, .. } | Write::Check { key, .. } => key,
        }
    }

    pub fn expect(&self) -> Expect {
        match self {
            Write::Put { expect, .. }
            | Write::Delete { expect, .. }
            | Write::Check { expect, .. } => *expect,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreError {
    /// The expectation of the write at this index did not hold; nothing was written.
    #[error("condition failed on write {0}")]
    ConditionFailed(usize),
    /// Another transaction touched the same items at the same moment; retrying may succeed.
    #[error("transaction conflict")]
    Contention,
    #[error("store unavailable")]
    Unavailable,
    /// A batch read asked for more keys than one request can carry: a bug in the caller.
    #[error("{0} keys in one read, at most {MAX_GET_MANY}")]
    TooManyKeys(usize),
}

/// The most keys [`Store::get_many`] takes: DynamoDB's limit for one TransactGetItems.
pub const MAX_GET_MANY: usize = 100;

#[async_trait]
pub trait Store: Send + Sync {
    /// A strongly consistent read: a revoked session must be gone at once.
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    /// Several strongly consistent reads in one request, answered in the order of `keys`
    /// (`None` for a missing item), as of one moment: what a route can name up front
    /// costs one round trip, however many items. At most [`MAX_GET_MANY`] keys.
    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError>;

    /// Applies all writes or none.
    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError>;

    /// Items of partition `pk` whose sort key starts with `sk_prefix`, highest sort key
    /// first, at most `limit`.
    async fn query_desc(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError>;
}
