#![doc = include_str!("../README.md")]

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

pub mod redis_bus;

use cached::{Cached, LruCache};

/// Proof of when a fill began; see [`ReadModel::fill`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

struct State<K: Hash + Eq + Clone, V> {
    values: LruCache<K, Arc<V>>,
    /// The weight of what `values` holds (kept by the store's eviction callback too).
    bytes: Arc<AtomicUsize>,
    /// Beyond this many bytes the least recently used values go.
    max_bytes: usize,
    weigh: fn(&V) -> usize,
    /// The generation at which each key was last invalidated (keys never invalidated are
    /// absent). Cleared with `invalidate_all`, which moves `floor` instead, and when it
    /// holds `tracking_limit` keys (then `floor` moves to now: fills begun before are
    /// dropped, which costs a later re-read and is never stale).
    invalidated_at: HashMap<K, u64>,
    tracking_limit: usize,
    /// Fills whose ticket is older than this were overtaken by `invalidate_all`.
    floor: u64,
    generation: u64,
    /// The loads in progress by [`ReadModel::load_once`], one per key.
    flights: HashMap<K, Arc<Flight<V>>>,
    /// Values read from the source of truth and offered to the model (kept or not): its
    /// misses, for tests and metrics.
    loads: u64,
}

/// One load in progress, which concurrent misses of its key wait for.
struct Flight<V> {
    /// `None` while loading; then `Some(value)` when the load was kept, `Some(None)` when it
    /// failed or was overtaken by an invalidation (the waiters load themselves).
    outcome: Mutex<Option<Option<Arc<V>>>>,
    done: Condvar,
}

impl<V> Flight<V> {
    fn new() -> Self {
        Flight {
            outcome: Mutex::new(None),
            done: Condvar::new(),
        }
    }

    fn finish(&self, value: Option<Arc<V>>) {
        *self.outcome.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
        self.done.notify_all();
    }

    /// The leader's value, or `None` when it brought none or took longer than `patience`.
    fn wait(&self, patience: Duration) -> Option<Arc<V>> {
        let outcome = self.outcome.lock().unwrap_or_else(PoisonError::into_inner);
        let (outcome, _) = self
            .done
            .wait_timeout_while(outcome, patience, |outcome| outcome.is_none())
            .unwrap_or_else(PoisonError::into_inner);
        outcome.clone().flatten()
    }
}

/// The flights a leader started: ended exactly once, by [`Leading::land`] or, when the load
/// failed or panicked, by the drop (with nothing: the waiters load themselves).
struct Leading<'m, K: Hash + Eq + Clone + 'static, V: 'static> {
    model: &'m ReadModel<K, V>,
    flights: Vec<(K, Arc<Flight<V>>)>,
}

impl<K: Hash + Eq + Clone + 'static, V: 'static> Leading<'_, K, V> {
    /// Keep `values` read after `ticket` and retire the flights in one critical section, so
    /// a miss after it either finds the value held or, when an invalidation came first,
    /// starts a load of its own: it never joins a flight whose value a write made stale.
    /// The waiters already joined get the values that were still current.
    fn land(mut self, ticket: Ticket, values: Vec<(K, V)>) -> HashMap<K, Arc<V>> {
        let mut landed = HashMap::with_capacity(values.len());
        let mut handed: HashMap<K, Arc<V>> = HashMap::new();
        {
            let mut state = self.model.lock();
            for (key, value) in values {
                let (value, current) =
                    ReadModel::fill_locked(&mut state, key.clone(), ticket, value);
                if current {
                    handed.insert(key.clone(), Arc::clone(&value));
                }
                landed.insert(key, value);
            }
            Self::retire(&mut state, &self.flights);
        }
        for (key, flight) in std::mem::take(&mut self.flights) {
            flight.finish(handed.remove(&key));
        }
        landed
    }

    /// [`Leading::land`] of one value.
    fn land_one(mut self, ticket: Ticket, key: K, value: V) -> Arc<V> {
        let (value, current) = {
            let mut state = self.model.lock();
            let landed = ReadModel::fill_locked(&mut state, key, ticket, value);
            Self::retire(&mut state, &self.flights);
            landed
        };
        for (_, flight) in std::mem::take(&mut self.flights) {
            flight.finish(current.then(|| Arc::clone(&value)));
        }
        value
    }

    fn retire(state: &mut State<K, V>, flights: &[(K, Arc<Flight<V>>)]) {
        for (key, flight) in flights {
            if state
                .flights
                .get(key)
                .is_some_and(|current| Arc::ptr_eq(current, flight))
            {
                state.flights.remove(key);
            }
        }
    }
}

impl<K: Hash + Eq + Clone + 'static, V: 'static> Drop for Leading<'_, K, V> {
    fn drop(&mut self) {
        if self.flights.is_empty() {
            return;
        }
        Self::retire(&mut self.model.lock(), &self.flights);
        for (_, flight) in self.flights.drain(..) {
            flight.finish(None);
        }
    }
}

/// A bounded read model with explicit invalidation. Cheap to share (`Arc` inside).
pub struct ReadModel<K: Hash + Eq + Clone, V> {
    state: Arc<Mutex<State<K, V>>>,
}

impl<K: Hash + Eq + Clone, V> Clone for ReadModel<K, V> {
    fn clone(&self) -> Self {
        Self {
            state: Arc::clone(&self.state),
        }
    }
}

impl<K: Hash + Eq + Clone + 'static, V: 'static> ReadModel<K, V> {
    /// A read model keeping at most `capacity` values (least recently used go first).
    pub fn new(capacity: usize) -> Self {
        Self::weighed(capacity, usize::MAX, |_| 0)
    }

    /// A read model keeping at most `capacity` values and at most `max_bytes` of them as
    /// `weigh` counts them (least recently used go first); a value heavier than `max_bytes`
    /// alone is served to its reader but not kept. So one account that stores a lot cannot
    /// pin the server's memory.
    pub fn weighed(capacity: usize, max_bytes: usize, weigh: fn(&V) -> usize) -> Self {
        let bytes = Arc::new(AtomicUsize::new(0));
        let evicted = Arc::clone(&bytes);
        let values = LruCache::builder()
            .max_size(capacity.max(1))
            .on_evict(move |_: &K, value: &Arc<V>| {
                evicted.fetch_sub(weigh(value), Ordering::Relaxed);
            })
            .build()
            .unwrap_or_else(|_| LruCache::new(capacity.max(1)));
        Self {
            state: Arc::new(Mutex::new(State {
                values,
                bytes,
                max_bytes,
                weigh,
                invalidated_at: HashMap::new(),
                tracking_limit: Self::TRACKING_LIMIT,
                floor: 0,
                generation: 0,
                flights: HashMap::new(),
                loads: 0,
            })),
        }
    }

    /// Keys whose last invalidation is remembered before the map is reset (bounds memory
    /// whatever the number of distinct keys ever invalidated).
    const TRACKING_LIMIT: usize = 65_536;

    /// [`ReadModel::new`] remembering at most `limit` invalidated keys.
    #[cfg(test)]
    fn with_tracking_limit(capacity: usize, limit: usize) -> Self {
        let model = Self::new(capacity);
        model.lock().tracking_limit = limit;
        model
    }

    /// How many invalidated keys are remembered.
    #[cfg(test)]
    fn tracked_invalidations(&self) -> usize {
        self.lock().invalidated_at.len()
    }

    fn lock(&self) -> MutexGuard<'_, State<K, V>> {
        // A panic while holding the lock cannot leave the maps half-written in a way that
        // matters more than losing cached values; recover and carry on.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        self.lock().values.cache_get(key).cloned()
    }

    /// Take before reading the source of truth.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.lock().generation)
    }

    /// Keep `value` unless `key` (or everything) was invalidated after `ticket` was taken;
    /// returns the value either way, for the caller to use.
    pub fn fill(&self, key: K, ticket: Ticket, value: V) -> Arc<V> {
        self.fill_current(key, ticket, value).0
    }

    /// [`ReadModel::fill`], and whether the value was still current (no invalidation since
    /// `ticket`).
    fn fill_current(&self, key: K, ticket: Ticket, value: V) -> (Arc<V>, bool) {
        Self::fill_locked(&mut self.lock(), key, ticket, value)
    }

    /// [`ReadModel::fill_current`] on the locked state.
    fn fill_locked(state: &mut State<K, V>, key: K, ticket: Ticket, value: V) -> (Arc<V>, bool) {
        let value = Arc::new(value);
        state.loads += 1;
        let overtaken = ticket.0 < state.floor
            || state
                .invalidated_at
                .get(&key)
                .is_some_and(|at| *at > ticket.0);
        let size = (state.weigh)(&value);
        if !overtaken && size <= state.max_bytes {
            state.bytes.fetch_add(size, Ordering::Relaxed);
            if let Some(displaced) = state.values.cache_set(key, Arc::clone(&value)) {
                state
                    .bytes
                    .fetch_sub((state.weigh)(&displaced), Ordering::Relaxed);
            }
            if state.bytes.load(Ordering::Relaxed) > state.max_bytes {
                // Least recently used first; the value just kept is the most recent.
                let mut order = state.values.key_order();
                while state.bytes.load(Ordering::Relaxed) > state.max_bytes {
                    let Some(oldest) = order.pop() else { break };
                    let _evicted = state.values.cache_remove(&oldest);
                }
            }
        }
        (value, !overtaken)
    }

    /// How many values were read from the source of truth and offered ([`Self::fill`]) since
    /// the model was made: its misses.
    pub fn loads(&self) -> u64 {
        self.lock().loads
    }

    /// The weight of what is held, as `weigh` counts it.
    pub fn bytes(&self) -> usize {
        self.lock().bytes.load(Ordering::Relaxed)
    }

    /// Get, or load with `load` and fill (with a ticket taken before the load).
    pub fn get_or_load<E>(
        &self,
        key: &K,
        load: impl FnOnce() -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        if let Some(value) = self.get(key) {
            return Ok(value);
        }
        let ticket = self.ticket();
        let value = load()?;
        Ok(self.fill(key.clone(), ticket, value))
    }

    /// Get, or load once however many threads miss `key` at the same time: the first loads
    /// (with a ticket, as [`ReadModel::get_or_load`]) and the others wait for its value. A
    /// waiter loads itself when the leader fails, when an invalidation overtook the leader's
    /// load (so nobody is handed what a write made stale), or after [`Self::PATIENCE`] (a
    /// leader waiting for a connection the waiter holds cannot hold it up for long).
    pub fn load_once<E>(&self, key: &K, load: impl FnOnce() -> Result<V, E>) -> Result<Arc<V>, E> {
        let (flight, leader, ticket) = {
            let mut state = self.lock();
            if let Some(value) = state.values.cache_get(key) {
                return Ok(Arc::clone(value));
            }
            let ticket = Ticket(state.generation);
            match state.flights.get(key) {
                Some(flight) => (Arc::clone(flight), false, ticket),
                None => {
                    let flight = Arc::new(Flight::new());
                    state.flights.insert(key.clone(), Arc::clone(&flight));
                    (flight, true, ticket)
                }
            }
        };
        if !leader {
            if let Some(value) = flight.wait(Self::PATIENCE) {
                return Ok(value);
            }
            let ticket = self.ticket();
            let value = load()?;
            return Ok(self.fill(key.clone(), ticket, value));
        }
        let leading = Leading {
            model: self,
            flights: vec![(key.clone(), flight)],
        };
        // A failed (or panicking) load ends the flight with nothing: the waiters load.
        let value = load()?;
        Ok(leading.land_one(ticket, key.clone(), value))
    }

    /// [`Self::load_once`] for many keys at once: the held values; the missing keys no other
    /// thread is loading, read together in one call of `load` (which returns the values it
    /// found: a key it leaves out stays unheld and absent from the result); and the keys
    /// another thread is loading, waited for (read by `load` in a second call when that
    /// thread brings nothing current). Each key is asked once, however often it is named.
    pub fn load_many_once<E>(
        &self,
        keys: &[K],
        mut load: impl FnMut(&[K]) -> Result<Vec<(K, V)>, E>,
    ) -> Result<HashMap<K, Arc<V>>, E> {
        let mut found: HashMap<K, Arc<V>> = HashMap::with_capacity(keys.len());
        let mut led: Vec<(K, Arc<Flight<V>>)> = Vec::new();
        let mut waited: Vec<(K, Arc<Flight<V>>)> = Vec::new();
        let ticket = {
            let mut state = self.lock();
            let mut asked = std::collections::HashSet::with_capacity(keys.len());
            for key in keys {
                if !asked.insert(key) {
                    continue;
                }
                if let Some(value) = state.values.cache_get(key) {
                    found.insert(key.clone(), Arc::clone(value));
                } else if let Some(flight) = state.flights.get(key) {
                    waited.push((key.clone(), Arc::clone(flight)));
                } else {
                    let flight = Arc::new(Flight::new());
                    state.flights.insert(key.clone(), Arc::clone(&flight));
                    led.push((key.clone(), flight));
                }
            }
            Ticket(state.generation)
        };
        if !led.is_empty() {
            let wanted: Vec<K> = led.iter().map(|(key, _)| key.clone()).collect();
            let leading = Leading {
                model: self,
                flights: led,
            };
            // Our flights end before we wait for anyone else's (here, or by the guard when
            // the load fails): two threads each waiting for the other's keys cannot block
            // each other.
            let values = load(&wanted)?;
            found.extend(leading.land(ticket, values));
        }
        let mut again: Vec<K> = Vec::new();
        for (key, flight) in waited {
            match flight.wait(Self::PATIENCE) {
                Some(value) => {
                    found.insert(key, value);
                }
                None => again.push(key),
            }
        }
        if !again.is_empty() {
            let ticket = self.ticket();
            for (key, value) in load(&again)? {
                found.insert(key.clone(), self.fill(key, ticket, value));
            }
        }
        Ok(found)
    }

    /// How long a concurrent miss waits for the load in progress before loading itself.
    pub const PATIENCE: Duration = Duration::from_secs(1);

    pub fn invalidate(&self, key: &K) {
        let mut state = self.lock();
        state.generation += 1;
        let generation = state.generation;
        let _removed = state.values.cache_remove(key);
        state.invalidated_at.insert(key.clone(), generation);
        if state.invalidated_at.len() > state.tracking_limit {
            // Forget the per-key generations: every fill begun before now is overtaken.
            state.floor = generation;
            state.invalidated_at.clear();
        }
    }

    pub fn invalidate_all(&self) {
        let mut state = self.lock();
        state.generation += 1;
        state.floor = state.generation;
        state.values.cache_clear();
        state.bytes.store(0, Ordering::Relaxed);
        state.invalidated_at.clear();
    }

    pub fn len(&self) -> usize {
        self.lock().values.cache_size()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_weighed_model_keeps_at_most_its_bytes() {
        let cache: ReadModel<u32, String> = ReadModel::weighed(100, 10, String::len);
        let ticket = cache.ticket();
        cache.fill(1, ticket, "aaaa".into());
        cache.fill(2, ticket, "bbbb".into());
        assert_eq!((cache.len(), cache.bytes()), (2, 8));
        let _ = cache.get(&1); // 1 is now the most recently used
        cache.fill(3, ticket, "cccc".into());
        assert!(cache.get(&2).is_none(), "the least recently used went");
        assert!(cache.get(&1).is_some() && cache.get(&3).is_some());
        assert_eq!(cache.bytes(), 8);
        // Heavier than the whole budget: served, not kept, nothing else lost.
        let heavy = cache.fill(4, ticket, "x".repeat(11));
        assert_eq!(heavy.len(), 11);
        assert!(cache.get(&4).is_none());
        assert_eq!((cache.len(), cache.bytes()), (2, 8));
        // Replacing, invalidating and clearing keep the count true.
        cache.fill(1, cache.ticket(), "a".into());
        assert_eq!(cache.bytes(), 5);
        cache.invalidate(&3);
        assert_eq!(cache.bytes(), 1);
        cache.invalidate_all();
        assert_eq!((cache.len(), cache.bytes()), (0, 0));
        // Capacity evictions are counted too.
        let small: ReadModel<u32, String> = ReadModel::weighed(2, 1_000, String::len);
        for key in 0..5 {
            small.fill(key, small.ticket(), "abc".into());
        }
        assert_eq!((small.len(), small.bytes()), (2, 6));
    }

    #[test]
    fn values_are_kept_until_invalidated() {
        let cache = ReadModel::new(10);
        assert!(cache.get(&1).is_none());
        let ticket = cache.ticket();
        cache.fill(1, ticket, "one");
        assert_eq!(cache.get(&1).as_deref(), Some(&"one"));
        cache.invalidate(&1);
        assert!(cache.get(&1).is_none());
    }

    #[test]
    fn a_fill_that_raced_an_invalidation_is_dropped() {
        let cache = ReadModel::new(10);
        let ticket = cache.ticket(); // a reader starts loading key 1
        cache.invalidate(&1); // a writer changes key 1 meanwhile
        let stale = cache.fill(1, ticket, "old");
        assert_eq!(*stale, "old", "the reader still gets its value");
        assert!(cache.get(&1).is_none(), "but the cache does not keep it");

        // Other keys are not affected by that invalidation.
        cache.fill(2, ticket, "two");
        assert_eq!(cache.get(&2).as_deref(), Some(&"two"));

        let after = cache.ticket();
        cache.fill(1, after, "new");
        assert_eq!(cache.get(&1).as_deref(), Some(&"new"));
    }

    #[test]
    fn remembered_invalidations_are_bounded_and_never_let_a_stale_fill_in() {
        let cache = ReadModel::with_tracking_limit(100, 8);
        let before = cache.ticket(); // a reader starts loading key 0
        for key in 0..20 {
            cache.invalidate(&key);
            assert!(cache.tracked_invalidations() <= 8);
        }
        // Key 0's invalidation was forgotten, yet the older fill is still dropped.
        cache.fill(0, before, "stale");
        assert!(cache.get(&0).is_none());
        let after = cache.ticket();
        cache.fill(0, after, "fresh");
        assert_eq!(cache.get(&0).as_deref(), Some(&"fresh"));
    }

    #[test]
    fn invalidate_all_overtakes_every_older_fill() {
        let cache = ReadModel::new(10);
        let ticket = cache.ticket();
        cache.fill(1, ticket, 1);
        cache.invalidate_all();
        assert!(cache.is_empty());
        cache.fill(3, ticket, 3);
        assert!(cache.get(&3).is_none());
        let fresh = cache.ticket();
        cache.fill(3, fresh, 3);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn capacity_bounds_the_store() {
        let cache = ReadModel::new(2);
        for key in 0..5 {
            let ticket = cache.ticket();
            cache.fill(key, ticket, key);
        }
        assert_eq!(cache.len(), 2);
        assert!(cache.get(&4).is_some() && cache.get(&0).is_none());
    }

    #[test]
    fn get_or_load_loads_once() {
        let cache: ReadModel<u8, u8> = ReadModel::new(4);
        let mut loads = 0;
        for _ in 0..3 {
            let value = cache
                .get_or_load(&7, || {
                    loads += 1;
                    Ok::<_, ()>(49)
                })
                .unwrap();
            assert_eq!(*value, 49);
        }
        assert_eq!(loads, 1);
        assert_eq!(cache.loads(), 1, "one value read from the source");
    }

    #[test]
    fn concurrent_misses_of_one_key_load_once() {
        use std::sync::Barrier;
        let cache: ReadModel<u32, String> = ReadModel::new(10);
        let loads = Arc::new(AtomicUsize::new(0));
        let start = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (cache, loads, start) = (cache.clone(), Arc::clone(&loads), Arc::clone(&start));
                std::thread::spawn(move || {
                    start.wait();
                    cache
                        .load_once(&1, || {
                            loads.fetch_add(1, Ordering::SeqCst);
                            std::thread::sleep(Duration::from_millis(50));
                            Ok::<_, ()>("one".to_owned())
                        })
                        .map(|value| value.as_str().to_owned())
                })
            })
            .collect();
        for thread in threads {
            assert_eq!(thread.join().unwrap_or(Err(())), Ok("one".to_owned()));
        }
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_miss_after_a_write_is_never_handed_the_load_that_write_made_stale() {
        use std::sync::mpsc;
        let cache: ReadModel<u32, String> = ReadModel::new(10);
        let (started, on_start) = mpsc::channel();
        let (go, on_go) = mpsc::channel::<()>();
        let leader = {
            let cache = cache.clone();
            std::thread::spawn(move || {
                cache.load_once(&1, || {
                    let _ = started.send(());
                    let _ = on_go.recv();
                    Ok::<_, ()>("read before the write".to_owned())
                })
            })
        };
        on_start.recv().unwrap_or(());
        // The write lands while the leader reads; then another request misses.
        cache.invalidate(&1);
        let follower = {
            let cache = cache.clone();
            std::thread::spawn(move || cache.load_once(&1, || Ok::<_, ()>("read after".to_owned())))
        };
        std::thread::sleep(Duration::from_millis(50));
        let _ = go.send(());
        let led = leader
            .join()
            .unwrap_or(Err(()))
            .map(|v| v.as_str().to_owned());
        let followed = follower
            .join()
            .unwrap_or(Err(()))
            .map(|v| v.as_str().to_owned());
        assert_eq!(
            led,
            Ok("read before the write".to_owned()),
            "the leader's own read"
        );
        assert_eq!(followed, Ok("read after".to_owned()));
        assert_eq!(
            cache.get(&1).map(|v| v.as_str().to_owned()),
            Some("read after".to_owned())
        );
    }

    #[test]
    fn a_failed_load_leaves_the_waiters_to_load_themselves() {
        let cache: ReadModel<u32, String> = ReadModel::new(10);
        assert_eq!(
            cache.load_once(&1, || Err::<String, _>("down")).err(),
            Some("down")
        );
        assert!(cache.lock().flights.is_empty(), "no flight left behind");
        let value = cache.load_once(&1, || Ok::<_, &str>("up".to_owned()));
        assert_eq!(value.map(|v| v.as_str().to_owned()), Ok("up".to_owned()));
    }

    #[test]
    fn concurrent_misses_of_overlapping_keys_load_each_key_once() {
        use std::sync::{Barrier, Mutex as StdMutex};
        let cache: ReadModel<u32, String> = ReadModel::new(100);
        let asked: Arc<StdMutex<Vec<u32>>> = Arc::default();
        let start = Arc::new(Barrier::new(8));
        let threads: Vec<_> = (0..8u32)
            .map(|n| {
                let (cache, asked, start) = (cache.clone(), Arc::clone(&asked), Arc::clone(&start));
                std::thread::spawn(move || {
                    // Each thread wants 1..=4 and one key of its own.
                    let keys = [1, 2, 3, 4, 2, 100 + n];
                    start.wait();
                    cache
                        .load_many_once(&keys, |wanted| {
                            asked
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .extend(wanted);
                            std::thread::sleep(Duration::from_millis(30));
                            // Key 4 does not exist: left out.
                            Ok::<_, ()>(
                                wanted
                                    .iter()
                                    .filter(|k| **k != 4)
                                    .map(|k| (*k, format!("v{k}")))
                                    .collect(),
                            )
                        })
                        .map(|found| {
                            let mut keys: Vec<u32> = found.keys().copied().collect();
                            keys.sort_unstable();
                            keys
                        })
                })
            })
            .collect();
        for (n, thread) in threads.into_iter().enumerate() {
            let own = 100 + u32::try_from(n).unwrap_or(0);
            assert_eq!(thread.join().unwrap_or(Err(())), Ok(vec![1, 2, 3, own]));
        }
        let mut asked = asked.lock().unwrap_or_else(PoisonError::into_inner).clone();
        asked.sort_unstable();
        let existing: Vec<u32> = asked.iter().copied().filter(|k| *k != 4).collect();
        let mut once = existing.clone();
        once.dedup();
        assert_eq!(existing, once, "every existing key read once: {asked:?}");
        assert!(cache.lock().flights.is_empty(), "no flight left behind");
        assert_eq!(
            cache.get(&2).map(|v| v.as_str().to_owned()),
            Some("v2".into())
        );
    }

    #[test]
    fn a_failed_many_load_leaves_no_flight_and_a_later_one_reads_again() {
        let cache: ReadModel<u32, String> = ReadModel::new(10);
        let _held = cache.fill(1, cache.ticket(), "held".to_owned());
        let failed = cache.load_many_once(&[1, 2], |_| Err::<Vec<(u32, String)>, _>("down"));
        assert_eq!(failed.err(), Some("down"));
        assert!(cache.lock().flights.is_empty(), "no flight left behind");
        let found = cache
            .load_many_once(&[1, 2], |wanted| {
                assert_eq!(wanted, &[2], "the held key is not read");
                Ok::<_, ()>(vec![(2, "read".to_owned())])
            })
            .unwrap_or_default();
        assert_eq!(found.len(), 2);
    }

    #[test]
    fn a_many_load_overtaken_by_an_invalidation_is_not_kept() {
        let cache: ReadModel<u32, String> = ReadModel::new(10);
        let found = cache
            .load_many_once(&[1], |_| {
                // A write lands while the read is in progress.
                cache.invalidate(&1);
                Ok::<_, ()>(vec![(1, "old".to_owned())])
            })
            .unwrap_or_default();
        assert_eq!(found.len(), 1, "the reader gets its own read");
        assert!(cache.get(&1).is_none(), "but it is not kept");
    }

    #[test]
    fn a_panicking_load_leaves_no_flight_behind() {
        let cache: ReadModel<u32, String> = ReadModel::new(10);
        let one = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cache.load_once(&1, || -> Result<String, ()> { panic!("loader") })
        }));
        let many = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cache.load_many_once(&[2, 3], |_| -> Result<Vec<(u32, String)>, ()> {
                panic!("loader")
            })
        }));
        assert!(one.is_err() && many.is_err());
        assert!(
            cache.lock().flights.is_empty(),
            "a later miss does not wait for a dead load"
        );
    }
}
