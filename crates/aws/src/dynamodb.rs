//! The Ledger and Watches adapter over aws-sdk-dynamodb: one table, key `pk`, holding the
//! kinds of item sluice-core's `ledger` module names (locks, records, watches, bakes, the alias
//! journal and freezes). Every lock
//! write is conditional on who holds it; a settled record is never written again.

use crate::config::on_first_use;
use crate::errors::classify;
use crate::ports::{AwsError, AwsErrorKind, Ledger, Saved, Watches};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::ReturnValue;
use sluice_core::ledger::{
    Command, FREEZES, JOURNAL_INDEX, MeetingPoint, OPEN_DEPLOYMENT, OPEN_INDEX, OPEN_LOCK,
    alias_journal, bake_key, record_key, watch_key,
};
use sluice_core::{
    AlarmName, AliasEntry, Deployment, Freeze, FreezeScope, LockHolder, OpenItem, Timestamp, Watch,
};
use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::OnceCell;

/// The environment variable naming the table (template.yaml sets it on every function).
pub const TABLE_VAR: &str = "SLUICE_LEDGER_TABLE";
/// How long a record outlives its last write: Step Functions keeps histories 90 days too.
const RECORD_DAYS: u64 = 90;
/// How long a bake's meeting point is kept: a Standard execution runs at most a year.
const BAKE_DAYS: u64 = 366;

fn expires_in(days: u64) -> AttributeValue {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|t| t.as_secs())
        .unwrap_or(0);
    AttributeValue::N((now + days * 86_400).to_string())
}

pub struct DynamoLedger {
    client: OnceCell<Client>,
    table: String,
}

type Item = HashMap<String, AttributeValue>;

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn text(item: &Item, name: &str) -> String {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .cloned()
        .unwrap_or_default()
}

fn holder_of(item: &Item) -> Result<LockHolder, AwsError> {
    let since = text(item, "since");
    Ok(LockHolder {
        deployment_id: text(item, "deploymentId"),
        execution_arn: text(item, "executionArn"),
        since: Timestamp::parse(&since).map_err(|e| {
            AwsError::new(
                AwsErrorKind::Unreadable,
                "GetItem",
                format!("the lock {} says since {e}", text(item, "pk")),
            )
        })?,
    })
}

fn lock_item(key: &str, holder: &LockHolder) -> Item {
    HashMap::from([
        ("pk".into(), s(key)),
        ("kind".into(), s("lock")),
        ("deploymentId".into(), s(&holder.deployment_id)),
        ("executionArn".into(), s(&holder.execution_arn)),
        ("since".into(), s(&holder.since.to_string())),
        ("open".into(), s(OPEN_LOCK)),
    ])
}

/// A conditional write's result: whether it landed (false: its condition did not hold).
fn landed<T, E, R>(operation: &str, result: Result<T, SdkError<E, R>>) -> Result<bool, AwsError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) => {
            let e = classify(operation, e);
            if e.kind == AwsErrorKind::Conflict {
                Ok(false)
            } else {
                Err(e)
            }
        }
    }
}

impl DynamoLedger {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoLedger {
            client: OnceCell::new_with(Some(client)),
            table: table.into(),
        }
    }

    /// The table named by `SLUICE_LEDGER_TABLE`.
    pub fn from_env() -> Result<Self, String> {
        let table = std::env::var(TABLE_VAR)
            .map_err(|_| format!("{TABLE_VAR} is not set: the ledger table's name"))?;
        Ok(DynamoLedger::with_table(table))
    }

    /// The named table, with the standard credential and region chain; the client is made on
    /// the first call.
    pub fn with_table(table: impl Into<String>) -> Self {
        DynamoLedger {
            client: OnceCell::new(),
            table: table.into(),
        }
    }

    async fn client(&self) -> &Client {
        on_first_use(&self.client, Client::new).await
    }

    async fn get(&self, key: &str) -> Result<Option<Item>, AwsError> {
        let out = self
            .client()
            .await
            .get_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        Ok(out.item)
    }
}

impl Ledger for DynamoLedger {
    async fn lock(&self, key: &str, holder: &LockHolder) -> Result<Option<LockHolder>, AwsError> {
        // Two tries: a lock released between our put and our read is free the second time.
        for _ in 0..2 {
            let put = self
                .client()
                .await
                .put_item()
                .table_name(&self.table)
                .set_item(Some(lock_item(key, holder)))
                .condition_expression("attribute_not_exists(pk) OR executionArn = :me")
                .expression_attribute_values(":me", s(&holder.execution_arn))
                .send()
                .await;
            if landed("PutItem", put)? {
                return Ok(None);
            }
            if let Some(item) = self.get(key).await? {
                return holder_of(&item).map(Some);
            }
        }
        Err(AwsError::new(
            AwsErrorKind::Transient,
            "PutItem",
            format!("the lock {key} kept changing"),
        ))
    }

    async fn take_over(
        &self,
        key: &str,
        stale: &LockHolder,
        holder: &LockHolder,
    ) -> Result<bool, AwsError> {
        let put = self
            .client()
            .await
            .put_item()
            .table_name(&self.table)
            .set_item(Some(lock_item(key, holder)))
            .condition_expression("executionArn = :stale")
            .expression_attribute_values(":stale", s(&stale.execution_arn))
            .send()
            .await;
        landed("PutItem", put)
    }

    async fn unlock(&self, key: &str, execution_arn: &str) -> Result<(), AwsError> {
        let delete = self
            .client()
            .await
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .condition_expression("executionArn = :me")
            .expression_attribute_values(":me", s(execution_arn))
            .send()
            .await;
        // Not landing means someone else's lock, or none: nothing of ours to release.
        landed("DeleteItem", delete).map(|_| ())
    }

    async fn holder(&self, key: &str) -> Result<Option<LockHolder>, AwsError> {
        self.get(key).await?.as_ref().map(holder_of).transpose()
    }

    async fn save(&self, d: &Deployment) -> Result<Saved, AwsError> {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|t| t.as_secs())
            .unwrap_or(0);
        let status = d.status.as_str();
        let mut item = HashMap::from([
            ("pk".into(), s(&record_key(&d.deployment_id))),
            ("kind".into(), s("deployment")),
            ("deploymentId".into(), s(&d.deployment_id)),
            ("executionArn".into(), s(&d.execution_arn)),
            ("status".into(), s(status)),
            ("updatedAt".into(), s(&d.updated_at.to_string())),
            ("document".into(), s(&d.to_json().to_string())),
            (
                "settled".into(),
                AttributeValue::Bool(d.status.is_settled()),
            ),
            (
                "expiresAt".into(),
                AttributeValue::N((now + RECORD_DAYS * 86_400).to_string()),
            ),
        ]);
        // In the open index until settled (the sweeper reads it).
        if !d.status.is_settled() {
            item.insert("open".into(), s(OPEN_DEPLOYMENT));
        }
        let put = self
            .client()
            .await
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk) OR settled = :no")
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .send()
            .await;
        Ok(if landed("PutItem", put)? {
            Saved::Written
        } else {
            Saved::AlreadySettled
        })
    }

    async fn open(&self) -> Result<Vec<OpenItem>, AwsError> {
        let mut out = Vec::new();
        for item in self.open_of(OPEN_DEPLOYMENT).await? {
            out.push(OpenItem::Deployment {
                deployment_id: text(&item, "deploymentId"),
                execution_arn: text(&item, "executionArn"),
            });
        }
        for item in self.open_of(OPEN_LOCK).await? {
            out.push(OpenItem::Lock {
                key: text(&item, "pk"),
                holder: holder_of(&item)?,
            });
        }
        Ok(out)
    }

    async fn load(&self, deployment_id: &str) -> Result<Option<Deployment>, AwsError> {
        let Some(item) = self.get(&record_key(deployment_id)).await? else {
            return Ok(None);
        };
        let unreadable = |why: String| {
            AwsError::new(
                AwsErrorKind::Unreadable,
                "GetItem",
                format!("the record of {deployment_id} {why}"),
            )
        };
        let value = serde_json::from_str(&text(&item, "document"))
            .map_err(|e| unreadable(format!("is not JSON: {e}")))?;
        Deployment::from_json(value)
            .map(Some)
            .map_err(|e| unreadable(format!("is not a document: {}", e.message)))
    }

    async fn freezes(&self, scopes: &[FreezeScope]) -> Result<Vec<Freeze>, AwsError> {
        let mut out = Vec::new();
        for scope in scopes {
            if let Some(item) = self.get(&scope.key()).await? {
                out.push(freeze_of(&item)?);
            }
        }
        Ok(out)
    }

    async fn journal(&self, entries: &[AliasEntry]) -> Result<(), AwsError> {
        for e in entries {
            let item = HashMap::from([
                ("pk".into(), s(&e.key())),
                ("kind".into(), s("alias")),
                (
                    "journal".into(),
                    s(&alias_journal(&e.function_arn, &e.alias)),
                ),
                (
                    "at".into(),
                    AttributeValue::N(e.started_at.unix_millis().to_string()),
                ),
                ("deploymentId".into(), s(&e.deployment_id)),
                (
                    "entry".into(),
                    s(&serde_json::to_string(e).unwrap_or_default()),
                ),
                ("expiresAt".into(), expires_in(RECORD_DAYS)),
            ]);
            self.client()
                .await
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .send()
                .await
                .map_err(|e| classify("PutItem", e))?;
        }
        Ok(())
    }
}

/// A freeze as its item holds it (JSON text under `freeze`).
fn freeze_of(item: &Item) -> Result<Freeze, AwsError> {
    serde_json::from_str(&text(item, "freeze")).map_err(|e| {
        AwsError::new(
            AwsErrorKind::Unreadable,
            "GetItem",
            format!(
                "the freeze {} is not one sluice wrote: {e}",
                text(item, "pk")
            ),
        )
    })
}

fn freeze_item(f: &Freeze) -> Item {
    let mut item = HashMap::from([
        ("pk".into(), s(&f.scope.key())),
        ("kind".into(), s("freeze")),
        ("journal".into(), s(FREEZES)),
        (
            "at".into(),
            AttributeValue::N(f.at.unix_millis().to_string()),
        ),
        (
            "freeze".into(),
            s(&serde_json::to_string(f).unwrap_or_default()),
        ),
    ]);
    if let Some(until) = f.until {
        // Kept a day past its end, so `sluice freeze --list` still shows it ended.
        item.insert(
            "expiresAt".into(),
            AttributeValue::N((until.unix_seconds().max(0) as u64 + 86_400).to_string()),
        );
    }
    item
}

/// The CLI's reads and writes of the alias journal and the freezes.
impl DynamoLedger {
    /// Puts a freeze, replacing the one of the same scope; returns the one it replaced.
    pub async fn freeze(&self, f: &Freeze) -> Result<Option<Freeze>, AwsError> {
        let out = self
            .client()
            .await
            .put_item()
            .table_name(&self.table)
            .set_item(Some(freeze_item(f)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| classify("PutItem", e))?;
        out.attributes.as_ref().map(freeze_of).transpose()
    }

    /// Lifts the freeze of `scope`; returns it (None: there was none).
    pub async fn unfreeze(&self, scope: &FreezeScope) -> Result<Option<Freeze>, AwsError> {
        let out = self
            .client()
            .await
            .delete_item()
            .table_name(&self.table)
            .key("pk", s(&scope.key()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| classify("DeleteItem", e))?;
        out.attributes.as_ref().map(freeze_of).transpose()
    }

    /// Every freeze the ledger holds, newest first.
    pub async fn all_freezes(&self) -> Result<Vec<Freeze>, AwsError> {
        self.journal_of(FREEZES, None)
            .await?
            .iter()
            .map(freeze_of)
            .collect()
    }

    /// The newest `limit` deployments that moved this alias, newest first.
    pub async fn alias_history(
        &self,
        function_arn: &str,
        alias: &str,
        limit: usize,
    ) -> Result<Vec<AliasEntry>, AwsError> {
        self.journal_of(&alias_journal(function_arn, alias), Some(limit))
            .await?
            .iter()
            .map(|item| {
                serde_json::from_str(&text(item, "entry")).map_err(|e| {
                    AwsError::new(
                        AwsErrorKind::Unreadable,
                        "Query",
                        format!(
                            "the journal entry {} is not one sluice wrote: {e}",
                            text(item, "pk")
                        ),
                    )
                })
            })
            .collect()
    }

    /// The items of one journal partition, newest first (at most `limit`).
    async fn journal_of(
        &self,
        partition: &str,
        limit: Option<usize>,
    ) -> Result<Vec<Item>, AwsError> {
        self.query_index(JOURNAL_INDEX, "journal", partition, false, limit)
            .await
    }
}

impl DynamoLedger {
    /// Every item of the open index whose `open` attribute is `kind`.
    async fn open_of(&self, kind: &str) -> Result<Vec<Item>, AwsError> {
        self.query_index(OPEN_INDEX, "open", kind, true, None).await
    }

    /// The items of `index` whose hash key `attribute` is `value`, every page (or the first
    /// `limit`), in the range key's order or its reverse.
    async fn query_index(
        &self,
        index: &str,
        attribute: &str,
        value: &str,
        forward: bool,
        limit: Option<usize>,
    ) -> Result<Vec<Item>, AwsError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client()
                .await
                .query()
                .table_name(&self.table)
                .index_name(index)
                .key_condition_expression("#h = :h")
                .expression_attribute_names("#h", attribute)
                .expression_attribute_values(":h", s(value))
                .scan_index_forward(forward)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| classify("Query", e))?;
            items.extend(out.items().iter().cloned());
            if let Some(l) = limit
                && items.len() >= l
            {
                items.truncate(l);
                return Ok(items);
            }
            match out.last_evaluated_key() {
                Some(last) if !last.is_empty() => start = Some(last.clone()),
                _ => return Ok(items),
            }
        }
    }

    /// `SET watches.#d = :w` on an alarm's item that has its map already: false when it has not.
    async fn add_watch(&self, key: &str, id: &str, watch: &str) -> Result<bool, AwsError> {
        let update = self
            .client()
            .await
            .update_item()
            .table_name(&self.table)
            .key("pk", s(key))
            .update_expression("SET watches.#d = :w")
            .condition_expression("attribute_exists(watches)")
            .expression_attribute_names("#d", id)
            .expression_attribute_values(":w", s(watch))
            .send()
            .await;
        landed("UpdateItem", update)
    }

    /// Sets `attribute` to `value` at a bake's meeting point, unless a command (`free`: or the
    /// bake's end) is recorded there when `guarded`: the item as it was before (Ok), or as it is
    /// when the condition did not hold (Err). (`token` is a DynamoDB reserved word: every name
    /// goes through an attribute name.)
    async fn meet(
        &self,
        deployment_id: &str,
        slot: &str,
        attribute: &str,
        value: AttributeValue,
        condition: Meet,
    ) -> Result<Result<Item, Item>, AwsError> {
        let key = bake_key(deployment_id, slot);
        let mut update = self
            .client()
            .await
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&key))
            .update_expression("SET #k = :k, #a = :v, expiresAt = :x")
            .expression_attribute_names("#k", "kind")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":k", s("bake"))
            .expression_attribute_values(":v", value)
            .expression_attribute_values(":x", expires_in(BAKE_DAYS))
            .return_values(ReturnValue::AllOld);
        update = match condition {
            Meet::Always => update,
            Meet::NoCommand => update
                .condition_expression("attribute_not_exists(#c)")
                .expression_attribute_names("#c", "command"),
            Meet::Free => update
                .condition_expression("attribute_not_exists(#c) AND attribute_not_exists(#e)")
                .expression_attribute_names("#c", "command")
                .expression_attribute_names("#e", "ended"),
        };
        match update.send().await {
            Ok(out) => Ok(Ok(out.attributes.unwrap_or_default())),
            Err(e) => {
                let e = classify("UpdateItem", e);
                if e.kind != AwsErrorKind::Conflict {
                    return Err(e);
                }
                Ok(Err(self.get(&key).await?.unwrap_or_default()))
            }
        }
    }
}

/// What a write at a meeting point is conditional on.
#[derive(Clone, Copy)]
enum Meet {
    Always,
    /// No command recorded (the bake's end).
    NoCommand,
    /// No command and no end recorded (a command).
    Free,
}

/// A meeting point as its item holds it.
fn meeting_point_of(item: &Item) -> MeetingPoint {
    MeetingPoint {
        token: item.get("token").and_then(|v| v.as_s().ok()).cloned(),
        ended: item
            .get("ended")
            .and_then(|v| v.as_bool().ok())
            .copied()
            .unwrap_or(false),
        // A command this code cannot read was written by another shape: none of ours.
        command: item
            .get("command")
            .and_then(|v| v.as_s().ok())
            .and_then(|t| serde_json::from_str(t).ok()),
    }
}

impl Watches for DynamoLedger {
    async fn watch(&self, alarm: &AlarmName, watch: &Watch) -> Result<(), AwsError> {
        let key = watch_key(alarm);
        let id = &watch.deployment_id;
        let json = serde_json::to_string(watch).unwrap_or_default();
        // The alarm's item holds one map of watches; the first watch creates it.
        for _ in 0..2 {
            if self.add_watch(&key, id, &json).await? {
                return Ok(());
            }
            let put = self
                .client()
                .await
                .put_item()
                .table_name(&self.table)
                .item("pk", s(&key))
                .item("kind", s("watches"))
                .item(
                    "watches",
                    AttributeValue::M(HashMap::from([(id.clone(), s(&json))])),
                )
                .condition_expression("attribute_not_exists(pk)")
                .send()
                .await;
            if landed("PutItem", put)? {
                return Ok(());
            }
        }
        Err(AwsError::new(
            AwsErrorKind::Transient,
            "UpdateItem",
            format!("the watches of alarm {alarm} kept changing"),
        ))
    }

    async fn watches(&self, alarm: &AlarmName) -> Result<Vec<Watch>, AwsError> {
        let Some(item) = self.get(&watch_key(alarm)).await? else {
            return Ok(Vec::new());
        };
        let map = item
            .get("watches")
            .and_then(|w| w.as_m().ok())
            .cloned()
            .unwrap_or_default();
        let mut watches: Vec<Watch> = map
            .values()
            .filter_map(|v| v.as_s().ok())
            // A watch this code cannot read was written by another shape: not ours to act on.
            .filter_map(|text| serde_json::from_str(text).ok())
            .collect();
        watches.sort_by(|a, b| a.deployment_id.cmp(&b.deployment_id));
        Ok(watches)
    }

    async fn unwatch(
        &self,
        alarm: &AlarmName,
        deployment_id: &str,
        token: Option<&str>,
    ) -> Result<(), AwsError> {
        let mut update = self
            .client()
            .await
            .update_item()
            .table_name(&self.table)
            .key("pk", s(&watch_key(alarm)))
            .update_expression("REMOVE watches.#d")
            .expression_attribute_names("#d", deployment_id);
        update = match token {
            // The watch is stored as JSON text: its token is in it.
            Some(t) => update
                .condition_expression("contains(watches.#d, :t)")
                .expression_attribute_values(":t", s(t)),
            None => update.condition_expression("attribute_exists(watches.#d)"),
        };
        // Not landing: the watch is gone already, or belongs to a later bake.
        landed("UpdateItem", update.send().await).map(|_| ())
    }

    async fn watch_began(
        &self,
        deployment_id: &str,
        slot: &str,
        token: &str,
    ) -> Result<MeetingPoint, AwsError> {
        let before = self
            .meet(deployment_id, slot, "token", s(token), Meet::Always)
            .await?;
        Ok(meeting_point_of(&before.unwrap_or_else(|now| now)))
    }

    async fn bake_ended(&self, deployment_id: &str, slot: &str) -> Result<MeetingPoint, AwsError> {
        let met = self
            .meet(
                deployment_id,
                slot,
                "ended",
                AttributeValue::Bool(true),
                Meet::NoCommand,
            )
            .await?;
        Ok(match met {
            Ok(before) => MeetingPoint {
                command: None,
                ..meeting_point_of(&before)
            },
            Err(now) => meeting_point_of(&now),
        })
    }

    async fn command(
        &self,
        deployment_id: &str,
        slot: &str,
        command: &Command,
    ) -> Result<Result<Option<String>, MeetingPoint>, AwsError> {
        let text = serde_json::to_string(command).unwrap_or_default();
        let met = self
            .meet(deployment_id, slot, "command", s(&text), Meet::Free)
            .await?;
        Ok(match met {
            Ok(before) => Ok(meeting_point_of(&before).token),
            Err(now) => Err(meeting_point_of(&now)),
        })
    }

    async fn meeting_point(
        &self,
        deployment_id: &str,
        slot: &str,
    ) -> Result<MeetingPoint, AwsError> {
        Ok(self
            .get(&bake_key(deployment_id, slot))
            .await?
            .as_ref()
            .map(meeting_point_of)
            .unwrap_or_default())
    }
}
