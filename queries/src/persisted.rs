//! The persisted views: Delta tables under one root URL, one folder per view.

use std::sync::Arc;

use datafusion::prelude::{SessionConfig, SessionContext};
use url::Url;

use crate::{Error, Result, functions};

/// The object stores this build can write to and read from: a folder, memory (tests) and the
/// buckets of [`crate::stores`].
pub fn supported(scheme: &str) -> bool {
    ["file", "memory"].contains(&scheme) || crate::stores::BUCKET_SCHEMES.contains(&scheme)
}

/// Turns `--out` (a folder, relative or absolute, or any object store URL) into a URL ending in `/`.
pub fn root_url(out: &str) -> Result<Url> {
    let url = if out.contains("://") {
        Url::parse(out).map_err(|_| Error::BadUrl(out.to_string()))?
    } else {
        let path = std::path::absolute(out).map_err(|_| Error::BadUrl(out.to_string()))?;
        Url::from_directory_path(&path).map_err(|_| Error::BadUrl(out.to_string()))?
    };
    if !supported(url.scheme()) {
        return Err(Error::UnsupportedScheme(url.scheme().to_string()));
    }
    crate::stores::register();
    let mut url = url;
    if !url.path().ends_with('/') {
        url.set_path(&format!("{}/", url.path()));
    }
    Ok(url)
}

/// The URL of one view's table under the root.
pub fn table_url(root: &Url, view: &str) -> Result<Url> {
    root.join(&format!("{view}/")).map_err(|_| Error::BadUrl(root.to_string()))
}

/// A session with every view persisted under `root` registered by its name, plus tillflow's functions.
/// Returns the session and the names of the views found.
pub async fn session(root: &Url, views: &[&str]) -> Result<(SessionContext, Vec<String>)> {
    let ctx = SessionContext::new_with_config(SessionConfig::new().with_information_schema(true));
    functions::register(&ctx);
    let mut found = Vec::new();
    for view in views {
        let url = table_url(root, view)?;
        let missing_folder = url.scheme() == "file" && url.to_file_path().is_ok_and(|p| !p.join("_delta_log").is_dir());
        if missing_folder {
            continue;
        }
        let table = match deltalake::open_table(url).await {
            Ok(table) => table,
            Err(deltalake::DeltaTableError::NotATable(_))
            | Err(deltalake::DeltaTableError::InvalidTableLocation(_)) => continue,
            Err(e) => return Err(e.into()),
        };
        table.update_datafusion_session(&ctx.state())?;
        ctx.register_table(*view, Arc::clone(&table.table_provider().await?))?;
        found.push(view.to_string());
    }
    if found.is_empty() {
        return Err(Error::NothingPersisted(root.to_string()));
    }
    Ok((ctx, found))
}
