//! Faults around storage: a failed put is retried; a persist that keeps failing says why and
//! leaves every table at its last whole version; a torn or corrupt ingest log is cut back to its
//! last whole entry.

use std::fmt;
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use async_trait::async_trait;
use deltalake::logstore::object_store::memory::InMemory;
use deltalake::logstore::object_store::path::Path;
use deltalake::logstore::object_store::{
    self, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult,
};
use deltalake::logstore::{LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig};
use futures::TryStreamExt;
use futures::stream::BoxStream;
use tillflow::journal::{self, Entry, Journal, Place};
use url::Url;

/// An in-memory object store whose next `failing` writes to a Delta log fail, as on a full disk:
/// the data files of a commit get written, the commit does not.
#[derive(Debug)]
struct Faulty {
    inner: InMemory,
    failing: AtomicUsize,
}

impl Faulty {
    fn fault(&self, location: &Path) -> object_store::Result<()> {
        if !location.as_ref().contains("_delta_log") {
            return Ok(());
        }
        match self.failing.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)) {
            Ok(_) => Err(object_store::Error::Generic { store: "faulty", source: "No space left on device".into() }),
            Err(_) => Ok(()),
        }
    }
}

impl fmt::Display for Faulty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Faulty({})", self.inner)
    }
}

#[async_trait]
impl ObjectStore for Faulty {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> object_store::Result<PutResult> {
        self.fault(location)?;
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        self.fault(location)?;
        self.inner.put_multipart_opts(location, opts).await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Path>>,
    ) -> BoxStream<'static, object_store::Result<Path>> {
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> object_store::Result<()> {
        self.fault(to)?;
        self.inner.copy_opts(from, to, options).await
    }
}

/// Serves `faulty://` URLs from one [`Faulty`] store.
struct FaultyFactory(Arc<Faulty>);

impl ObjectStoreFactory for FaultyFactory {
    fn parse_url_opts(&self, url: &Url, _: &StorageConfig) -> deltalake::DeltaResult<(ObjectStoreRef, Path)> {
        Ok((self.0.clone(), Path::from_url_path(url.path())?))
    }
}

impl LogStoreFactory for FaultyFactory {
    fn with_options(
        &self,
        prefixed: ObjectStoreRef,
        root: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> deltalake::DeltaResult<Arc<dyn LogStore>> {
        Ok(deltalake::logstore::default_logstore(prefixed, root, location, options))
    }
}

fn faulty_store() -> (Arc<Faulty>, Url) {
    let store = Arc::new(Faulty { inner: InMemory::new(), failing: AtomicUsize::new(0) });
    let scheme = Url::parse("faulty://").unwrap();
    deltalake::logstore::object_store_factories().insert(scheme.clone(), Arc::new(FaultyFactory(store.clone())));
    deltalake::logstore::logstore_factories().insert(scheme, Arc::new(FaultyFactory(store.clone())));
    (store, Url::parse("faulty://bucket/views/").unwrap())
}

fn count(runtime: &tokio::runtime::Runtime, root: &Url, sql: &str) -> i64 {
    runtime.block_on(async {
        let ctx = tillflow::sql::open(root).await.unwrap();
        let batches = ctx.sql(sql).await.unwrap().collect().await.unwrap();
        let column = batches[0].column(0).as_any().downcast_ref::<arrow::array::Int64Array>().unwrap().clone();
        column.value(0)
    })
}

#[test]
fn failed_puts_are_retried_and_a_failing_persist_leaves_the_last_whole_version() {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (store, root) = faulty_store();
    let dir = tempfile::tempdir().unwrap();
    let chain = dir.path().join("chain");
    crate::support::run_ok(&["generate", "--out", &chain.display().to_string(), "--stores", "2", "--days", "2"]);
    let chain_of = |stores: &str| {
        let chain = dir.path().join(format!("chain{stores}"));
        crate::support::run_ok(&["generate", "--out", &chain.display().to_string(), "--stores", stores, "--days", "2"]);
        tillflow::run::RunConfig::new(vec![chain], String::new(), 2, tillflow::pseudonyms::Pseudonyms::known())
    };
    let (small, large) = (chain_of("2"), chain_of("3"));
    let rows = "SELECT COUNT(*) FROM sku_margin";
    let persist = |config: &tillflow::run::RunConfig| {
        let output = tillflow::run::compute(config).unwrap();
        tillflow::run::write(output, root.clone(), Instant::now(), &runtime)
    };

    // Two failed commits: the retries get past them.
    store.failing.store(2, Ordering::SeqCst);
    let summary = persist(&small).unwrap();
    let written = summary.views.iter().find(|(name, _)| *name == "sku_margin").unwrap().1 as i64;
    assert!(written > 0);
    assert_eq!(count(&runtime, &root, rows), written);
    assert_eq!(store.failing.load(Ordering::SeqCst), 0, "both faults were hit");

    // Storage that keeps failing: a clear error; data files were written but no commit, so every
    // table still reads as its last whole version.
    store.failing.store(usize::MAX, Ordering::SeqCst);
    let message = format!("{:#}", persist(&large).unwrap_err());
    assert!(message.contains("No space left on device") && message.contains("writing view"), "{message}");
    store.failing.store(0, Ordering::SeqCst);
    assert_eq!(count(&runtime, &root, rows), written);

    // Once storage works again, the next persist goes through.
    let summary = persist(&large).unwrap();
    let larger = summary.views.iter().find(|(name, _)| *name == "sku_margin").unwrap().1 as i64;
    assert!(larger > written);
    assert_eq!(count(&runtime, &root, rows), larger);
}

fn duplicate(position: u64) -> Entry {
    Entry::Duplicate { source: "http".into(), position, epoch: 7 }
}

#[test]
fn a_torn_or_corrupt_log_tail_is_cut_back_to_the_last_whole_entry() {
    let dir = tempfile::tempdir().unwrap();
    let (mut log, logged) = Journal::open(&Place::Folder(dir.path().to_path_buf())).unwrap();
    assert!(logged.is_empty());
    log.append(&[duplicate(1), duplicate(2)]).unwrap();
    log.append(&[duplicate(3)]).unwrap();
    drop(log);
    let segment = dir.path().join("00000000.log");

    // A crash in the middle of a write: a header promising more than was written.
    let whole = std::fs::metadata(&segment).unwrap().len();
    let mut file = std::fs::OpenOptions::new().append(true).open(&segment).unwrap();
    file.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, b'{', b'"']).unwrap();
    drop(file);
    assert_eq!(
        journal::read(&Place::Folder(dir.path().to_path_buf())).unwrap(),
        vec![duplicate(1), duplicate(2), duplicate(3)]
    );
    let (mut log, logged) = Journal::open(&Place::Folder(dir.path().to_path_buf())).unwrap();
    assert_eq!(logged, vec![duplicate(1), duplicate(2), duplicate(3)]);
    assert_eq!(std::fs::metadata(&segment).unwrap().len(), whole, "the torn tail is cut off");
    log.append(&[duplicate(4)]).unwrap();
    drop(log);

    // A whole-looking entry whose body does not match its checksum ends the log there.
    let mut bytes = std::fs::read(dir.path().join("00000001.log")).unwrap();
    let last = bytes.len() - 2;
    bytes[last] ^= 0x20;
    std::fs::write(dir.path().join("00000001.log"), &bytes).unwrap();
    let (_, logged) = Journal::open(&Place::Folder(dir.path().to_path_buf())).unwrap();
    assert_eq!(logged, vec![duplicate(1), duplicate(2), duplicate(3)]);
    assert_eq!(std::fs::metadata(dir.path().join("00000001.log")).unwrap().len(), 0);
}

#[test]
fn a_log_in_a_bucket_recovers_whole_checkpoints_and_refuses_a_second_writer() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let place = Place::Bucket {
        store: Arc::clone(&store),
        prefix: Path::from("views/_ingest_log"),
        url: "memory:///views/_ingest_log/".into(),
        runtime: runtime.handle().clone(),
    };
    let objects = || {
        let listed = runtime.block_on(store.list(None).map_ok(|m| m.location.to_string()).try_collect::<Vec<_>>());
        let mut names = listed.unwrap();
        names.sort();
        names
    };

    let (mut first, logged) = Journal::open(&place).unwrap();
    assert!(logged.is_empty());
    assert_eq!(objects(), ["views/_ingest_log/writer"], "opening writes only the writer's mark");
    first.append(&[duplicate(1), duplicate(2)]).unwrap();
    first.append(&[duplicate(3)]).unwrap();
    let written = ["views/_ingest_log/00000000.log", "views/_ingest_log/00000001.log", "views/_ingest_log/writer"];
    assert_eq!(objects(), written, "one object per append");

    // A second process opening the same log recovers what the first acknowledged and takes the
    // log over: the first one's next write fails (so it is not acknowledged), whether or not
    // the second has written yet.
    let (mut second, recovered) = Journal::open(&place).unwrap();
    assert_eq!(recovered, vec![duplicate(1), duplicate(2), duplicate(3)]);
    let refused = first.append(&[duplicate(5)]).unwrap_err();
    assert_eq!(refused.kind(), std::io::ErrorKind::AlreadyExists);
    assert!(refused.to_string().contains("two tillflow runs share this ingest log"), "{refused}");
    second.append(&[duplicate(4)]).unwrap();
    assert!(first.append(&[duplicate(5)]).is_err());
    assert!(first.checkpoint(&[duplicate(5)]).is_err(), "nor may it checkpoint");
    assert_eq!(journal::read(&place).unwrap(), vec![duplicate(1), duplicate(2), duplicate(3), duplicate(4)]);

    // A checkpoint stands for every segment before it; they are removed, the log goes on after
    // it with no number skipped.
    second.checkpoint(&[duplicate(1), duplicate(4)]).unwrap();
    second.append(&[duplicate(6)]).unwrap();
    let kept =
        ["views/_ingest_log/00000003.log", "views/_ingest_log/checkpoint-00000003.log", "views/_ingest_log/writer"];
    assert_eq!(objects(), kept);
    let (_, recovered) = Journal::open(&place).unwrap();
    assert_eq!(recovered, vec![duplicate(1), duplicate(4), duplicate(6)]);

    // An erasure's rewrite replaces the objects whose entries change, in place.
    let changed = journal::rewrite(&place, |e| match e {
        Entry::Duplicate { position: 4, .. } => duplicate(40),
        other => other,
    })
    .unwrap();
    assert_eq!(changed, 1);
    assert_eq!(journal::read(&place).unwrap(), vec![duplicate(1), duplicate(40), duplicate(6)]);
}
