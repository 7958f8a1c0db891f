//! The DynamoDB policy store (DESIGN.md §2): the table (`PCSCALE_TABLE`),
//! `pk` = the resource (`function:<name>:<qualifier>`), `sk` = `policy`
//! (written by users) or `state` (written only by pcscale, every write
//! conditional on `Version`); and the activity table
//! (`PCSCALE_ACTIVITY_TABLE`, default `<table>-activity`), same keys, `sk` =
//! `activity#<RFC 3339 UTC>#<suffix>` (one per change or error, expiring
//! after 30 days through its TTL on `ExpiresAt`).
//!
//! The tick's Scan reads the first table only, so its cost follows the
//! number of policies, never the history. Activity items an older pcscale
//! wrote into the first table are still shown by the CLI (and still read by
//! the Scan until they expire, or until `pcscale activity --migrate` moves
//! them).
//!
//! Besides the [`PolicyStore`] port, [`DynamoStore`] carries the item
//! helpers the CLI verbs need (`policy put/get/list/delete`, `activity`,
//! `explain`), so every DynamoDB access lives in this file.

use std::future::Future;

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use chrono::{DateTime, Utc};
use serde_json::{Map, Number, Value};
use tracing::{Instrument, debug, info_span, warn};

use super::Service;
use crate::controller::{CONTROLLER_KEY, ControllerReport};
use crate::core::policy::{InvalidPolicy, Problem, parse_policy};
use crate::core::state::{
    AliasCheck, MAX_VERSION, MemoryRead, Pending, ReservedRead, State, StateDefect,
};
use crate::item::Attr;
use crate::ports::{
    Activity, ErrorKind, PolicyStore, PortError, Segment, StoredResource, WriteOutcome,
};

/// A DynamoDB item.
pub type Item = HashMap<String, AttributeValue>;

pub use crate::item::{ACTIVITY_TTL, SK_ACTIVITY_PREFIX, SK_POLICY, SK_STATE, activity_sk};

/// [`super::port_error`] for DynamoDB.
fn port_error<E>(
    operation: &str,
    resource: Option<&str>,
    err: &aws_sdk_dynamodb::error::SdkError<E, aws_sdk_dynamodb::config::http::HttpResponse>,
) -> crate::ports::PortError
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    super::port_error(Service::DynamoDb, operation, resource, err)
}

/// The activity table of `table` when `PCSCALE_ACTIVITY_TABLE` is unset.
pub fn default_activity_table(table: &str) -> String {
    format!("{table}-activity")
}

/// The policy store over the policy table and its activity table.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    activity_table: String,
}

impl DynamoStore {
    /// A store over `table`, activity in [`default_activity_table`].
    pub fn new(client: Client, table: &str) -> Self {
        DynamoStore {
            client,
            table: table.to_owned(),
            activity_table: default_activity_table(table),
        }
    }

    /// The same client on another table (and its default activity table).
    pub fn with_table(mut self, table: &str) -> Self {
        table.clone_into(&mut self.table);
        self.activity_table = default_activity_table(table);
        self
    }

    /// The same store with activity in `table`.
    pub fn with_activity_table(mut self, table: &str) -> Self {
        table.clone_into(&mut self.activity_table);
        self
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The activity table's name.
    pub fn activity_table(&self) -> &str {
        &self.activity_table
    }

    /// The underlying SDK client.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Every item with `sk` in `sks`, following `LastEvaluatedKey`, in one
    /// parallel-scan segment when given. Consistent reads: the state's
    /// `Version` must be the latest for the claim to have a chance.
    async fn scan_items(
        &self,
        sks: &[&str],
        segment: Option<Segment>,
    ) -> Result<Vec<Item>, PortError> {
        if let Some(s) = segment {
            // DynamoDB: TotalSegments 1..=1,000,000 and 0 <= Segment < TotalSegments.
            if s.total == 0 || s.total > 1_000_000 || s.index >= s.total {
                return Err(PortError::new(
                    "Scan",
                    None,
                    ErrorKind::Invalid,
                    format!(
                        "segment {} of {} is out of range (0 <= segment < segments <= 1000000)",
                        s.index, s.total
                    ),
                ));
            }
        }
        let placeholders: Vec<String> = (0..sks.len()).map(|i| format!(":sk{i}")).collect();
        let filter = format!("sk IN ({})", placeholders.join(", "));
        let values = placeholders
            .into_iter()
            .zip(sks)
            .map(|(p, sk)| (p, AttributeValue::S((*sk).to_owned())))
            .collect();
        self.scan_filtered(&filter, values, segment).await
    }

    /// Every item matching `filter` (over `sk`), following
    /// `LastEvaluatedKey`, in one parallel-scan segment when given.
    async fn scan_filtered(
        &self,
        filter: &str,
        values: Vec<(String, AttributeValue)>,
        segment: Option<Segment>,
    ) -> Result<Vec<Item>, PortError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let mut req = self
                .client
                .scan()
                .table_name(&self.table)
                .consistent_read(true)
                .filter_expression(filter)
                .set_exclusive_start_key(start.take());
            for (p, v) in &values {
                req = req.expression_attribute_values(p, v.clone());
            }
            if let Some(s) = segment {
                // Scan segments split by partition key, so a resource's policy
                // and state items always fall in the same segment.
                req = req
                    .segment(i32::try_from(s.index).unwrap_or(i32::MAX))
                    .total_segments(i32::try_from(s.total).unwrap_or(i32::MAX));
            }
            let out = req
                .send()
                .await
                .map_err(|e| port_error("Scan", Some(&self.table), &e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(items)
    }

    /// Writes the state item of `resource` under `condition` (a condition
    /// expression over `#v` = `Version`, with its values).
    async fn put_state(
        &self,
        resource: &str,
        next: &State,
        condition: &str,
        values: Vec<(&str, AttributeValue)>,
    ) -> Result<WriteOutcome, PortError> {
        let mut req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(state_to_item(resource, next)))
            .condition_expression(condition);
        if condition.contains("#v") {
            req = req.expression_attribute_names("#v", "Version");
        }
        for (k, v) in values {
            req = req.expression_attribute_values(k, v);
        }
        match req.send().await {
            Ok(_) => Ok(WriteOutcome::Written),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|se| se.is_conditional_check_failed_exception()) =>
            {
                Ok(WriteOutcome::Conflict)
            }
            Err(e) => Err(port_error("PutItem", Some(resource), &e)),
        }
    }

    /// The policy and state of one resource (`Query pk = :pk AND sk >= "policy"`:
    /// `policy` < `state` and the activity items sort before both).
    /// `None` when there is no policy item.
    pub async fn load_resource(&self, resource: &str) -> Result<Option<StoredResource>, PortError> {
        let mut items = Vec::new();
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .key_condition_expression("pk = :pk AND sk >= :policy")
                .expression_attribute_values(":pk", AttributeValue::S(resource.to_owned()))
                .expression_attribute_values(":policy", AttributeValue::S(SK_POLICY.to_owned()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| port_error("Query", Some(resource), &e))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(group(items).into_iter().next())
    }

    /// The policy item of `resource` as plain JSON (`{"pk": .., "MinCapacity": 1, ..}`),
    /// exactly as stored (not validated). `None` when absent.
    pub async fn get_policy_item(&self, resource: &str) -> Result<Option<Value>, PortError> {
        Ok(self
            .get_item(resource, SK_POLICY)
            .await?
            .map(|i| item_to_json(&i)))
    }

    /// The controller item the deployed Lambda publishes after each tick
    /// (`None` before its first tick, or when it predates the item).
    pub async fn get_controller(&self) -> Result<Option<ControllerReport>, PortError> {
        let Some(item) = self.get_item(CONTROLLER_KEY, CONTROLLER_KEY).await? else {
            return Ok(None);
        };
        serde_json::from_value(item_to_json(&item))
            .map(Some)
            .map_err(|e| {
                PortError::new(
                    "GetItem",
                    Some(CONTROLLER_KEY.to_owned()),
                    ErrorKind::Invalid,
                    format!("the controller item is not what this pcscale expects: {e}"),
                )
            })
    }

    /// Every policy item of the table as plain JSON (`policy list --full`).
    pub async fn policy_items(&self) -> Result<Vec<Value>, PortError> {
        Ok(self
            .scan_items(&[SK_POLICY], None)
            .await?
            .iter()
            .map(item_to_json)
            .collect())
    }

    /// The persisted state of `resource`, `None` when pcscale never wrote one.
    pub async fn get_state(&self, resource: &str) -> Result<Option<State>, PortError> {
        Ok(self
            .get_item(resource, SK_STATE)
            .await?
            .map(|i| state_from_item(&i)))
    }

    async fn get_item(&self, pk: &str, sk: &str) -> Result<Option<Item>, PortError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .consistent_read(true)
            .key("pk", AttributeValue::S(pk.to_owned()))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .send()
            .await
            .map_err(|e| port_error("GetItem", Some(pk), &e))?;
        Ok(out.item)
    }

    /// Every policy item as plain JSON, sorted by `pk` (not validated: the
    /// caller decides how to show invalid ones).
    pub async fn list_policy_items(&self) -> Result<Vec<Value>, PortError> {
        let mut items: Vec<Value> = self
            .scan_items(&[SK_POLICY], None)
            .await?
            .iter()
            .map(item_to_json)
            .collect();
        items.sort_by(|a, b| {
            let pk = |v: &Value| v.get("pk").and_then(Value::as_str).unwrap_or("").to_owned();
            pk(a).cmp(&pk(b))
        });
        Ok(items)
    }

    /// Writes a policy item given as plain JSON (an object with a string `pk`;
    /// `sk` is set to `policy`). The caller validates it first
    /// (`crate::core::policy::parse_policy`); this overwrites the user's
    /// previous policy item for that resource and never touches its state.
    pub async fn put_policy_item(&self, item: &Value) -> Result<(), PortError> {
        let Some(obj) = item.as_object() else {
            return Err(PortError::new(
                "PutItem",
                None,
                ErrorKind::Invalid,
                "a policy item must be a JSON object",
            ));
        };
        let Some(pk) = obj.get("pk").and_then(Value::as_str) else {
            return Err(PortError::new(
                "PutItem",
                None,
                ErrorKind::Invalid,
                "a policy item needs a string pk (function:<FunctionName>:<Qualifier>)",
            ));
        };
        let mut attrs = object_item(obj);
        attrs.insert("sk".into(), AttributeValue::S(SK_POLICY.into()));
        self.put_item(attrs, pk).await
    }

    /// One unconditional `PutItem` of `attrs`; errors name `resource`.
    async fn put_item(&self, attrs: Item, resource: &str) -> Result<(), PortError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(attrs))
            .send()
            .await
            .map_err(|e| port_error("PutItem", Some(resource), &e))?;
        Ok(())
    }

    /// Deletes the policy item of `resource`; `true` if there was one. The
    /// state and activity items stay (a state without a policy is ignored;
    /// activity expires), and the PC config is left as it is.
    pub async fn delete_policy(&self, resource: &str) -> Result<bool, PortError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(resource.to_owned()))
            .key("sk", AttributeValue::S(SK_POLICY.to_owned()))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(|e| port_error("DeleteItem", Some(resource), &e))?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    /// The activity of `resource`, newest first, at most `limit` records
    /// (`None`: all of them, up to the 30 days the TTL keeps).
    pub async fn activities(
        &self,
        resource: &str,
        limit: Option<usize>,
    ) -> Result<Vec<Activity>, PortError> {
        self.recent_activities(Some(resource), None, limit.unwrap_or(usize::MAX / 4))
            .await
    }

    /// Moves the activity items an older pcscale wrote into the policy
    /// table to the activity table (`pcscale activity --migrate`), so that
    /// the tick's Scan no longer reads them. Idempotent: each item is
    /// written to the activity table, then deleted from the policy table.
    /// Returns how many moved.
    pub async fn migrate_activity(&self) -> Result<usize, PortError> {
        let mut moved = 0;
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(sk, :a)")
                .expression_attribute_values(":a", s(SK_ACTIVITY_PREFIX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| port_error("Scan", Some(&self.table), &e))?;
            for item in out.items.unwrap_or_default() {
                let (Some(pk), Some(sk)) = (item.get("pk").cloned(), item.get("sk").cloned())
                else {
                    continue;
                };
                self.client
                    .put_item()
                    .table_name(&self.activity_table)
                    .set_item(Some(item))
                    .send()
                    .await
                    .map_err(|e| port_error("PutItem", Some(&self.activity_table), &e))?;
                self.client
                    .delete_item()
                    .table_name(&self.table)
                    .key("pk", pk)
                    .key("sk", sk)
                    .send()
                    .await
                    .map_err(|e| port_error("DeleteItem", Some(&self.table), &e))?;
                moved += 1;
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => break,
            }
        }
        Ok(moved)
    }

    /// The newest `limit` activity records at or after `since`, of one
    /// resource (a Query) or of every resource (a Scan of the activity
    /// items), newest first. Memory stays at `limit` records however many
    /// the table holds.
    pub async fn recent_activities(
        &self,
        resource: Option<&str>,
        since: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<Activity>, PortError> {
        let mut newest = self
            .recent_in(&self.activity_table, resource, since, limit)
            .await?;
        // Written by an older pcscale into the policy table (until they
        // expire or `pcscale activity --migrate` moves them).
        newest.extend(self.recent_in(&self.table, resource, since, limit).await?);
        newest.sort_by(|a, b| b.0.cmp(&a.0));
        newest.truncate(limit);
        Ok(newest.into_iter().map(|(_, a)| a).collect())
    }

    /// [`DynamoStore::recent_activities`] in one table, with each record's `sk`.
    async fn recent_in(
        &self,
        table: &str,
        resource: Option<&str>,
        since: Option<DateTime<Utc>>,
        limit: usize,
    ) -> Result<Vec<(String, Activity)>, PortError> {
        let from = since.map_or_else(|| SK_ACTIVITY_PREFIX.to_owned(), |t| activity_sk(t, 0));
        // `~` sorts after every character of an activity sk.
        let to = format!("{SK_ACTIVITY_PREFIX}~");
        // Newest first by sk (chronological, see `activity_sk`), kept at
        // most 2 x limit between pages.
        let mut newest: Vec<(String, Activity)> = Vec::new();
        let keep = |v: &mut Vec<(String, Activity)>, n: usize| {
            v.sort_by(|a, b| b.0.cmp(&a.0));
            v.truncate(n);
        };
        let mut start: Option<Item> = None;
        loop {
            let (items, next) = match resource {
                Some(r) => {
                    let out = self
                        .client
                        .query()
                        .table_name(table)
                        .key_condition_expression("pk = :pk AND sk BETWEEN :from AND :to")
                        .expression_attribute_values(":pk", AttributeValue::S(r.to_owned()))
                        .expression_attribute_values(":from", AttributeValue::S(from.clone()))
                        .expression_attribute_values(":to", AttributeValue::S(to.clone()))
                        .scan_index_forward(false)
                        .set_limit(Some(i32::try_from(limit).unwrap_or(i32::MAX)))
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| port_error("Query", Some(r), &e))?;
                    (out.items.unwrap_or_default(), out.last_evaluated_key)
                }
                None => {
                    let out = self
                        .client
                        .scan()
                        .table_name(table)
                        .filter_expression("sk BETWEEN :from AND :to")
                        .expression_attribute_values(":from", AttributeValue::S(from.clone()))
                        .expression_attribute_values(":to", AttributeValue::S(to.clone()))
                        .set_exclusive_start_key(start.take())
                        .send()
                        .await
                        .map_err(|e| port_error("Scan", Some(table), &e))?;
                    (out.items.unwrap_or_default(), out.last_evaluated_key)
                }
            };
            for item in &items {
                let (Some(AttributeValue::S(sk)), Some(a)) =
                    (item.get("sk"), activity_from_item(item))
                else {
                    continue;
                };
                newest.push((sk.clone(), a));
                if newest.len() > limit.saturating_mul(2) {
                    keep(&mut newest, limit);
                }
            }
            // A query walks newest first: once `limit` are in, older pages
            // cannot displace them.
            let full = resource.is_some() && newest.len() >= limit;
            match next {
                Some(k) if !k.is_empty() && !full => start = Some(k),
                _ => break,
            }
        }
        keep(&mut newest, limit);
        Ok(newest)
    }
}

// Futures are boxed at the port boundary: see the `aws` module docs.
impl PolicyStore for DynamoStore {
    fn load(
        &self,
        segment: Option<Segment>,
    ) -> impl Future<Output = Result<Vec<StoredResource>, PortError>> + Send {
        Box::pin(async move {
            let span = info_span!("dynamodb.load", table = %self.table, segment = ?segment);
            async {
                // Everything but the activity log: policy and state items,
                // and items whose sk is a near miss of "policy" ("Policy",
                // "policy "), which are reported rather than ignored.
                let items = self
                    .scan_filtered(
                        "NOT begins_with(sk, :activity)",
                        vec![(":activity".into(), s(SK_ACTIVITY_PREFIX))],
                        segment,
                    )
                    .await?;
                // Judging the items is CPU work (bounded per item, but a
                // table can hold thousands): off the runtime's threads, so
                // that the tick's timers, and so its deadline, keep running.
                let loaded = tokio::task::spawn_blocking(move || group(items))
                    .await
                    .map_err(|e| {
                        PortError::new(
                            "LoadPolicies",
                            None,
                            ErrorKind::Service,
                            format!("judging the policy items failed: {e}"),
                        )
                    })?;
                debug!(resources = loaded.len(), "policies loaded");
                Ok(loaded)
            }
            .instrument(span)
            .await
        })
    }

    fn write_state(
        &self,
        resource: &str,
        expected_version: u64,
        next: &State,
    ) -> impl Future<Output = Result<WriteOutcome, PortError>> + Send {
        Box::pin(async move {
            let span = info_span!("dynamodb.write_state", resource, expected_version);
            async {
                if expected_version == 0 {
                    self.put_state(resource, next, "attribute_not_exists(pk)", Vec::new())
                        .await
                } else {
                    self.put_state(resource, next, "#v = :v", vec![(":v", n(expected_version))])
                        .await
                }
            }
            .instrument(span)
            .await
        })
    }

    fn publish_controller(
        &self,
        report: &ControllerReport,
    ) -> impl Future<Output = Result<(), PortError>> + Send {
        let item = serde_json::to_value(report).map(|v| {
            let mut attrs = v.as_object().map(object_item).unwrap_or_default();
            attrs.insert("pk".into(), AttributeValue::S(CONTROLLER_KEY.into()));
            attrs.insert("sk".into(), AttributeValue::S(CONTROLLER_KEY.into()));
            attrs
        });
        Box::pin(async move {
            let attrs = item.map_err(|e| {
                PortError::new(
                    "PutItem",
                    Some(CONTROLLER_KEY.to_owned()),
                    ErrorKind::Invalid,
                    e.to_string(),
                )
            })?;
            self.put_item(attrs, CONTROLLER_KEY).await
        })
    }

    fn replace_state(
        &self,
        resource: &str,
        found: &StateDefect,
        next: &State,
    ) -> impl Future<Output = Result<WriteOutcome, PortError>> + Send {
        Box::pin(async move {
            let span = info_span!("dynamodb.replace_state", resource, found = %found.found);
            async {
                let (condition, values) = found_condition(&found.found);
                self.put_state(resource, next, condition, values).await
            }
            .instrument(span)
            .await
        })
    }

    fn record(&self, activity: &Activity) -> impl Future<Output = Result<(), PortError>> + Send {
        Box::pin(async move {
            let span = info_span!("dynamodb.record", resource = %activity.resource);
            async {
                self.client
                    .put_item()
                    .table_name(&self.activity_table)
                    .set_item(Some(activity_to_item(activity, rand::random::<u32>())))
                    .send()
                    .await
                    .map_err(|e| port_error("PutItem", Some(&activity.resource), &e))?;
                Ok(())
            }
            .instrument(span)
            .await
        })
    }
}

/// Groups policy and state items by `pk` into resources, in key order. A
/// state item without a policy item (the policy was deleted) is ignored.
fn group(items: Vec<Item>) -> Vec<StoredResource> {
    // Per pk: the policy item, the state item, and near-miss policy sks.
    type Slot = (Option<Item>, Option<Item>, Vec<String>);
    let mut by_pk: BTreeMap<String, Slot> = BTreeMap::new();
    for item in items {
        let (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) =
            (item.get("pk"), item.get("sk"))
        else {
            warn!("item without a string pk/sk ignored");
            continue;
        };
        let pk = pk.clone();
        let slot = by_pk.entry(pk).or_default();
        match sk.as_str() {
            SK_POLICY => slot.0 = Some(item),
            SK_STATE => slot.1 = Some(item),
            near if near.trim().eq_ignore_ascii_case(SK_POLICY) => slot.2.push(near.to_owned()),
            _ => {}
        }
    }
    by_pk
        .into_iter()
        .filter_map(|(key, (policy, state, near))| {
            let Some(policy) = policy else {
                if let Some(sk) = near.first() {
                    // A policy the user meant to write, under a key pcscale
                    // never reads: reported, not silently invisible.
                    return Some(StoredResource {
                        policy: Err(InvalidPolicy {
                            resource: Some(key.clone()),
                            problems: vec![near_miss(sk)],
                        }),
                        key,
                        state: state.as_ref().map(state_from_item).unwrap_or_default(),
                    });
                }
                debug!(resource = %key, "state without a policy ignored");
                return None;
            };
            for sk in &near {
                warn!(resource = %key, sk = %sk, "item with a near-miss sk ignored beside the policy item");
            }
            let parsed = parse_policy(&item_to_json(&policy));
            // A defective state is carried in the state (`State::defect`):
            // the tick reports it once and replaces the item.
            let state = state.as_ref().map(state_from_item).unwrap_or_default();
            Some(StoredResource {
                key,
                policy: parsed,
                state,
            })
        })
        .collect()
}

/// The problem reported for an item whose `sk` is `sk`, a near miss of
/// `policy` (case or surrounding spaces).
fn near_miss(sk: &str) -> Problem {
    Problem {
        path: "sk".into(),
        message: format!(
            "{sk:?} is not \"policy\": pcscale reads only items with sk exactly \"policy\" \
             (lower case, no spaces), so this item is not a policy; rewrite it with sk \"policy\""
        ),
    }
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// An attribute of [`crate::item`] as the SDK's (moves, no copies of the text).
pub fn to_sdk(a: Attr) -> AttributeValue {
    match a {
        Attr::S(v) => AttributeValue::S(v),
        Attr::N(v) => AttributeValue::N(v),
        Attr::Bool(b) => AttributeValue::Bool(b),
        Attr::Null => AttributeValue::Null(true),
        Attr::L(l) => AttributeValue::L(l.into_iter().map(to_sdk).collect()),
        Attr::M(m) => AttributeValue::M(m.into_iter().map(|(k, v)| (k, to_sdk(v))).collect()),
    }
}

fn to_sdk_item(item: crate::item::Item) -> Item {
    item.into_iter().map(|(k, v)| (k, to_sdk(v))).collect()
}

/// The state item of `resource` ([`crate::item::state_to_item`]) for the SDK.
pub fn state_to_item(resource: &str, state: &State) -> Item {
    to_sdk_item(crate::item::state_to_item(resource, state))
}

/// Reads a state item. `Version` must be an integer from 1 to
/// [`MAX_VERSION`] (every write is conditioned on it); otherwise the state
/// carries a [`StateDefect`] (with the rest read as far as it can be) for
/// the tick to report and replace. Other unreadable attributes are dropped
/// with a warning.
pub fn state_from_item(item: &Item) -> State {
    let (version, defect) = match item.get("Version") {
        Some(AttributeValue::N(v)) => match v.trim().parse::<u64>() {
            Ok(n) if (1..MAX_VERSION).contains(&n) => (n, None),
            _ => (
                0,
                Some(StateDefect {
                    why: format!(
                        "state.Version {v} is not an integer from 1 to {}",
                        MAX_VERSION - 1
                    ),
                    found: format!("N:{v}"),
                }),
            ),
        },
        Some(AttributeValue::S(v)) => (
            0,
            Some(StateDefect {
                why: format!("state.Version {v:?} is a string, not a number"),
                found: format!("S:{v}"),
            }),
        ),
        Some(_) => (
            0,
            Some(StateDefect {
                why: "state.Version is not a number".into(),
                found: "other".into(),
            }),
        ),
        None => (
            0,
            Some(StateDefect {
                why: "the state item has no Version".into(),
                found: "absent".into(),
            }),
        ),
    };
    let get_u32 = |name: &str, m: &Item| -> Option<u32> {
        match m.get(name) {
            Some(AttributeValue::N(v)) => v.parse().ok().or_else(|| {
                warn!(attribute = name, value = %v, "unreadable state attribute ignored");
                None
            }),
            _ => None,
        }
    };
    let get_ts = |name: &str, m: &Item| -> Option<DateTime<Utc>> {
        match m.get(name) {
            Some(AttributeValue::S(v)) => DateTime::parse_from_rfc3339(v)
                .map(|t| t.with_timezone(&Utc))
                .ok()
                .or_else(|| {
                    warn!(attribute = name, value = %v, "unreadable state timestamp ignored");
                    None
                }),
            _ => None,
        }
    };
    let pending = match item.get("Pending") {
        Some(AttributeValue::M(m)) => {
            match (get_u32("From", m), get_u32("To", m), get_ts("ClaimedAt", m)) {
                (Some(from), Some(to), Some(claimed_at)) => Some(Pending {
                    from,
                    to,
                    claimed_at,
                    seen_at: get_ts("SeenAt", m),
                }),
                _ => {
                    warn!("unreadable Pending claim ignored");
                    None
                }
            }
        }
        _ => None,
    };
    let get_s = |name: &str, m: &Item| -> Option<String> {
        match m.get(name) {
            Some(AttributeValue::S(v)) => Some(v.clone()),
            _ => None,
        }
    };
    let alias_check = match item.get("AliasCheck") {
        Some(AttributeValue::M(m)) => {
            match (get_s("Alias", m), get_s("Version", m), get_ts("At", m)) {
                (Some(alias), Some(version), Some(at)) => Some(AliasCheck {
                    alias,
                    version,
                    stack: get_s("Stack", m),
                    at,
                }),
                // Asked again, that is all.
                _ => None,
            }
        }
        _ => None,
    };
    State {
        version,
        capacity: get_u32("Capacity", item),
        last_scale_out_at: get_ts("LastScaleOutAt", item),
        last_scale_in_at: get_ts("LastScaleInAt", item),
        last_decision_at: get_ts("LastDecisionAt", item),
        last_reason: match item.get("LastReason") {
            Some(AttributeValue::S(r)) => Some(r.clone()),
            _ => None,
        },
        pending,
        failures: get_u32("Failures", item).unwrap_or(0),
        observed_at: get_ts("ObservedAt", item),
        unconfirmed: matches!(item.get("Unconfirmed"), Some(AttributeValue::Bool(true))),
        reserved: get_ts("ReservedAt", item).map(|at| ReservedRead {
            value: get_u32("Reserved", item),
            at,
        }),
        memory: get_ts("MemoryAt", item).map(|at| MemoryRead {
            mb: get_u32("MemoryMB", item),
            at,
        }),
        forecast: match item.get("Forecast") {
            Some(AttributeValue::S(json)) => serde_json::from_str(json)
                .map_err(|e| warn!(error = %e, "unreadable Forecast ignored; refreshed"))
                .ok(),
            _ => None,
        },
        alias_check,
        defect,
    }
}

/// The condition under which a defective state item is replaced: its
/// `Version` still holds what [`state_from_item`] found.
fn found_condition(found: &str) -> (&'static str, Vec<(&'static str, AttributeValue)>) {
    if let Some(v) = found.strip_prefix("N:") {
        ("#v = :v", vec![(":v", AttributeValue::N(v.to_owned()))])
    } else if let Some(v) = found.strip_prefix("S:") {
        ("#v = :v", vec![(":v", s(v))])
    } else if found == "absent" {
        (
            "attribute_exists(pk) AND attribute_not_exists(#v)",
            Vec::new(),
        )
    } else {
        (
            "attribute_exists(#v) AND NOT attribute_type(#v, :n) AND NOT attribute_type(#v, :s)",
            vec![(":n", s("N")), (":s", s("S"))],
        )
    }
}

/// The activity item for `a` ([`crate::item::activity_to_item`]) for the SDK.
pub fn activity_to_item(a: &Activity, suffix: u32) -> Item {
    to_sdk_item(crate::item::activity_to_item(a, suffix))
}

/// Reads an activity item back; `None` (with a warning) if it is not one.
pub fn activity_from_item(item: &Item) -> Option<Activity> {
    let str_of = |k: &str| match item.get(k) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    };
    let u32_of = |k: &str| match item.get(k) {
        Some(AttributeValue::N(v)) => v.parse().ok(),
        _ => None,
    };
    let resource = str_of("pk")?;
    let at = str_of("At")
        .and_then(|t| DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&Utc));
    let Some(at) = at else {
        warn!(resource, "activity item without a readable At ignored");
        return None;
    };
    Some(Activity {
        resource,
        at,
        from: u32_of("From"),
        to: u32_of("To"),
        action: str_of("Action").unwrap_or_default(),
        cause: str_of("Cause").unwrap_or_default(),
        outcome: str_of("Outcome").unwrap_or_default(),
        detail: item.get("Detail").map(attr_to_json),
    })
}

/// An item as plain JSON (the shape `parse_policy` reads).
pub fn item_to_json(item: &Item) -> Value {
    Value::Object(
        item.iter()
            .map(|(k, v)| (k.clone(), attr_to_json(v)))
            .collect::<Map<_, _>>(),
    )
}

/// One attribute value as plain JSON: `N` becomes a JSON number (integer
/// when it is one), sets become arrays, `NULL` null. Binary values, which no
/// pcscale attribute uses, become a string naming their size so that the
/// validator reports them as a wrong type instead of failing silently.
pub fn attr_to_json(v: &AttributeValue) -> Value {
    match v {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => number(n),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::L(l) => Value::Array(l.iter().map(attr_to_json).collect()),
        AttributeValue::M(m) => Value::Object(
            m.iter()
                .map(|(k, v)| (k.clone(), attr_to_json(v)))
                .collect(),
        ),
        AttributeValue::Ss(ss) => Value::Array(ss.iter().cloned().map(Value::String).collect()),
        AttributeValue::Ns(ns) => Value::Array(ns.iter().map(|n| number(n)).collect()),
        AttributeValue::B(b) => Value::String(format!("<binary, {} bytes>", b.as_ref().len())),
        AttributeValue::Bs(bs) => Value::Array(
            bs.iter()
                .map(|b| Value::String(format!("<binary, {} bytes>", b.as_ref().len())))
                .collect(),
        ),
        _ => Value::Null,
    }
}

fn number(text: &str) -> Value {
    let t = text.trim();
    if let Ok(i) = t.parse::<i64>() {
        return Value::Number(i.into());
    }
    if let Ok(u) = t.parse::<u64>() {
        return Value::Number(u.into());
    }
    t.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map_or_else(|| Value::String(t.to_owned()), Value::Number)
}

/// A JSON object as a DynamoDB item, attribute by attribute.
fn object_item(obj: &serde_json::Map<String, Value>) -> Item {
    obj.iter()
        .map(|(k, v)| (k.clone(), json_to_attr(v)))
        .collect()
}

/// Plain JSON as an attribute value (numbers keep their text).
pub fn json_to_attr(v: &Value) -> AttributeValue {
    to_sdk(crate::item::json_to_attr(v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    /// A state with every attribute set.
    fn full_state() -> State {
        State {
            version: 7,
            capacity: Some(12),
            last_scale_out_at: Some(t("2025-03-01T10:00:00Z")),
            last_scale_in_at: Some(t("2025-03-01T09:00:00.250Z")),
            last_decision_at: Some(t("2025-03-01T10:05:00Z")),
            last_reason: Some("scale out: demand 8 / 0.7".into()),
            pending: Some(Pending {
                from: 12,
                to: 14,
                claimed_at: t("2025-03-01T10:05:00Z"),
                seen_at: Some(t("2025-03-01T10:06:00Z")),
            }),
            failures: 2,
            observed_at: Some(t("2025-03-01T10:04:00Z")),
            unconfirmed: true,
            reserved: Some(ReservedRead {
                value: Some(40),
                at: t("2025-03-01T10:01:00Z"),
            }),
            memory: Some(MemoryRead {
                mb: Some(3008),
                at: t("2025-03-01T09:30:00Z"),
            }),
            forecast: Some(crate::core::history::Forecast {
                history_days: 14,
                newest: Some(t("2025-03-01T10:03:00Z")),
                days_read: 14,
                next_refresh_at: t("2025-03-02T03:17:00Z"),
                rises: vec![crate::core::history::PredictedRise {
                    at: t("2025-03-02T08:58:00Z"),
                    minutes: 5,
                    units: 3,
                    hits: 5,
                    of: 5,
                    kind: crate::core::history::DayKind::Weekday,
                    seen: 0b1_1111,
                    expected: 2.5,
                }],
            }),
            alias_check: Some(AliasCheck {
                alias: "live".into(),
                version: "3".into(),
                stack: Some("checkout-prod".into()),
                at: t("2025-03-01T10:04:00Z"),
            }),
            defect: None,
        }
    }

    #[test]
    fn state_round_trips_through_its_item() {
        let state = full_state();
        let item = state_to_item("function:f:live", &state);
        assert_eq!(item["sk"], AttributeValue::S("state".into()));
        assert_eq!(
            item["LastScaleOutAt"],
            AttributeValue::S("2025-03-01T10:00:00Z".into())
        );
        assert_eq!(item["MemoryMB"], AttributeValue::N("3008".into()));
        assert_eq!(state_from_item(&item), state);
    }

    #[test]
    fn a_state_item_without_version_is_refused() {
        let mut item = state_to_item("function:f:live", &State::default());
        item.remove("Version");
        let d = state_from_item(&item).defect.expect("a defect");
        assert!(d.why.contains("Version"), "{d:?}");
    }

    #[test]
    fn versions_that_lie_are_defects_not_versions() {
        for (v, why) in [
            (n(0), "from 1"),
            (AttributeValue::N("-1".into()), "from 1"),
            (AttributeValue::N("2.0".into()), "from 1"),
            (n(u64::MAX), "from 1"),
            (n(MAX_VERSION), "from 1"),
            (s("abc"), "string"),
            (AttributeValue::Bool(true), "not a number"),
        ] {
            let mut item = state_to_item("function:f:live", &State::default());
            item.insert("Version".into(), v.clone());
            let st = state_from_item(&item);
            let d = st.defect.unwrap_or_else(|| panic!("{v:?}: no defect"));
            assert!(d.why.contains(why), "{v:?}: {d:?}");
            assert_eq!(st.version, 0, "{v:?}");
        }
        let mut item = state_to_item("function:f:live", &State::default());
        item.insert("Version".into(), n(MAX_VERSION - 1));
        assert_eq!(state_from_item(&item).defect, None);
    }

    #[test]
    fn activity_items_expire_after_thirty_days_and_sort_by_time() {
        let at = Utc.with_ymd_and_hms(2025, 3, 1, 10, 0, 0).unwrap();
        let a = Activity {
            resource: "function:f:live".into(),
            at,
            from: Some(1),
            to: Some(3),
            action: "ScaleOut".into(),
            cause: "demand".into(),
            outcome: "applied".into(),
            detail: Some(json!({"wanted": 3, "clamps": []})),
        };
        let item = activity_to_item(&a, 0xab);
        assert_eq!(
            item["sk"],
            AttributeValue::S("activity#2025-03-01T10:00:00.000Z#000000ab".into())
        );
        assert_eq!(
            item["ExpiresAt"],
            AttributeValue::N((at.timestamp() + 30 * 86_400).to_string())
        );
        assert_eq!(activity_from_item(&item).unwrap(), a);
        let later = activity_sk(at + chrono::TimeDelta::milliseconds(5), 0);
        assert!(later > activity_sk(at, u32::MAX));
    }

    /// Today's state and activity items, as `aws dynamodb get-item` shows
    /// them (tests/fixtures/items/): tables written by this version must stay
    /// readable, attribute for attribute, whatever builds the items.
    #[test]
    fn items_written_by_the_current_encoding_are_read_and_written_the_same() {
        let fixture = |name: &str| -> Value {
            let path = format!("{}/tests/fixtures/items/{name}", env!("CARGO_MANIFEST_DIR"));
            let text = std::fs::read_to_string(&path).expect("fixture");
            serde_json::from_str(&text).expect("fixture is JSON")
        };
        let as_item = |ddb: &Value| -> Item {
            let plain = crate::ddb_json::from_dynamodb_json(ddb).expect("DynamoDB JSON");
            object_item(plain.as_object().expect("an item is a map"))
        };
        let as_ddb_json = |item: &Item| crate::ddb_json::to_dynamodb_json(&item_to_json(item));

        let state_fixture = fixture("state.json");
        let state = full_state();
        assert_eq!(state_from_item(&as_item(&state_fixture)), state);
        assert_eq!(
            as_ddb_json(&state_to_item("function:f:live", &state)),
            state_fixture
        );

        let activity_fixture = fixture("activity.json");
        let a = Activity {
            resource: "function:f:live".into(),
            at: t("2025-03-01T10:00:00.120Z"),
            from: Some(2),
            to: Some(3),
            action: "ScaleOut".into(),
            cause: "scale-out: demand 2 / target 0.70 = 2.86 -> 3 > current 2".into(),
            outcome: "applied".into(),
            detail: Some(
                json!({"rule": "TargetTrackingScaleOut", "wanted": 3, "clamps": [], "target_value": 0.7}),
            ),
        };
        assert_eq!(
            activity_from_item(&as_item(&activity_fixture)),
            Some(a.clone())
        );
        assert_eq!(as_ddb_json(&activity_to_item(&a, 0xab)), activity_fixture);
    }

    #[test]
    fn attribute_values_convert_to_plain_json_and_back() {
        let v = json!({
            "pk": "function:f:live",
            "MinCapacity": 1,
            "TargetTracking": {"TargetValue": 0.7, "DisableScaleIn": false},
            "ScheduledActions": [{"Name": "a", "MaxCapacity": 5}],
            "Description": null
        });
        let attr = json_to_attr(&v);
        let AttributeValue::M(m) = &attr else {
            panic!("object must become a map")
        };
        assert_eq!(m["MinCapacity"], AttributeValue::N("1".into()));
        assert_eq!(attr_to_json(&attr), v);
        assert_eq!(
            attr_to_json(&AttributeValue::Ns(vec!["1".into(), "2.5".into()])),
            json!([1, 2.5])
        );
    }

    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        /// Hostile attribute values, as a hand edit or another tool writes them.
        fn attr() -> impl Strategy<Value = AttributeValue> {
            let numbers = prop::sample::select(vec![
                "0",
                "-1",
                "1",
                "2.0",
                "2.5",
                "1e400",
                "-0",
                "18446744073709551615",
                "18446744073709551616",
                "9007199254740992",
                "NaN",
                "",
                "4294967296",
                "7",
            ]);
            let texts = prop::sample::select(vec![
                "2025-03-01T10:00:00Z",
                "2100-01-01T00:00:00Z",
                "0000-01-01T00:00:00Z",
                "9999-12-31T23:59:59Z",
                "yesterday",
                "",
                "-2274763586",
            ]);
            prop_oneof![
                numbers.prop_map(|n| AttributeValue::N(n.to_owned())),
                texts.prop_map(|t| AttributeValue::S(t.to_owned())),
                any::<bool>().prop_map(AttributeValue::Bool),
                Just(AttributeValue::Null(true)),
                Just(AttributeValue::L(vec![])),
            ]
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(4096))]
            /// Any state item reads without a panic, and a state read
            /// without a defect has a Version every write can increment.
            #[test]
            fn any_state_item_reads_without_panic(
                attrs in prop::collection::vec(
                    (prop::sample::select(vec![
                        "Version", "Capacity", "LastScaleOutAt", "LastScaleInAt",
                        "LastDecisionAt", "LastReason", "Failures",
                    ]), attr()),
                    0..8,
                ),
                pending in prop::option::of(prop::collection::vec(
                    (prop::sample::select(vec!["From", "To", "ClaimedAt", "SeenAt"]), attr()),
                    0..5,
                )),
            ) {
                let mut item = Item::new();
                for (k, v) in attrs {
                    item.insert(k.to_owned(), v);
                }
                if let Some(p) = pending {
                    let m = p.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
                    item.insert("Pending".into(), AttributeValue::M(m));
                }
                let st = state_from_item(&item);
                if st.defect.is_none() {
                    prop_assert!((1..MAX_VERSION).contains(&st.version));
                }
                let now = Utc::now();
                let _ = st.future_timestamps(now);
                let _ = st.backoff_remaining(now);
                let _ = st.next_version();
                if let Some(p) = &st.pending {
                    let _ = p.lease(now, crate::core::units::Secs(120));
                }
                let _ = found_condition(&st.defect.map(|d| d.found).unwrap_or_default());
            }
        }
    }

    #[test]
    fn near_miss_policy_keys_are_reported_not_invisible() {
        let items: Vec<Item> = ["Policy", "policy ", "POLICY", "policies"]
            .iter()
            .enumerate()
            .map(|(i, sk)| {
                HashMap::from([
                    ("pk".to_owned(), s(format!("function:f{i}:live"))),
                    ("sk".to_owned(), s(*sk)),
                ])
            })
            .collect();
        let loaded = group(items);
        assert_eq!(loaded.len(), 3, "{loaded:#?}");
        for r in &loaded {
            let e = r.policy.as_ref().expect_err("reported");
            assert_eq!(e.problems[0].path, "sk");
            assert!(e.problems[0].message.contains("is not \"policy\""), "{e}");
        }
    }

    #[test]
    fn state_items_without_policy_are_ignored_and_policies_get_default_state() {
        let policy: Item = HashMap::from([
            ("pk".to_owned(), s("function:a:live")),
            ("sk".to_owned(), s("policy")),
        ]);
        let orphan = state_to_item("function:b:live", &State::default());
        let loaded = group(vec![orphan, policy]);
        assert_eq!(loaded.len(), 1);
        assert_eq!(loaded[0].key, "function:a:live");
        assert_eq!(loaded[0].state, State::default());
    }
}
