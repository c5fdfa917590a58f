//! The store port on DynamoDB: one table, `pk`/`sk` string keys, a numeric `version`, the
//! record as a JSON string in `body`, and `ttl` (Unix seconds) for DynamoDB's expiry.
//!
//! One write is a conditional PutItem/DeleteItem; several are one TransactWriteItems, whose
//! cancellation reasons tell which condition failed. Several reads by key are one
//! TransactGetItems: unlike BatchGetItem it answers in request order, all at once (no
//! unprocessed keys to chase) and strongly consistent, at twice the read units per item.

use super::{Expect, Item, Key, Store, StoreError, Write, MAX_GET_MANY};
use async_trait::async_trait;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_get_items::TransactGetItemsError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, CancellationReason, ConditionCheck, Delete, Get, Put, TransactGetItem,
    TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use std::collections::HashMap;

pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoStore {
            client,
            table: table.into(),
        }
    }
}

type Attributes = HashMap<String, AttributeValue>;

fn key_attributes(key: &Key) -> Attributes {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(key.pk.clone())),
        ("sk".to_owned(), AttributeValue::S(key.sk.clone())),
    ])
}

fn item_attributes(item: &Item) -> Attributes {
    let mut attributes = key_attributes(&item.key);
    attributes.insert(
        "version".to_owned(),
        AttributeValue::N(item.version.to_string()),
    );
    attributes.insert("body".to_owned(), AttributeValue::S(item.body.clone()));
    if let Some(ttl) = item.ttl {
        attributes.insert("ttl".to_owned(), AttributeValue::N(ttl.to_string()));
    }
    attributes
}

fn parse_item(attributes: &Attributes) -> Result<Item, StoreError> {
    let text = |name: &str| match attributes.get(name) {
        Some(AttributeValue::S(s)) => Ok(s.clone()),
        _ => Err(corrupt(name)),
    };
    let number = |name: &str| match attributes.get(name) {
        Some(AttributeValue::N(n)) => n.parse::<i64>().map(Some).map_err(|_| corrupt(name)),
        None => Ok(None),
        _ => Err(corrupt(name)),
    };
    Ok(Item {
        key: Key::new(text("pk")?, text("sk")?),
        version: number("version")?
            .and_then(|v| u64::try_from(v).ok())
            .ok_or_else(|| corrupt("version"))?,
        ttl: number("ttl")?,
        body: text("body")?,
    })
}

fn corrupt(attribute: &str) -> StoreError {
    tracing::error!(
        attribute,
        "stored item has a missing or malformed attribute"
    );
    StoreError::Unavailable
}

/// The condition expression for an expectation, with its names and values.
struct Condition {
    expression: Option<&'static str>,
    names: Option<HashMap<String, String>>,
    values: Option<Attributes>,
}

fn condition(expect: Expect) -> Condition {
    match expect {
        Expect::Absent => Condition {
            expression: Some("attribute_not_exists(pk)"),
            names: None,
            values: None,
        },
        Expect::Present => Condition {
            expression: Some("attribute_exists(pk)"),
            names: None,
            values: None,
        },
        Expect::Version(v) => Condition {
            expression: Some("#version = :expected_version"),
            names: Some(HashMap::from([(
                "#version".to_owned(),
                "version".to_owned(),
            )])),
            values: Some(HashMap::from([(
                ":expected_version".to_owned(),
                AttributeValue::N(v.to_string()),
            )])),
        },
        Expect::Anything => Condition {
            expression: None,
            names: None,
            values: None,
        },
    }
}

fn unavailable<E: std::error::Error + 'static, R: std::fmt::Debug>(
    operation: &'static str,
    error: &SdkError<E, R>,
) -> StoreError {
    tracing::error!(operation, error = %DisplayErrorContext(error), "DynamoDB call failed");
    StoreError::Unavailable
}

/// A failed PutItem/DeleteItem: its condition, a clash with a transaction, or an outage.
fn single_write_error<E, R>(operation: &'static str, error: &SdkError<E, R>) -> StoreError
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
    R: std::fmt::Debug,
{
    match error.as_service_error() {
        Some(e) if e.code() == Some("ConditionalCheckFailedException") => {
            StoreError::ConditionFailed(0)
        }
        Some(e) if is_transient_conflict(e) => StoreError::Contention,
        _ => unavailable(operation, error),
    }
}

fn is_transient_conflict<E: ProvideErrorMetadata>(error: &E) -> bool {
    matches!(
        error.code(),
        Some("TransactionConflictException") | Some("TransactionInProgressException")
    )
}

/// A cancelled transaction that clashed with another one on the same item.
fn clashed(reasons: &[CancellationReason]) -> bool {
    reasons
        .iter()
        .any(|r| r.code() == Some("TransactionConflict"))
}

impl DynamoStore {
    /// One write without a transaction; a lone [`Write::Check`] is not one (it goes as a
    /// transaction of one item, which is what makes it a check).
    async fn write_one(&self, write: Write) -> Result<(), StoreError> {
        match write {
            Write::Check { .. } => self.transact(vec![write]).await,
            Write::Put { item, expect } => {
                let cond = condition(expect);
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item_attributes(&item)))
                    .set_condition_expression(cond.expression.map(str::to_owned))
                    .set_expression_attribute_names(cond.names)
                    .set_expression_attribute_values(cond.values)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| single_write_error("PutItem", &e))
            }
            Write::Delete { key, expect } => {
                let cond = condition(expect);
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(&key)))
                    .set_condition_expression(cond.expression.map(str::to_owned))
                    .set_expression_attribute_names(cond.names)
                    .set_expression_attribute_values(cond.values)
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| single_write_error("DeleteItem", &e))
            }
        }
    }

    fn transact_item(&self, write: Write) -> Result<TransactWriteItem, StoreError> {
        let built = match write {
            Write::Put { item, expect } => {
                let cond = condition(expect);
                Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(item_attributes(&item)))
                    .set_condition_expression(cond.expression.map(str::to_owned))
                    .set_expression_attribute_names(cond.names)
                    .set_expression_attribute_values(cond.values)
                    .build()
                    .map(|put| TransactWriteItem::builder().put(put).build())
            }
            Write::Delete { key, expect } => {
                let cond = condition(expect);
                Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(&key)))
                    .set_condition_expression(cond.expression.map(str::to_owned))
                    .set_expression_attribute_names(cond.names)
                    .set_expression_attribute_values(cond.values)
                    .build()
                    .map(|delete| TransactWriteItem::builder().delete(delete).build())
            }
            Write::Check { key, expect } => {
                let cond = condition(expect);
                ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(&key)))
                    // DynamoDB wants a condition on a check; "anything" is the always-true one.
                    .condition_expression(
                        cond.expression
                            .unwrap_or("attribute_exists(pk) OR attribute_not_exists(pk)"),
                    )
                    .set_expression_attribute_names(cond.names)
                    .set_expression_attribute_values(cond.values)
                    .build()
                    .map(|check| TransactWriteItem::builder().condition_check(check).build())
            }
        };
        built.map_err(|e| {
            tracing::error!(error = %e, "could not build a transaction item");
            StoreError::Unavailable
        })
    }
}

#[async_trait]
impl Store for DynamoStore {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_attributes(key)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", &e))?;
        output.item().map(parse_item).transpose()
    }

    async fn get_many(&self, keys: &[Key]) -> Result<Vec<Option<Item>>, StoreError> {
        if keys.len() > MAX_GET_MANY {
            return Err(StoreError::TooManyKeys(keys.len()));
        }
        // DynamoDB refuses a transaction naming one item twice, so each key is asked once.
        let mut unique: Vec<&Key> = Vec::with_capacity(keys.len());
        let positions: Vec<usize> = keys
            .iter()
            .map(|key| match unique.iter().position(|u| *u == key) {
                Some(at) => at,
                None => {
                    unique.push(key);
                    unique.len() - 1
                }
            })
            .collect();
        if unique.is_empty() {
            return Ok(Vec::new());
        }
        let gets = unique
            .iter()
            .map(|key| {
                Get::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_attributes(key)))
                    .build()
                    .map(|get| TransactGetItem::builder().get(get).build())
            })
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| {
                tracing::error!(error = %e, "could not build a transaction read");
                StoreError::Unavailable
            })?;
        let output = self
            .client
            .transact_get_items()
            .set_transact_items(Some(gets))
            .send()
            .await
            .map_err(|e| match e.as_service_error() {
                // A read cancelled by a write transaction in flight on one of its items.
                Some(TransactGetItemsError::TransactionCanceledException(c))
                    if clashed(c.cancellation_reasons()) =>
                {
                    StoreError::Contention
                }
                Some(s) if is_transient_conflict(s) => StoreError::Contention,
                _ => unavailable("TransactGetItems", &e),
            })?;
        let found = output
            .responses()
            .iter()
            .map(|response| response.item().map(parse_item).transpose())
            .collect::<Result<Vec<_>, _>>()?;
        if found.len() != unique.len() {
            tracing::error!(
                asked = unique.len(),
                answered = found.len(),
                "TransactGetItems answered a different number of items"
            );
            return Err(StoreError::Unavailable);
        }
        Ok(positions.into_iter().map(|at| found[at].clone()).collect())
    }

    async fn write(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.len() == 1 {
            let mut writes = writes;
            return match writes.pop() {
                Some(write) => self.write_one(write).await,
                None => Ok(()),
            };
        }
        if writes.is_empty() {
            return Ok(());
        }
        self.transact(writes).await
    }

    async fn query_desc(
        &self,
        pk: &str,
        sk_prefix: &str,
        limit: usize,
    ) -> Result<Vec<Item>, StoreError> {
        let output = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", "pk")
            .expression_attribute_names("#sk", "sk")
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
            .expression_attribute_values(":prefix", AttributeValue::S(sk_prefix.to_owned()))
            .scan_index_forward(false)
            .consistent_read(true)
            .limit(i32::try_from(limit).unwrap_or(i32::MAX))
            .send()
            .await
            .map_err(|e| unavailable("Query", &e))?;
        output.items().iter().map(parse_item).collect()
    }
}

impl DynamoStore {
    async fn transact(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let items = writes
            .into_iter()
            .map(|w| self.transact_item(w))
            .collect::<Result<Vec<_>, _>>()?;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) => match e.as_service_error() {
                Some(s) if s.is_transaction_canceled_exception() => {
                    let reasons = match s {
                        TransactWriteItemsError::TransactionCanceledException(c) => {
                            c.cancellation_reasons()
                        }
                        _ => &[],
                    };
                    if let Some(index) = reasons
                        .iter()
                        .position(|r| r.code() == Some("ConditionalCheckFailed"))
                    {
                        Err(StoreError::ConditionFailed(index))
                    } else if clashed(reasons) {
                        Err(StoreError::Contention)
                    } else {
                        Err(unavailable("TransactWriteItems", &e))
                    }
                }
                Some(s) if is_transient_conflict(s) => Err(StoreError::Contention),
                _ => Err(unavailable("TransactWriteItems", &e)),
            },
        }
    }
}
