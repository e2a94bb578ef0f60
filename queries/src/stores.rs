//! Object stores for `--out`: a local folder, or a bucket on S3 (or a server that speaks its API),
//! Google Cloud Storage or Azure Blob Storage, configured the way their own tools are — from the
//! environment (`AWS_ACCESS_KEY_ID`, `AWS_REGION`, `AWS_ENDPOINT_URL`, `AWS_ALLOW_HTTP`, …;
//! `GOOGLE_SERVICE_ACCOUNT`, …; `AZURE_STORAGE_ACCOUNT_NAME`, …).
//!
//! Delta commits need a put that fails when the object exists: S3 gives one (`If-None-Match`),
//! and so do the others, so the default log store commits safely on every one of them.

use std::sync::{Arc, Once};

use deltalake::DeltaResult;
use deltalake::logstore::{
    LogStore, LogStoreFactory, ObjectStoreFactory, ObjectStoreRef, StorageConfig, default_logstore, logstore_factories,
    object_store_factories,
};
use object_store::aws::AmazonS3Builder;
use object_store::azure::MicrosoftAzureBuilder;
use object_store::gcp::GoogleCloudStorageBuilder;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreScheme};
use url::Url;

/// The URL schemes of buckets, each read through its store's builder.
pub const BUCKET_SCHEMES: &[&str] = &["s3", "s3a", "gs", "az", "abfs", "abfss"];

/// The store holding `url` and the path of `url` in it. Options given (Delta's storage options)
/// override the environment's.
pub fn open(url: &Url, options: &StorageConfig) -> object_store::Result<(Arc<dyn ObjectStore>, Path)> {
    /// A store from its builder: the environment, the URL, then the options it knows.
    macro_rules! built {
        ($builder:ty) => {{
            let mut builder = <$builder>::from_env().with_url(url.as_str());
            for (key, value) in &options.raw {
                if let Ok(key) = key.to_ascii_lowercase().parse() {
                    builder = builder.with_config(key, value);
                }
            }
            Arc::new(builder.build()?) as Arc<dyn ObjectStore>
        }};
    }
    let (scheme, path) = ObjectStoreScheme::parse(url)?;
    let store = match scheme {
        ObjectStoreScheme::AmazonS3 => built!(AmazonS3Builder),
        ObjectStoreScheme::GoogleCloudStorage => built!(GoogleCloudStorageBuilder),
        ObjectStoreScheme::MicrosoftAzure => built!(MicrosoftAzureBuilder),
        _ => Arc::from(object_store::parse_url(url)?.0),
    };
    Ok((store, path))
}

/// Builds bucket stores for Delta tables.
struct Buckets;

impl ObjectStoreFactory for Buckets {
    fn parse_url_opts(&self, url: &Url, options: &StorageConfig) -> DeltaResult<(ObjectStoreRef, Path)> {
        Ok(open(url, options)?)
    }
}

impl LogStoreFactory for Buckets {
    fn with_options(
        &self,
        prefixed_store: ObjectStoreRef,
        root_store: ObjectStoreRef,
        location: &Url,
        options: &StorageConfig,
    ) -> DeltaResult<Arc<dyn LogStore>> {
        Ok(default_logstore(prefixed_store, root_store, location, options))
    }
}

/// Lets Delta tables live in buckets (once per process; every opening of a root URL calls it).
pub fn register() {
    static REGISTERED: Once = Once::new();
    REGISTERED.call_once(|| {
        for scheme in BUCKET_SCHEMES {
            let url = Url::parse(&format!("{scheme}://")).expect("a scheme is a URL");
            object_store_factories().insert(url.clone(), Arc::new(Buckets));
            logstore_factories().insert(url, Arc::new(Buckets));
        }
    });
}

/// Deletes every object under `url` in its bucket (a table and all its versions).
pub async fn remove_all(url: &Url) -> object_store::Result<()> {
    use futures::{StreamExt, TryStreamExt};
    let (store, prefix) = open(url, &StorageConfig::default())?;
    let listed = store.list(Some(&prefix)).map_ok(|meta| meta.location).boxed();
    store.delete_stream(listed).try_collect::<Vec<_>>().await?;
    Ok(())
}
