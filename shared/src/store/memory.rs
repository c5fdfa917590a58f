//! An in-memory store with the same semantics as the DynamoDB adapter. It serves unit
//! tests of pure logic and in-process benchmarks; tests that claim to test the API use moto.

use super::{Expect, Item, Key, Store, StoreError, Write};
use async_trait::async_trait;
use std::collections::BTreeMap;
use std::sync::Mutex;

#[derive(Default)]
pub struct MemoryStore {
    items: Mutex<BTreeMap<Key, Item>>,
}

impl MemoryStore {
    pub fn new() -> Self {
        Self::default()
    }
}

fn holds(expect: Expect, current: Option<&Item>) -> bool {
    match expect {
        Expect::Absent => current.is_none(),
        Expect::Present => current.is_some(),
        Expect::Version(v) => current.is_some_and(|item| item.version == v),
        Expect::Anything => true,
    }
}

#[async_trait]
impl Store for MemoryStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let items = self.items.lock().map_err(|_| StoreError::Unavailable)?;
        Ok(items.get(key).cloned())
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let mut items = self.items.lock().map_err(|_| StoreError::Unavailable)?;
        for (index, write) in writes.iter().enumerate() {
            let expect = match write {
                Write::Put { expect, .. } | Write::Delete { expect, .. } => *expect,
            };
            if !holds(expect, items.get(write.key())) {
                return Err(StoreError::ConditionFailed(index));
            }
        }
        for write in writes {
            match write {
                Write::Put { item, .. } => {
                    items.insert(item.key.clone(), item);
                }
                Write::Delete { key, .. } => {
                    items.remove(&key);
                }
            }
        }
        Ok(())
    }

    async fn query_desc(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let items = self.items.lock().map_err(|_| StoreError::Unavailable)?;
        Ok(items
            .values()
            .filter(|item| item.key.pk == pk && item.key.sk.starts_with(sk_prefix))
            .rev()
            .take(limit)
            .cloned()
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pk: &str, sk: &str, version: u64) -> Item {
        Item {
            key: Key::new(pk, sk),
            version,
            ttl: None,
            body: "{}".into(),
        }
    }

    #[tokio::test]
    async fn a_failed_expectation_writes_nothing_and_names_its_index() {
        let store = MemoryStore::new();
        store
            .write(vec![Write::Put {
                item: item("a", "1", 1),
                expect: Expect::Absent,
            }])
            .await
            .unwrap();
        let result = store
            .write(vec![
                Write::Put {
                    item: item("b", "1", 1),
                    expect: Expect::Absent,
                },
                Write::Put {
                    item: item("a", "1", 2),
                    expect: Expect::Version(7),
                },
            ])
            .await;
        assert_eq!(result, Err(StoreError::ConditionFailed(1)));
        assert!(store.get(&Key::new("b", "1")).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn query_is_newest_first_and_limited() {
        let store = MemoryStore::new();
        for sk in ["E#1", "E#3", "E#2", "X#9"] {
            store
                .write(vec![Write::Put {
                    item: item("u", sk, 1),
                    expect: Expect::Anything,
                }])
                .await
                .unwrap();
        }
        let got = store.query_desc("u", "E#", 2).await.unwrap();
        let sks: Vec<_> = got.iter().map(|i| i.key.sk.as_str()).collect();
        assert_eq!(sks, ["E#3", "E#2"]);
    }
}
