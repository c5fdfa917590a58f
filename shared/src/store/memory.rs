//! An in-memory store with the same semantics as the DynamoDB adapter. It serves unit
//! tests of pure logic and in-process benchmarks; tests that claim to test the API use moto.

use super::{Expect, Item, Key, Store, StoreError, Write, MAX_GET_MANY};
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

    /// Every item, in key order: what a test compares before and after a request.
    pub fn contents(&self) -> Vec<Item> {
        self.items
            .lock()
            .map(|items| items.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Makes the store hold exactly `items`: a test replays a request from a saved state.
    pub fn restore(&self, items: Vec<Item>) {
        if let Ok(mut held) = self.items.lock() {
            *held = items
                .into_iter()
                .map(|item| (item.key.clone(), item))
                .collect();
        }
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

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        // Refused here as DynamoDB would, so a caller's bug shows in unit tests too.
        if keys.len() > MAX_GET_MANY {
            return Err(StoreError::TooManyKeys(keys.len()));
        }
        let items = self.items.lock().map_err(|_| StoreError::Unavailable)?;
        Ok(keys.iter().map(|key| items.get(key).cloned()).collect())
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let mut items = self.items.lock().map_err(|_| StoreError::Unavailable)?;
        for (index, write) in writes.iter().enumerate() {
            if !holds(write.expect(), items.get(write.key())) {
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
                Write::Check { .. } => {}
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
    async fn get_many_answers_in_key_order_with_none_for_missing_items() {
        let store = MemoryStore::new();
        for (pk, version) in [("a", 1), ("c", 3)] {
            store
                .write(vec![Write::Put {
                    item: item(pk, "1", version),
                    expect: Expect::Absent,
                }])
                .await
                .unwrap();
        }
        let keys = [
            Key::new("c", "1"),
            Key::new("b", "1"),
            Key::new("a", "1"),
            Key::new("c", "1"),
        ];
        let got = store.get_many(&keys).await.unwrap();
        let versions: Vec<_> = got.iter().map(|i| i.as_ref().map(|i| i.version)).collect();
        assert_eq!(versions, [Some(3), None, Some(1), Some(3)]);
        assert_eq!(got[0].as_ref().map(|i| &i.key), Some(&keys[0]));
        assert!(store.get_many(&[]).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn get_many_refuses_more_keys_than_one_request_carries() {
        let store = MemoryStore::new();
        let keys: Vec<_> = (0..=MAX_GET_MANY)
            .map(|n| Key::new("a", n.to_string()))
            .collect();
        assert_eq!(
            store.get_many(&keys).await,
            Err(StoreError::TooManyKeys(MAX_GET_MANY + 1))
        );
        assert!(store.get_many(&keys[1..]).await.is_ok());
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
