//! Runs the inventories: one task per account that scans ListChatGroup page by page when its
//! schedule says so, and re-queues only the objects whose group's row changed.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use async_trait::async_trait;
use futures::channel::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::compare::View;
use super::inventory::{AccountKey, GroupRow, Inventory, ScanFailure, Schedule};
use super::ObserveSettings;
use crate::cams::{CamsError, Credentials, ErrorClass};
use crate::metrics::{Metrics, ScanResult};

/// One page of ListChatGroup, as the observer needs it.
#[async_trait]
pub trait GroupLister: Send + Sync {
    /// Lists page `index` (from 1) of `size` groups of `key`'s account.
    async fn list_page(
        &self,
        key: &AccountKey,
        credentials: &Credentials,
        index: u32,
        size: u32,
    ) -> Result<ListedPage, CamsError>;
}

/// A page of rows and the total CAMS reported, if any.
#[derive(Clone, Debug, Default)]
pub struct ListedPage {
    /// The rows.
    pub rows: Vec<GroupRow>,
    /// `Data.Total`.
    pub total: Option<u64>,
}

/// The most pages one scan reads: Meta allows 10,000 groups per business number, and a page
/// holds at least one; a list that never ends is cut here rather than scanned forever.
const MAX_GROUPS_PER_NUMBER: u64 = 10_000;

/// The inventories of every account the watched objects map to. `M` names an object (its
/// reference in the watch cache); objects are re-queued by sending it on the trigger channel.
pub struct Observer<M> {
    settings: ObserveSettings,
    lister: Arc<dyn GroupLister>,
    accounts: Mutex<HashMap<AccountKey, Arc<Account<M>>>>,
    members: Mutex<HashMap<M, Membership>>,
    trigger: UnboundedSender<M>,
    shutdown: CancellationToken,
    metrics: Arc<Metrics>,
}

/// The account an object maps to and the GroupId it names.
type Membership = (Arc<AccountKey>, Box<str>);

struct Account<M> {
    key: Arc<AccountKey>,
    state: Mutex<AccountState<M>>,
    wake: tokio::sync::Notify,
}

struct AccountState<M> {
    inventory: Inventory,
    schedule: Schedule,
    /// The credentials scans use (the last that completed one, or the first registered).
    credentials: Credentials,
    /// Other credentials an object registered with the same AccessKeyId (a rotated secret or
    /// STS token, or a wrong one): tried when the current ones are refused. A Secret with a
    /// wrong secret cannot take the account's scans away from the right one.
    candidate: Option<Credentials>,
    /// By GroupId: the objects naming it (almost always one, so a short list).
    members: HashMap<Box<str>, Vec<M>>,
    /// Members to re-queue after the next scan that starts (they wait for a change to show).
    waiting: HashSet<M>,
    /// Members to re-queue when the scan under way completes (it started after they asked).
    scanning_for: HashSet<M>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding one of these locks leaves plain data behind; carry on with it.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<M> Observer<M>
where
    M: Clone + Eq + Hash + Send + Sync + 'static,
{
    /// An observer whose account tasks end with `shutdown`.
    pub fn new(
        settings: ObserveSettings,
        lister: Arc<dyn GroupLister>,
        trigger: UnboundedSender<M>,
        shutdown: CancellationToken,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            settings,
            lister,
            accounts: Mutex::new(HashMap::new()),
            members: Mutex::new(HashMap::new()),
            trigger,
            shutdown,
            metrics,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &ObserveSettings {
        &self.settings
    }

    /// Whether observation is on.
    pub fn enabled(&self) -> bool {
        self.settings.interval.is_some()
    }

    /// The account `member` was last registered under, if any.
    pub fn account_of(&self, member: &M) -> Option<AccountKey> {
        lock(&self.members)
            .get(member)
            .map(|(key, _)| AccountKey::clone(key))
    }

    /// Maps `member` to `group_id` in `key`'s account, whose scans use `credentials` from
    /// now on; starts the account's task the first time.
    pub fn register(
        self: &Arc<Self>,
        member: M,
        key: AccountKey,
        group_id: &str,
        credentials: Credentials,
    ) {
        if !self.enabled() {
            return;
        }
        let account = self.account(key, credentials.clone());
        let previous = lock(&self.members).insert(
            member.clone(),
            (account.key.clone(), Box::<str>::from(group_id)),
        );
        if let Some((old_key, old_group)) =
            previous.filter(|p| *p.0 != *account.key || &*p.1 != group_id)
        {
            if let Some(old) = lock(&self.accounts).get(&*old_key) {
                if let Some(list) = lock(&old.state).members.get_mut(&old_group) {
                    list.retain(|m| *m != member);
                }
            }
        }
        let mut state = lock(&account.state);
        if state.credentials != credentials {
            state.candidate = Some(credentials);
        }
        let list = state.members.entry(group_id.into()).or_default();
        if !list.contains(&member) {
            list.push(member.clone());
        }
        let scanned = state.inventory.complete_scans() > 0;
        if !group_id.is_empty() && state.inventory.note_named(group_id) && scanned {
            // A group the last scan did not list (created since, or missing): look soon.
            state.waiting.insert(member);
            state.schedule.force();
            drop(state);
            account.wake.notify_one();
        }
    }

    /// Forgets `member` (its object is gone).
    pub fn forget(&self, member: &M) {
        let Some((key, group)) = lock(&self.members).remove(member) else {
            return;
        };
        if let Some(account) = lock(&self.accounts).get(&*key) {
            if let Some(list) = lock(&account.state).members.get_mut(&group) {
                list.retain(|m| m != member);
            }
        }
    }

    /// What `key`'s inventory says about `group_id` now.
    pub fn view(&self, key: &AccountKey, group_id: &str) -> View {
        if !self.enabled() {
            return View::Disabled;
        }
        let Some(account) = lock(&self.accounts).get(key).cloned() else {
            return View::Pending;
        };
        let state = lock(&account.state);
        if state.inventory.is_first_scan_pending() {
            return View::Pending;
        }
        match state.inventory.health(Instant::now(), &self.settings) {
            Ok(()) => View::Data(state.inventory.lookup(group_id)),
            Err(why) => View::Unavailable(why),
        }
    }

    /// The groups of `key`'s account listed with this trimmed subject and when each was
    /// first listed; `Err` with the view when the inventory cannot be relied on.
    pub fn with_subject(
        &self,
        key: &AccountKey,
        subject: &str,
    ) -> Result<Vec<(GroupRow, chrono::DateTime<chrono::Utc>)>, Box<View>> {
        if !self.enabled() {
            return Err(Box::new(View::Disabled));
        }
        let Some(account) = lock(&self.accounts).get(key).cloned() else {
            return Err(Box::new(View::Pending));
        };
        let state = lock(&account.state);
        if state.inventory.is_first_scan_pending() {
            return Err(Box::new(View::Pending));
        }
        state
            .inventory
            .health(Instant::now(), &self.settings)
            .map_err(|why| Box::new(View::Unavailable(why)))?;
        Ok(state.inventory.with_subject(subject))
    }

    /// Asks for a scan of `key`'s account as soon as the minimum interval allows (after the
    /// operator's own write, or while a change is awaited). Requests are coalesced.
    pub fn request_scan(&self, key: &AccountKey) {
        if let Some(account) = lock(&self.accounts).get(key) {
            lock(&account.state).schedule.force();
            account.wake.notify_one();
        }
    }

    /// Re-queues `member` after the next complete scan of `key`'s account, which is forced
    /// (coalesced): for an object waiting to see its accepted change, or to confirm drift.
    pub fn await_next_scan(&self, key: &AccountKey, member: M) {
        // The registered copy, if any: a member is often a shared reference, kept once.
        let member = lock(&self.members)
            .get_key_value(&member)
            .map_or(member, |(registered, _)| registered.clone());
        if let Some(account) = lock(&self.accounts).get(key) {
            let mut state = lock(&account.state);
            state.waiting.insert(member);
            state.schedule.force();
            drop(state);
            account.wake.notify_one();
        }
    }

    /// The number of inventories and the rows they hold (for the gauges).
    pub fn sizes(&self) -> (usize, usize) {
        let accounts = lock(&self.accounts);
        let rows = accounts
            .values()
            .map(|a| lock(&a.state).inventory.len())
            .sum();
        (accounts.len(), rows)
    }

    fn account(self: &Arc<Self>, key: AccountKey, credentials: Credentials) -> Arc<Account<M>> {
        let mut accounts = lock(&self.accounts);
        if let Some(account) = accounts.get(&key) {
            return account.clone();
        }
        let account = Arc::new(Account {
            key: Arc::new(key.clone()),
            state: Mutex::new(AccountState {
                inventory: Inventory::new(),
                schedule: Schedule::new(),
                credentials,
                candidate: None,
                members: HashMap::new(),
                waiting: HashSet::new(),
                scanning_for: HashSet::new(),
            }),
            wake: tokio::sync::Notify::new(),
        });
        accounts.insert(key, account.clone());
        tokio::spawn(self.clone().run_account(account.clone()));
        account
    }

    /// The account's loop: wait until a scan is due (or forced), scan, re-queue.
    async fn run_account(self: Arc<Self>, account: Arc<Account<M>>) {
        loop {
            let due = lock(&account.state)
                .schedule
                .due(Instant::now(), &self.settings);
            let Some(due) = due else { return };
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = account.wake.notified() => continue,
                _ = tokio::time::sleep_until(due.into()) => {}
            }
            let started = Instant::now();
            let wall = chrono::Utc::now();
            let (credentials, candidate) = {
                let mut state = lock(&account.state);
                state
                    .schedule
                    .started(started, rand::random::<f64>(), &self.settings);
                state.scanning_for = std::mem::take(&mut state.waiting);
                (state.credentials.clone(), state.candidate.clone())
            };
            let result = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                result = self.scan_with(&account, credentials, candidate) => result,
            };
            let triggers = self.apply(&account, result, started, wall);
            for member in triggers {
                let _ = self.trigger.unbounded_send(member);
            }
        }
    }

    /// Scans with the current credentials and, if they are refused, with the candidate ones,
    /// which then become current.
    async fn scan_with(
        &self,
        account: &Account<M>,
        credentials: Credentials,
        candidate: Option<Credentials>,
    ) -> Result<(), CamsError> {
        let first = self.scan(account, &credentials).await;
        let Some(candidate) = candidate else {
            return first;
        };
        match first {
            Err(e) if refused(&e) => {
                let second = self.scan(account, &candidate).await;
                if second.is_ok() {
                    let mut state = lock(&account.state);
                    state.credentials = candidate;
                    state.candidate = None;
                }
                second
            }
            other => other,
        }
    }

    /// Reads every page of the account's groups into its inventory's staged scan.
    async fn scan(&self, account: &Account<M>, credentials: &Credentials) -> Result<(), CamsError> {
        let size = self.settings.page_size.max(1);
        let max_pages = MAX_GROUPS_PER_NUMBER.div_ceil(u64::from(size)) + 1;
        lock(&account.state).inventory.begin_scan();
        let mut listed: u64 = 0;
        for index in 1..=max_pages {
            let index = u32::try_from(index).unwrap_or(u32::MAX);
            let page = self
                .lister
                .list_page(&account.key, credentials, index, size)
                .await?;
            self.metrics.list_page_read();
            let count = page.rows.len();
            listed += count as u64;
            lock(&account.state).inventory.stage_page(page.rows);
            let reached_total = page.total.is_some_and(|t| listed >= t);
            if count < size as usize || reached_total {
                break;
            }
        }
        Ok(())
    }

    /// What every member's view of this inventory rests on: a change re-queues them all.
    fn condition_of(&self, inventory: &Inventory, now: Instant) -> Condition {
        if inventory.is_first_scan_pending() {
            Condition::Pending
        } else if inventory.health(now, &self.settings).is_ok() {
            Condition::Usable
        } else {
            Condition::Unavailable
        }
    }

    /// Records a scan's result and returns the members to re-queue.
    fn apply(
        &self,
        account: &Account<M>,
        result: Result<(), CamsError>,
        started: Instant,
        wall: chrono::DateTime<chrono::Utc>,
    ) -> Vec<M> {
        let mut state = lock(&account.state);
        let now = Instant::now();
        let before = self.condition_of(&state.inventory, now);
        let mut touched_members: HashSet<M> = HashSet::new();
        let touched = match result {
            Ok(()) => {
                self.metrics.scanned(ScanResult::Complete);
                touched_members.extend(std::mem::take(&mut state.scanning_for));
                state.inventory.complete_scan(started, wall)
            }
            Err(e) => {
                let refused = refused(&e);
                self.metrics.scanned(if refused {
                    ScanResult::Refused
                } else {
                    ScanResult::Failed
                });
                tracing::warn!(account = %account.key.cust_space_id, error = %e, "ListChatGroup scan failed; keeping the last data");
                state.inventory.failed_scan(ScanFailure {
                    message: e.to_string(),
                    refused,
                });
                let awaited = std::mem::take(&mut state.scanning_for);
                state.waiting.extend(awaited);
                if !state.waiting.is_empty() {
                    // Someone waits for a scan: try again after the minimum interval.
                    state.schedule.force();
                }
                Vec::new()
            }
        };
        let after = self.condition_of(&state.inventory, now);
        if before != after {
            // Every member's InSync changes (data appeared, or became unavailable).
            let mut all: HashSet<M> = state.members.values().flatten().cloned().collect();
            all.extend(touched_members);
            if after == Condition::Unavailable {
                // The credentials may have been rotated: members register again (reading
                // their credentials afresh) at their next reconcile.
                drop(state);
                let mut members = lock(&self.members);
                for member in &all {
                    members.remove(member);
                }
            }
            return all.into_iter().collect();
        }
        touched_members.extend(
            touched
                .iter()
                .filter_map(|id| state.members.get(id.as_str()))
                .flatten()
                .cloned(),
        );
        touched_members.into_iter().collect()
    }
}

/// The state of an inventory as its members see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Condition {
    /// No scan has completed or failed yet.
    Pending,
    /// Its data can be relied on.
    Usable,
    /// Refused, failing, or too old.
    Unavailable,
}

/// Whether ListChatGroup itself is refused (credentials, permission, the operator's settings)
/// rather than failing for now.
fn refused(e: &CamsError) -> bool {
    matches!(
        e.class(),
        ErrorClass::Credentials | ErrorClass::Forbidden | ErrorClass::Configuration
    )
}

#[cfg(test)]
#[path = "observer_tests.rs"]
mod tests;
