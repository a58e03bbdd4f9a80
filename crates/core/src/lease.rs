//! The lake's lease: one run (or maintenance) works on the lake at a time.
//!
//! A lease is a sequence of immutable generations, `state/lease/<gen>.json`, each naming an
//! owner and when its claim expires. Taking, renewing and releasing the lease all write the next
//! generation with create-if-absent, so of two writers that read the same generation only one
//! succeeds: the compare-and-swap an `If-Match` on one object would give, on a local directory
//! too. Writers never delete: the generations below the newest are removed by maintenance
//! ([`prune`]), the one role allowed to delete, so the prefix stays a short listing.
//!
//! The lease guards work, not data: every table commit is a compare-and-swap of its own and
//! every stage is exactly-once per run, so a run that lost its lease (it stalled past the
//! expiry and somebody took over) cannot corrupt a table, only waste its work. What the lease
//! buys is that overlapping runs queue instead of racing: no commit computed from a state that
//! another run is about to change, no batch extracted twice by two runs.
//!
//! An owner is a run of the pipeline as its driver sees it: a Step Functions execution, a CLI
//! process. Taking a lease the owner already holds renews it, so the stages of one run (which
//! run in separate Lambda invocations) pass it on without releasing it in between.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::{sync::Mutex, task::JoinHandle};
use tracing::{debug, info, warn};

use crate::{Error, Lake, Result, config};

const PREFIX: &str = "state/lease";

/// How long a claim lasts and how long to wait for somebody else's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseConfig {
    /// A claim expires this long after it was written unless renewed; the holder renews it
    /// every third of it.
    pub ttl: Duration,
    /// How long to wait for a lease somebody else holds before giving up with
    /// [`Error::LakeBusy`]. A Lambda gives up at once and lets the state machine retry later;
    /// the CLI waits.
    pub wait: Duration,
}

impl Default for LeaseConfig {
    fn default() -> Self {
        LeaseConfig {
            ttl: config::DEFAULT_LEASE_TTL,
            wait: Duration::ZERO,
        }
    }
}

impl LeaseConfig {
    /// `LAKEHOUSE_LEASE_SECONDS` and `LAKEHOUSE_LEASE_WAIT_SECONDS` where set, else `default`.
    pub fn from_env_or(default: LeaseConfig) -> Result<Self> {
        let seconds = |name| {
            config::env_parse::<f64>(name)?
                .map(|s| {
                    Duration::try_from_secs_f64(s).map_err(|_| {
                        Error::Config(format!("{name}={s} is not a number of seconds"))
                    })
                })
                .transpose()
        };
        let ttl = seconds(config::ENV_LEASE_SECONDS)?.unwrap_or(default.ttl);
        if ttl < Duration::from_millis(300) {
            return Err(Error::Config(format!(
                "{} must be at least 0.3 seconds: the holder renews every third of it",
                config::ENV_LEASE_SECONDS
            )));
        }
        Ok(LeaseConfig {
            ttl,
            wait: seconds(config::ENV_LEASE_WAIT_SECONDS)?.unwrap_or(default.wait),
        })
    }
}

/// One generation of the lease as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claim {
    pub owner: String,
    pub expires_at: DateTime<Utc>,
    /// Set by the owner when it is done: the lease is free before it expires.
    #[serde(default)]
    pub released: bool,
    pub written_at: DateTime<Utc>,
}

impl Claim {
    /// Whether the claim keeps others out at `now`.
    pub fn holds(&self, now: DateTime<Utc>) -> bool {
        !self.released && self.expires_at > now
    }
}

fn key(generation: u64) -> String {
    format!("{PREFIX}/{generation:012}.json")
}

fn generation_of(key: &str) -> Option<u64> {
    key.strip_prefix(PREFIX)?
        .strip_prefix('/')?
        .strip_suffix(".json")?
        .parse()
        .ok()
}

/// The newest generation and its claim, or `None` if the lake never had a lease.
pub async fn current(lake: &Lake) -> Result<Option<(u64, Claim)>> {
    // A generation can be deleted between the listing and the read (its successor's writer
    // cleans up): list again then.
    for _ in 0..5 {
        let keys = lake.list(PREFIX).await?;
        let Some(generation) = keys.iter().filter_map(|k| generation_of(k)).max() else {
            return Ok(None);
        };
        if let Some(claim) = lake.get_json::<Claim>(&key(generation)).await? {
            return Ok(Some((generation, claim)));
        }
    }
    Err(Error::Conflict(
        "the lake's lease kept changing while it was read".into(),
    ))
}

/// Generations kept below the newest by [`prune`]: a reader that listed a few generations ago
/// still finds what it listed, or lists again.
const KEPT_GENERATIONS: u64 = 8;

/// Deletes the lease's old generations (all but the newest few), returning how many. For
/// maintenance, which holds the lease meanwhile and is the one role allowed to delete.
pub async fn prune(lake: &Lake) -> Result<usize> {
    let keys = lake.list(PREFIX).await?;
    let Some(newest) = keys.iter().filter_map(|k| generation_of(k)).max() else {
        return Ok(0);
    };
    let mut deleted = 0;
    for old in keys
        .iter()
        .filter(|k| generation_of(k).is_some_and(|g| g + KEPT_GENERATIONS <= newest))
    {
        lake.delete(old).await?;
        deleted += 1;
    }
    Ok(deleted)
}

/// A lease this process holds (until it expires, unless renewed).
#[derive(Debug, Clone)]
pub struct Lease {
    lake: Lake,
    owner: String,
    generation: u64,
    ttl: Duration,
}

impl Lease {
    /// Takes the lake's lease for `owner`: at once if it is free, expired, released or already
    /// `owner`'s (then this renews it); otherwise after waiting up to `config.wait` for it, or
    /// [`Error::LakeBusy`] naming who holds it until when.
    pub async fn acquire(lake: &Lake, owner: &str, config: &LeaseConfig) -> Result<Lease> {
        if owner.is_empty() || owner.len() > 256 || owner.chars().any(char::is_control) {
            return Err(Error::InvalidInput(format!(
                "lease owner {owner:?} must be 1 to 256 printable characters"
            )));
        }
        let give_up = tokio::time::Instant::now() + config.wait;
        loop {
            let now = Utc::now();
            let found = current(lake).await?;
            if let Some((_, claim)) = &found
                && claim.owner != owner
                && claim.holds(now)
            {
                let left = (claim.expires_at - now).to_std().unwrap_or_default();
                let waited_out = tokio::time::Instant::now() >= give_up;
                if waited_out {
                    return Err(Error::LakeBusy {
                        holder: claim.owner.clone(),
                        until: claim.expires_at,
                    });
                }
                debug!(holder = %claim.owner, until = %claim.expires_at, "lake busy; waiting");
                let nap = left
                    .min(Duration::from_millis(500))
                    .max(Duration::from_millis(20));
                tokio::time::sleep(nap.min(give_up - tokio::time::Instant::now())).await;
                continue;
            }
            let previous = found.as_ref().map(|(generation, _)| *generation);
            let generation = previous.map_or(1, |g| g + 1);
            let claim = Claim {
                owner: owner.to_owned(),
                expires_at: now + config.ttl,
                released: false,
                written_at: now,
            };
            match lake.put_json_if_absent(&key(generation), &claim).await {
                Ok(()) => {
                    if let Some((_, before)) = found.filter(|(_, c)| c.owner != owner) {
                        info!(owner, previous = %before.owner, expired = !before.released, "took the lake's lease");
                    }
                    let lease = Lease {
                        lake: lake.clone(),
                        owner: owner.to_owned(),
                        generation,
                        ttl: config.ttl,
                    };
                    return Ok(lease);
                }
                // Somebody wrote that generation first: look again.
                Err(Error::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// Extends the claim by the lease's ttl. Fails with [`Error::LeaseLost`] if somebody else
    /// took the lease (this holder let it expire).
    pub async fn renew(&mut self) -> Result<()> {
        self.advance(false).await
    }

    /// Frees the lease for the next run. A lease already taken over is left to its new owner.
    pub async fn release(mut self) -> Result<()> {
        match self.advance(true).await {
            Err(Error::LeaseLost { .. }) => Ok(()),
            other => other,
        }
    }

    async fn advance(&mut self, release: bool) -> Result<()> {
        let now = Utc::now();
        let claim = Claim {
            owner: self.owner.clone(),
            expires_at: if release { now } else { now + self.ttl },
            released: release,
            written_at: now,
        };
        let next = self.generation + 1;
        match self.lake.put_json_if_absent(&key(next), &claim).await {
            Ok(()) => {
                self.generation = next;
                Ok(())
            }
            Err(Error::Conflict(_)) => {
                // The next generation is somebody's: ours again only if this owner renewed it
                // elsewhere (a second stage of the same run); else the lease was taken over.
                match current(&self.lake).await? {
                    Some((generation, taken)) if taken.owner == self.owner && !taken.released => {
                        self.generation = generation;
                        if release {
                            return Box::pin(self.advance(true)).await;
                        }
                        Box::pin(self.advance(false)).await
                    }
                    Some((_, taken)) => Err(Error::LeaseLost {
                        owner: self.owner.clone(),
                        taken_by: taken.owner,
                    }),
                    None => Err(Error::LeaseLost {
                        owner: self.owner.clone(),
                        taken_by: "nobody (the lease was deleted)".into(),
                    }),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Keeps the lease renewed in the background until [`Kept::finish`] (or drop).
    pub fn keep(self) -> Kept {
        let every = self.ttl / 3;
        let lost = Arc::new(AtomicBool::new(false));
        let lease = Arc::new(Mutex::new(self));
        let renewer = {
            let (lease, lost) = (lease.clone(), lost.clone());
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    let mut held = lease.lock().await;
                    match held.renew().await {
                        Ok(()) => {}
                        Err(e @ Error::LeaseLost { .. }) => {
                            warn!(error = %e, "lost the lake's lease");
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        // A storage hiccup: the claim still has two thirds of its time.
                        Err(e) => warn!(error = %e, "could not renew the lake's lease"),
                    }
                }
            })
        };
        Kept {
            lease,
            lost,
            renewer,
        }
    }
}

/// Runs `work` holding the lake's lease for `owner`, renewed while it runs: the way every stage
/// works on the lake. On success the lease is released if `ends_run` says the run ends with
/// this stage, else left for the run's next stage (or to expire); on failure it is released, so
/// a retry or the next run need not wait for it to expire. A lease lost while working fails
/// the stage ([`Error::LeaseLost`]), though what it committed stands.
pub async fn with_lease<T, E: From<Error>>(
    lake: &Lake,
    owner: &str,
    config: &LeaseConfig,
    work: impl Future<Output = std::result::Result<T, E>>,
    ends_run: impl FnOnce(&T) -> bool,
) -> std::result::Result<T, E> {
    let kept = Lease::acquire(lake, owner, config).await?.keep();
    match work.await {
        Ok(out) => {
            let release = ends_run(&out);
            kept.finish(release).await?;
            Ok(out)
        }
        Err(e) => {
            if let Err(release) = kept.finish(true).await {
                warn!(error = %release, "could not release the lake's lease");
            }
            Err(e)
        }
    }
}

/// A lease renewed in the background ([`Lease::keep`]).
#[derive(Debug)]
pub struct Kept {
    lease: Arc<Mutex<Lease>>,
    lost: Arc<AtomicBool>,
    renewer: JoinHandle<()>,
}

impl Kept {
    /// [`Error::LeaseLost`] if the renewer found the lease taken over.
    pub async fn check(&self) -> Result<()> {
        if self.lost.load(Ordering::SeqCst) {
            let owner = self.lease.lock().await.owner.clone();
            return Err(Error::LeaseLost {
                owner,
                taken_by: "another run, after this one's claim expired".into(),
            });
        }
        Ok(())
    }

    /// Stops renewing; releases the lease if `release`, else leaves the claim to the next
    /// stage of the same run (or to expire). Leaving it fails with [`Error::LeaseLost`] if the
    /// lease was taken over meanwhile; releasing one taken over is no error (it was being given
    /// up anyway, and the work it covered is done).
    pub async fn finish(mut self, release: bool) -> Result<()> {
        self.renewer.abort();
        let _ = (&mut self.renewer).await;
        if release {
            let held = self.lease.lock().await.clone();
            return held.release().await;
        }
        self.check().await
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::temp_lake;

    fn quick(wait_ms: u64) -> LeaseConfig {
        LeaseConfig {
            ttl: Duration::from_millis(600),
            wait: Duration::from_millis(wait_ms),
        }
    }

    #[tokio::test]
    async fn a_second_owner_is_refused_until_the_first_releases() {
        let (_dir, lake) = temp_lake();
        let first = Lease::acquire(&lake, "a", &quick(0)).await.unwrap();
        let busy = Lease::acquire(&lake, "b", &quick(0)).await.unwrap_err();
        match &busy {
            Error::LakeBusy { holder, until } => {
                assert_eq!(holder, "a");
                assert!(*until > Utc::now());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(busy.kind(), crate::ErrorKind::LakeBusy);
        // The same owner takes it again (a later stage of the same run).
        let again = Lease::acquire(&lake, "a", &quick(0)).await.unwrap();
        drop(first);
        again.release().await.unwrap();
        let mut second = Lease::acquire(&lake, "b", &quick(0)).await.unwrap();
        assert_eq!(current(&lake).await.unwrap().unwrap().1.owner, "b");
        // Writers leave the old generations; maintenance prunes them to the newest few, and the
        // lease reads and renews as before.
        for _ in 0..12 {
            second.renew().await.unwrap();
        }
        let written = lake.list(PREFIX).await.unwrap().len();
        assert!(written > KEPT_GENERATIONS as usize + 4, "{written}");
        let pruned = prune(&lake).await.unwrap();
        assert_eq!(pruned + KEPT_GENERATIONS as usize, written);
        assert_eq!(
            lake.list(PREFIX).await.unwrap().len(),
            KEPT_GENERATIONS as usize
        );
        assert_eq!(current(&lake).await.unwrap().unwrap().1.owner, "b");
        second.renew().await.unwrap();
        assert!(Lease::acquire(&lake, "c", &quick(0)).await.is_err());
        second.release().await.unwrap();
        Lease::acquire(&lake, "c", &quick(0)).await.unwrap();
    }

    #[tokio::test]
    async fn an_expired_claim_is_taken_over_and_its_holder_learns_it_lost() {
        let (_dir, lake) = temp_lake();
        let mut stalled = Lease::acquire(&lake, "a", &quick(0)).await.unwrap();
        // A waiter gets it once the claim runs out, not before.
        let started = std::time::Instant::now();
        let taker = Lease::acquire(&lake, "b", &quick(5_000)).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(400));
        let lost = stalled.renew().await.unwrap_err();
        assert!(matches!(lost, Error::LeaseLost { .. }), "{lost:?}");
        // Releasing a lease somebody took over leaves theirs alone.
        stalled.release().await.unwrap();
        assert_eq!(current(&lake).await.unwrap().unwrap().1.owner, "b");
        assert!(current(&lake).await.unwrap().unwrap().1.holds(Utc::now()));
        drop(taker);
    }

    #[tokio::test]
    async fn a_kept_lease_outlives_its_ttl_and_one_racer_wins_each_generation() {
        let (_dir, lake) = temp_lake();
        let kept = Lease::acquire(&lake, "a", &quick(0)).await.unwrap().keep();
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert!(Lease::acquire(&lake, "b", &quick(0)).await.is_err());
        kept.check().await.unwrap();
        kept.finish(true).await.unwrap();

        // Eight owners race for a free lease: each wins in turn, none at the same time.
        let holders = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (lake, holders) = (lake.clone(), holders.clone());
                tokio::spawn(async move {
                    let lease = Lease::acquire(&lake, &format!("o{i}"), &quick(20_000))
                        .await
                        .unwrap();
                    assert_eq!(holders.fetch_add(1, Ordering::SeqCst), 0, "two holders");
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    holders.fetch_sub(1, Ordering::SeqCst);
                    lease.release().await.unwrap();
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    }

    #[test]
    fn generations_round_trip_through_keys() {
        assert_eq!(generation_of(&key(42)), Some(42));
        assert_eq!(generation_of("state/lease/x.json"), None);
        assert!(key(9) < key(10), "keys sort as numbers");
    }
}
