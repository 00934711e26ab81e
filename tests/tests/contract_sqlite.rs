//! The store contract on the SQLite store, in memory and in a file (WAL, as `pulso` runs it).

mod in_memory {
    async fn store() -> pulso_local::SqliteStore {
        pulso_local::SqliteStore::in_memory().expect("in-memory store")
    }

    pulso_tests::contract_suite!(store);
}

mod file_backed {
    use std::path::PathBuf;
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// This run's directory under cargo's test scratch space. A store must outlive its case, so
    /// files stay until the next run, which removes the previous runs' directories first.
    fn run_dir() -> &'static PathBuf {
        static DIR: OnceLock<PathBuf> = OnceLock::new();
        DIR.get_or_init(|| {
            let root = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("contract-sqlite");
            let _ = std::fs::remove_dir_all(&root);
            let dir = root.join(std::process::id().to_string());
            std::fs::create_dir_all(&dir).expect("scratch dir");
            dir
        })
    }

    async fn store() -> pulso_local::SqliteStore {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        pulso_local::SqliteStore::open(run_dir().join(format!("case-{n}.db"))).expect("file store")
    }

    pulso_tests::contract_suite!(store);
}
