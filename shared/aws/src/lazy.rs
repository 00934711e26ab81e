//! An SDK client built on first use, so a cold start pays only for the services its first request
//! touches (building a client parses its service's endpoint rules and partitions: ~0.3 ms each).

use std::sync::{Arc, OnceLock};

/// A client of type `C`, built by `make` the first time [`LazyClient::get`] is called, then shared
/// by every clone. Cheap to clone.
#[derive(Clone)]
pub(crate) struct LazyClient<C> {
    cell: Arc<OnceLock<C>>,
    make: Arc<dyn Fn() -> C + Send + Sync>,
}

impl<C: Clone + Send + Sync + 'static> LazyClient<C> {
    /// Built by `make` on first use.
    pub(crate) fn new(make: impl Fn() -> C + Send + Sync + 'static) -> Self {
        LazyClient {
            cell: Arc::new(OnceLock::new()),
            make: Arc::new(make),
        }
    }

    /// An existing client.
    pub(crate) fn ready(client: C) -> Self {
        let cell = Arc::new(OnceLock::from(client.clone()));
        LazyClient {
            cell,
            make: Arc::new(move || client.clone()),
        }
    }

    pub(crate) fn get(&self) -> &C {
        self.cell.get_or_init(|| (self.make)())
    }

    /// Whether the client has been built.
    pub(crate) fn is_built(&self) -> bool {
        self.cell.get().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn builds_once_on_first_use_and_clones_share_it() {
        let built = Arc::new(AtomicUsize::new(0));
        let counter = built.clone();
        let lazy = LazyClient::new(move || {
            counter.fetch_add(1, Ordering::SeqCst);
            String::from("client")
        });
        let other = lazy.clone();
        assert_eq!(built.load(Ordering::SeqCst), 0, "nothing built before use");
        assert!(!lazy.is_built());
        assert_eq!(other.get(), "client");
        assert_eq!(lazy.get(), "client");
        assert_eq!(built.load(Ordering::SeqCst), 1);
        assert!(lazy.is_built() && other.is_built());
        assert_eq!(LazyClient::ready(7u8).get(), &7);
    }
}
