//! The elector against an in-memory Lease with injectable delays, hangs, failures and foreign
//! writers, on tokio's paused clock (so every instant below is exact).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use k8s_openapi::jiff::Timestamp;
use kube::api::ObjectMeta;
use tokio::time::{sleep, sleep_until, Instant};

use super::*;

const SECS: fn(u64) -> Duration = Duration::from_secs;

fn config(identity: &str) -> LeaseConfig {
    LeaseConfig {
        namespace: "ns".into(),
        name: "lease".into(),
        identity: identity.into(),
        lease_duration: SECS(15),
        renew_deadline: SECS(10),
        retry_period: SECS(2),
        // Longer than the renew deadline on purpose: a call must still never outlast it.
        api_timeout: SECS(30),
    }
}

/// How long one side of a call waits.
#[derive(Clone, Copy, Debug, Default)]
enum Delay {
    #[default]
    None,
    For(Duration),
    Forever,
}

impl Delay {
    async fn wait(self) {
        match self {
            Delay::None => {}
            Delay::For(d) => sleep(d).await,
            Delay::Forever => std::future::pending().await,
        }
    }
}

/// What one kind of call does: wait before reaching the store (`before`), fail instead, or
/// change the store and then wait before answering (`after`).
#[derive(Clone, Copy, Debug, Default)]
struct Behaviour {
    before: Delay,
    after: Delay,
    fail: bool,
}

#[derive(Clone, Copy, Debug, Default)]
struct Knobs {
    get: Behaviour,
    write: Behaviour,
}

#[derive(Default)]
struct Shared {
    lease: Option<Lease>,
    version: u64,
}

/// One client of an in-memory Lease; clients made by [`Fake::client`] share the Lease but
/// each has its own knobs (so one replica can be partitioned while another is not).
#[derive(Clone, Default)]
struct Fake {
    shared: Arc<Mutex<Shared>>,
    knobs: Arc<Mutex<Knobs>>,
}

impl Fake {
    fn client(&self) -> Fake {
        Fake {
            shared: self.shared.clone(),
            knobs: Arc::default(),
        }
    }

    fn set(&self, f: impl FnOnce(&mut Knobs)) {
        f(&mut self.knobs.lock().unwrap());
    }

    fn holder(&self) -> Option<String> {
        let shared = self.shared.lock().unwrap();
        shared
            .lease
            .as_ref()?
            .spec
            .as_ref()?
            .holder_identity
            .clone()
    }

    /// Another writer (not an elector) stores this spec, as the API server would.
    fn foreign_write(&self, spec: LeaseSpec) {
        let mut shared = self.shared.lock().unwrap();
        shared.version += 1;
        shared.lease = Some(Lease {
            metadata: ObjectMeta {
                name: Some("lease".into()),
                resource_version: Some(shared.version.to_string()),
                ..Default::default()
            },
            spec: Some(spec),
        });
    }

    fn store(&self, mut lease: Lease, expect: Option<String>) -> Result<Lease, LeaseError> {
        let mut shared = self.shared.lock().unwrap();
        let current = shared
            .lease
            .as_ref()
            .and_then(|l| l.metadata.resource_version.clone());
        if current != expect {
            return Err(LeaseError::Conflict);
        }
        shared.version += 1;
        lease.metadata.resource_version = Some(shared.version.to_string());
        shared.lease = Some(lease.clone());
        Ok(lease)
    }

    async fn run<T>(
        &self,
        pick: fn(&Knobs) -> Behaviour,
        apply: impl FnOnce() -> Result<T, LeaseError>,
    ) -> Result<T, LeaseError> {
        let b = pick(&self.knobs.lock().unwrap());
        b.before.wait().await;
        if b.fail {
            return Err(LeaseError::Timeout);
        }
        let out = apply();
        b.after.wait().await;
        out
    }
}

#[async_trait]
impl LeaseStore for Fake {
    async fn get(&self) -> Result<Option<Lease>, LeaseError> {
        self.run(|k| k.get, || Ok(self.shared.lock().unwrap().lease.clone()))
            .await
    }

    async fn create(&self, lease: &Lease) -> Result<Lease, LeaseError> {
        self.run(|k| k.write, || self.store(lease.clone(), None))
            .await
    }

    async fn replace(&self, lease: &Lease) -> Result<Lease, LeaseError> {
        let expect = lease.metadata.resource_version.clone();
        self.run(|k| k.write, || self.store(lease.clone(), expect))
            .await
    }
}

fn spec(holder: &str, renew: Timestamp) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(holder.into()),
        lease_duration_seconds: Some(15),
        renew_time: Some(MicroTime(renew)),
        ..Default::default()
    }
}

/// An elector on its own client of `fake`, and that client (to turn its knobs).
fn elector(fake: &Fake, identity: &str, config: LeaseConfig) -> (Arc<LeaderElector<Fake>>, Fake) {
    let client = fake.client();
    let config = LeaseConfig {
        identity: identity.into(),
        ..config
    };
    (
        Arc::new(LeaderElector::with_store(client.clone(), config)),
        client,
    )
}

/// Runs `hold` in a task; its result is the instant hold returned.
fn spawn_hold(e: &Arc<LeaderElector<Fake>>, term: Term) -> tokio::task::JoinHandle<Instant> {
    let e = e.clone();
    tokio::spawn(async move {
        e.hold(term).await;
        Instant::now()
    })
}

#[tokio::test(start_paused = true)]
async fn the_renew_deadline_counts_from_when_the_renewal_was_sent() {
    let fake = Fake::default();
    let (a, knobs) = elector(&fake, "a", config("a"));
    let t0 = Instant::now();
    let term = a.acquire().await;
    assert_eq!(term.sent_at, t0);
    // The first renewal is sent (and stored) at t0+2s; its answer comes 3 s later.
    knobs.set(|k| k.write.after = Delay::For(SECS(3)));
    let hold = spawn_hold(&a, term);
    sleep_until(t0 + SECS(6)).await;
    assert_eq!(
        fake.shared.lock().unwrap().version,
        2,
        "create + one renewal"
    );
    // From then on no renewal reaches the Lease.
    knobs.set(|k| k.write.before = Delay::Forever);
    let ended = hold.await.unwrap() - t0;
    assert_eq!(
        ended,
        SECS(2) + SECS(10),
        "deadline = renewal sent (t0+2s) + renew deadline, not its answer (t0+5s) + it"
    );
}

/// Holds after acquiring at t0 with `stuck` applied to the renewals; returns when hold
/// returned, relative to t0.
async fn hold_with(cfg: LeaseConfig, stuck: impl FnOnce(&mut Knobs)) -> Duration {
    let fake = Fake::default();
    let (a, knobs) = elector(&fake, "a", cfg);
    let t0 = Instant::now();
    let term = a.acquire().await;
    knobs.set(stuck);
    spawn_hold(&a, term).await.unwrap() - t0
}

#[tokio::test(start_paused = true)]
async fn hold_returns_at_the_deadline_while_a_renewal_hangs() {
    // The API timeout (30 s) is longer than the renew deadline (10 s): the hung call is cut
    // at the deadline, not at its own timeout.
    let hung_get = hold_with(config("a"), |k| k.get.before = Delay::Forever).await;
    assert_eq!(hung_get, SECS(10), "renewal's read hangs");
    let hung_write = hold_with(config("a"), |k| k.write.before = Delay::Forever).await;
    assert_eq!(hung_write, SECS(10), "renewal's write hangs");
    // Stored, but the answer never comes: the renewal never counts as successful.
    let lost_answer = hold_with(config("a"), |k| k.write.after = Delay::Forever).await;
    assert_eq!(lost_answer, SECS(10), "renewal's answer never comes");
    // Failing renewals every 3 s (3, 6, 9, 12): hold returns at 10 s, not at the first
    // failure after the deadline.
    let cfg = LeaseConfig {
        retry_period: SECS(3),
        ..config("a")
    };
    let failing = hold_with(cfg, |k| k.get.fail = true).await;
    assert_eq!(failing, SECS(10), "renewals fail");
}

#[tokio::test(start_paused = true)]
async fn hold_keeps_leading_while_renewals_succeed_and_stops_when_another_holds() {
    let fake = Fake::default();
    let (a, _) = elector(&fake, "a", config("a"));
    let t0 = Instant::now();
    let term = a.acquire().await;
    let hold = spawn_hold(&a, term);
    sleep_until(t0 + SECS(61)).await;
    assert!(!hold.is_finished(), "renewals succeed: still leading");
    fake.foreign_write(spec("z", Timestamp::now()));
    let ended = hold.await.unwrap() - t0;
    assert_eq!(ended, SECS(62), "the next renewal sees the other holder");
}

/// Runs `acquire` of a fresh elector "b" in a task; its result is when it returned.
fn spawn_acquire(fake: &Fake) -> tokio::task::JoinHandle<Instant> {
    let (b, _) = elector(fake, "b", config("b"));
    tokio::spawn(async move {
        b.acquire().await;
        Instant::now()
    })
}

#[tokio::test(start_paused = true)]
async fn a_foreign_renew_time_in_the_past_does_not_expire_a_lease_that_changes() {
    let fake = Fake::default();
    let ancient = Timestamp::UNIX_EPOCH;
    fake.foreign_write(spec("z", ancient));
    let t0 = Instant::now();
    let acquired = spawn_acquire(&fake);
    // "z" renews every 5 s for a minute, always writing a renewTime decades ago.
    for i in 1..=12 {
        sleep_until(t0 + SECS(5 * i)).await;
        assert!(
            !acquired.is_finished(),
            "took a live lease after {}s",
            5 * i
        );
        fake.foreign_write(spec("z", ancient));
    }
    // Last change at 60 s, seen by the poll at 60 s: expired once unchanged for 15 s, and
    // the standby polls again at that instant.
    let at = acquired.await.unwrap() - t0;
    assert_eq!(at, SECS(75));
    assert_eq!(fake.holder().as_deref(), Some("b"));
}

#[tokio::test(start_paused = true)]
async fn a_foreign_renew_time_in_the_future_does_not_keep_a_dead_lease() {
    let fake = Fake::default();
    let far_future = Timestamp::from_second(4_102_444_800).unwrap_or(Timestamp::MAX);
    fake.foreign_write(spec("z", far_future));
    let t0 = Instant::now();
    let acquired = spawn_acquire(&fake);
    // Never seen to change: counted from the first observation (t0), expired and taken at
    // 15 s.
    let at = tokio::time::timeout(SECS(120), acquired)
        .await
        .expect("a Lease that never changes must expire")
        .unwrap()
        - t0;
    assert_eq!(at, SECS(15));
}

#[tokio::test(start_paused = true)]
async fn a_released_lease_is_taken_at_once() {
    let fake = Fake::default();
    let (a, _) = elector(&fake, "a", config("a"));
    let term = a.acquire().await;
    let hold = spawn_hold(&a, term);
    let t0 = Instant::now();
    let acquired = spawn_acquire(&fake);
    sleep(SECS(1)).await;
    hold.abort();
    a.release().await;
    assert_eq!(fake.holder(), None);
    let at = acquired.await.unwrap() - t0;
    assert_eq!(at, SECS(2), "the next poll after the release");
}

/// Leadership terms as each replica believed them: (replica, from, until).
type Terms = Arc<Mutex<Vec<(usize, Instant, Option<Instant>)>>>;

/// A replica's loop as commands.rs runs it: acquire, lead while hold runs, stand by again.
fn spawn_replica(e: Arc<LeaderElector<Fake>>, id: usize, terms: Terms) {
    tokio::spawn(async move {
        loop {
            let term = e.acquire().await;
            terms.lock().unwrap().push((id, Instant::now(), None));
            e.hold(term).await;
            if let Some(last) = terms.lock().unwrap().iter_mut().rev().find(|t| t.0 == id) {
                last.2 = Some(Instant::now());
            }
        }
    });
}

/// A random behaviour for one replica's calls for the next few seconds: mostly healthy,
/// otherwise slow requests, slow answers, hangs (before or after the Lease changed) and
/// failures, so renewals that were stored but answered late are common.
fn random_knobs(rng: &mut impl rand::Rng) -> Knobs {
    fn delay(rng: &mut impl rand::Rng) -> Delay {
        match rng.random_range(0..10) {
            0..=5 => Delay::None,
            6..=8 => Delay::For(Duration::from_millis(rng.random_range(100..12_000))),
            _ => Delay::Forever,
        }
    }
    let mut k = Knobs::default();
    if rng.random_bool(0.3) {
        return k;
    }
    k.get.before = delay(rng);
    k.write.before = delay(rng);
    k.write.after = delay(rng);
    k.get.fail = rng.random_bool(0.1);
    k.write.fail = rng.random_bool(0.1);
    k
}

#[tokio::test(start_paused = true)]
async fn two_electors_never_lead_at_the_same_instant() {
    use rand::SeedableRng;
    let fake = Fake::default();
    let terms = Terms::default();
    let mut knobs = Vec::new();
    for id in 0..2 {
        let cfg = LeaseConfig {
            retry_period: SECS(1),
            ..config("")
        };
        let (e, k) = elector(&fake, &format!("r{id}"), cfg);
        knobs.push(k);
        spawn_replica(e, id, terms.clone());
    }
    let t0 = Instant::now();
    // Scripted first (1 s retry period): r0 leads; its renewal sent at 20 s is stored at
    // once but answered at 27.5 s, and from 20.5 s none of its renewals is stored. It must
    // stop at 30 s (sent + renew deadline), not 37.5 s (answered + renew deadline): r1, which
    // saw that renewal at 20 or 21 s, takes the Lease 15 s later.
    sleep_until(t0 + Duration::from_millis(19_500)).await;
    knobs[0].set(|k| k.write.after = Delay::For(Duration::from_millis(7_500)));
    sleep_until(t0 + Duration::from_millis(20_500)).await;
    knobs[0].set(|k| k.write.before = Delay::Forever);
    sleep_until(t0 + SECS(60)).await;
    {
        let terms = terms.lock().unwrap();
        let seen: Vec<_> = terms
            .iter()
            .map(|t| (t.0, t.1 - t0, t.2.map(|e| e - t0)))
            .collect();
        assert!(
            matches!(seen[..], [(0, s0, Some(e0)), (1, s1, None)]
                if s0 == SECS(0) && e0 == SECS(30) && s1 >= SECS(35) && s1 <= SECS(36)),
            "scripted handover: {seen:?}"
        );
    }
    knobs[0].set(|k| *k = Knobs::default());
    let mut rng = rand::rngs::StdRng::seed_from_u64(9);
    // Two hours of trouble, the behaviours redrawn every 7 s.
    while Instant::now() - t0 < SECS(7200) {
        for k in &knobs {
            let drawn = random_knobs(&mut rng);
            k.set(|knobs| *knobs = drawn);
        }
        sleep(SECS(7)).await;
    }
    let terms = terms.lock().unwrap().clone();
    let now = Instant::now();
    for (i, a) in terms.iter().enumerate() {
        for b in terms.iter().skip(i + 1).filter(|b| b.0 != a.0) {
            let (a_end, b_end) = (a.2.unwrap_or(now), b.2.unwrap_or(now));
            assert!(
                a_end <= b.1 || b_end <= a.1,
                "r{} led {:?}..{:?} and r{} led {:?}..{:?}",
                a.0,
                a.1 - t0,
                a_end - t0,
                b.0,
                b.1 - t0,
                b_end - t0
            );
        }
    }
    let handovers = terms.windows(2).filter(|w| w[0].0 != w[1].0).count();
    println!("{} terms, {handovers} handovers", terms.len());
    assert!(handovers >= 20, "only {handovers} handovers in {terms:?}");
}
