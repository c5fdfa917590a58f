//! The table's stream, read locally: what Lambda's event source mapping does for the
//! security-events function in AWS, done by the dev server against moto. Each poll reads
//! every shard from where the last one stopped (DescribeStream, GetShardIterator,
//! GetRecords), keeps the records the mapping's filter would pass (new `EVENT#` items,
//! infra/template.yaml), and hands them to [`latchkey::stream::handle`] in batches. A
//! record the handler reports failed is read again, with everything after it, on the
//! next poll; after [`MAX_ATTEMPTS`] it is given up as the mapping would send it to the
//! dead-letter queue (logged here).

use aws_sdk_dynamodbstreams::types::{AttributeValue as SdkValue, Record, ShardIteratorType};
use aws_sdk_dynamodbstreams::Client;
use latchkey::app::SdkConfig;
use latchkey::notify::bus::EventBus;
use latchkey::stream::{
    self, AttributeValue, BatchResponse, StreamChange, StreamEvent, StreamRecord,
};
use latchkey::App;
use std::collections::{BTreeMap, HashMap};

/// Deliveries of one failing record before it is given up.
pub const MAX_ATTEMPTS: u32 = 3;
/// Records per batch, as the event source mapping's `BatchSize`.
const BATCH_SIZE: i32 = 100;

#[derive(Debug)]
pub enum PollError {
    NoStream(String),
    Read(String),
}

impl std::fmt::Display for PollError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PollError::NoStream(table) => write!(f, "the table {table} has no stream"),
            PollError::Read(why) => write!(f, "reading the stream failed: {why}"),
        }
    }
}

impl std::error::Error for PollError {}

#[derive(Default)]
struct Shard {
    /// The last record handled (or given up); `None`: from the shard's start.
    after: Option<String>,
    /// The record that failed last, and how often.
    failing: Option<(String, u32)>,
}

pub struct StreamPoller {
    client: Client,
    stream_arn: String,
    shards: BTreeMap<String, Shard>,
}

/// What one poll did: the batches handed to the handler and its answers.
#[derive(Debug, Default)]
pub struct Poll {
    pub batches: Vec<(StreamEvent, BatchResponse)>,
}

fn read_error(what: &str, error: impl std::fmt::Display) -> PollError {
    PollError::Read(format!("{what}: {error}"))
}

impl StreamPoller {
    /// The poller of `table`'s latest stream.
    pub async fn new(sdk: &SdkConfig, table: &str) -> Result<Self, PollError> {
        let described = aws_sdk_dynamodb::Client::new(sdk)
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| {
                read_error(
                    "DescribeTable",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e),
                )
            })?;
        let stream_arn = described
            .table()
            .and_then(|t| t.latest_stream_arn())
            .ok_or_else(|| PollError::NoStream(table.to_owned()))?
            .to_owned();
        Ok(StreamPoller {
            client: Client::new(sdk),
            stream_arn,
            shards: BTreeMap::new(),
        })
    }

    /// Forgets how far each shard was read: the next poll delivers everything again, as
    /// a retried batch would (tests of at-least-once delivery).
    pub fn rewind(&mut self) {
        self.shards.clear();
    }

    /// Reads what is new on every shard and hands it to the handler.
    pub async fn poll(&mut self, app: &App, bus: &dyn EventBus) -> Result<Poll, PollError> {
        let described = self
            .client
            .describe_stream()
            .stream_arn(&self.stream_arn)
            .send()
            .await
            .map_err(|e| {
                read_error(
                    "DescribeStream",
                    aws_sdk_dynamodbstreams::error::DisplayErrorContext(e),
                )
            })?;
        let shard_ids: Vec<String> = described
            .stream_description()
            .map(|d| {
                d.shards()
                    .iter()
                    .filter_map(|s| s.shard_id().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        let mut poll = Poll::default();
        for shard_id in shard_ids {
            self.poll_shard(&shard_id, app, bus, &mut poll).await?;
        }
        Ok(poll)
    }

    async fn poll_shard(
        &mut self,
        shard_id: &str,
        app: &App,
        bus: &dyn EventBus,
        poll: &mut Poll,
    ) -> Result<(), PollError> {
        loop {
            let shard = self.shards.entry(shard_id.to_owned()).or_default();
            let request = self
                .client
                .get_shard_iterator()
                .stream_arn(&self.stream_arn)
                .shard_id(shard_id);
            let request = match &shard.after {
                Some(after) => request
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .sequence_number(after),
                None => request.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let iterator = request
                .send()
                .await
                .map_err(|e| {
                    read_error(
                        "GetShardIterator",
                        aws_sdk_dynamodbstreams::error::DisplayErrorContext(e),
                    )
                })?
                .shard_iterator()
                .map(str::to_owned)
                .ok_or_else(|| PollError::Read("GetShardIterator gave no iterator".to_owned()))?;
            let read = self
                .client
                .get_records()
                .shard_iterator(iterator)
                .limit(BATCH_SIZE)
                .send()
                .await
                .map_err(|e| {
                    read_error(
                        "GetRecords",
                        aws_sdk_dynamodbstreams::error::DisplayErrorContext(e),
                    )
                })?;
            let records = read.records();
            let Some(last) = records.last().and_then(sequence_of) else {
                return Ok(());
            };
            let batch = StreamEvent {
                records: records
                    .iter()
                    .filter_map(convert)
                    .filter(stream::accepted)
                    .collect(),
            };
            if batch.records.is_empty() {
                shard.after = Some(last);
                continue;
            }
            let answer = stream::handle(app, bus, &batch).await;
            let failed = answer
                .batch_item_failures
                .first()
                .map(|f| f.item_identifier.clone());
            poll.batches.push((batch.clone(), answer));
            let Some(failed) = failed else {
                shard.after = Some(last);
                shard.failing = None;
                continue;
            };
            let attempts = match &shard.failing {
                Some((sequence, n)) if *sequence == failed => n + 1,
                _ => 1,
            };
            if attempts >= MAX_ATTEMPTS {
                tracing::error!(
                    sequence = %failed,
                    attempts,
                    "a stream record failed every delivery; given up (in AWS: the dead-letter queue)"
                );
                shard.after = Some(failed);
                shard.failing = None;
                continue;
            }
            // Resume at the failed record next time: everything before it is done.
            shard.after = batch
                .records
                .iter()
                .map(|r| &r.dynamodb.sequence_number)
                .take_while(|s| **s != failed)
                .last()
                .cloned()
                .or_else(|| shard.after.clone());
            shard.failing = Some((failed, attempts));
            return Ok(());
        }
    }
}

fn sequence_of(record: &Record) -> Option<String> {
    record
        .dynamodb()
        .and_then(|d| d.sequence_number())
        .map(str::to_owned)
}

fn attributes(map: &HashMap<String, SdkValue>) -> HashMap<String, AttributeValue> {
    map.iter()
        .map(|(name, value)| {
            let value = match value {
                SdkValue::S(s) => AttributeValue::S(s.clone()),
                SdkValue::N(n) => AttributeValue::N(n.clone()),
                _ => AttributeValue::Other,
            };
            (name.clone(), value)
        })
        .collect()
}

/// A record of the SDK as Lambda would hand it to the function.
fn convert(record: &Record) -> Option<StreamRecord> {
    let change = record.dynamodb()?;
    Some(StreamRecord {
        event_id: record.event_id().map(str::to_owned),
        event_name: record.event_name()?.as_str().to_owned(),
        dynamodb: StreamChange {
            sequence_number: change.sequence_number()?.to_owned(),
            keys: change.keys().map(attributes).unwrap_or_default(),
            new_image: change.new_image().map(attributes),
        },
    })
}

/// Polls `table`'s stream every second until the process ends (the dev server).
pub async fn run(
    app: std::sync::Arc<App>,
    bus: std::sync::Arc<dyn EventBus>,
    sdk: SdkConfig,
    table: String,
) {
    let mut poller = None;
    let mut warned = false;
    loop {
        if poller.is_none() {
            match StreamPoller::new(&sdk, &table).await {
                Ok(p) => poller = Some(p),
                // Said once: a table made before it had a stream (`scripts/local-stack
                // start` adds one) would otherwise fill the log every second.
                Err(e) if !warned => {
                    warned = true;
                    tracing::warn!(error = %e, "the table's stream cannot be read; security events stay local");
                }
                Err(_) => {}
            }
        }
        if let Some(p) = poller.as_mut() {
            if let Err(e) = p.poll(&app, bus.as_ref()).await {
                tracing::warn!(error = %e, "polling the table's stream failed");
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
}
