//! Read models seen through a use case's handle.
//!
//! Outside a unit of work a read model serves what it holds and keeps what a miss reads: both
//! are committed state, and the events of every later commit make it stale. Inside a unit of
//! work ([`App::transaction`](crate::App::transaction)) neither holds: the transaction may
//! have written what the model has not seen yet (its events apply only at commit), and what
//! it reads may roll back. So there every read goes to the database and nothing is kept.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use agentry_cache::{ReadModel, Ticket};
use agentry_store::Uow;

pub(crate) trait Through<K, V> {
    /// The held value, unless `uow` works inside a unit of work.
    fn held(&self, uow: &Uow<'_>, key: &K) -> Option<Arc<V>>;

    /// The values of `keys`: those held, the others `load`ed together (it returns those it
    /// finds; the rest are absent) and kept, by the rules above. Outside a unit of work
    /// concurrent misses of one key load once ([`ReadModel::load_many_once`]).
    fn load_many<E>(
        &self,
        uow: &mut Uow<'_>,
        keys: &[K],
        load: impl FnMut(&mut Uow<'_>, &[K]) -> Result<Vec<(K, V)>, E>,
    ) -> Result<HashMap<K, Arc<V>>, E>;

    /// Keep `value` read after `ticket` (see [`ReadModel::fill`]), unless `uow` works inside
    /// a unit of work; returned either way.
    fn keep(&self, uow: &Uow<'_>, key: K, ticket: Ticket, value: V) -> Arc<V>;

    /// The held value, or `load`ed through `uow` and kept, by the rules above. Outside a unit
    /// of work concurrent misses of one key load once ([`ReadModel::load_once`]).
    fn load<E>(
        &self,
        uow: &mut Uow<'_>,
        key: &K,
        load: impl FnOnce(&mut Uow<'_>) -> Result<V, E>,
    ) -> Result<Arc<V>, E>;
}

impl<K: Hash + Eq + Clone + 'static, V: 'static> Through<K, V> for ReadModel<K, V> {
    fn held(&self, uow: &Uow<'_>, key: &K) -> Option<Arc<V>> {
        if uow.in_work() { None } else { self.get(key) }
    }

    fn load_many<E>(
        &self,
        uow: &mut Uow<'_>,
        keys: &[K],
        mut load: impl FnMut(&mut Uow<'_>, &[K]) -> Result<Vec<(K, V)>, E>,
    ) -> Result<HashMap<K, Arc<V>>, E> {
        if uow.in_work() {
            let mut asked = std::collections::HashSet::with_capacity(keys.len());
            let keys: Vec<K> = keys.iter().filter(|k| asked.insert(*k)).cloned().collect();
            if keys.is_empty() {
                return Ok(HashMap::new());
            }
            return Ok(load(uow, &keys)?
                .into_iter()
                .map(|(key, value)| (key, Arc::new(value)))
                .collect());
        }
        self.load_many_once(keys, |missing| load(uow, missing))
    }

    fn keep(&self, uow: &Uow<'_>, key: K, ticket: Ticket, value: V) -> Arc<V> {
        if uow.in_work() {
            Arc::new(value)
        } else {
            self.fill(key, ticket, value)
        }
    }

    fn load<E>(
        &self,
        uow: &mut Uow<'_>,
        key: &K,
        load: impl FnOnce(&mut Uow<'_>) -> Result<V, E>,
    ) -> Result<Arc<V>, E> {
        if uow.in_work() {
            return load(uow).map(Arc::new);
        }
        self.load_once(key, || load(uow))
    }
}
