//! The DataFusion side of tillflow.
//!
//! - [`access`]: users, scopes applied in every scan, TLS, SCRAM and the access log;
//! - [`reference`]: every view's reference definition (`queries/*.sql`) run over raw events;
//! - [`persisted`]: the persisted Delta tables of the views, registered by view name;
//! - [`functions`]: the SQL functions both need (`business_date`);
//! - [`live`]: the live views, one consistent snapshot per epoch;
//! - [`as_of`]: earlier persisted states (`as_of('view', 'epoch', N)`);
//! - [`pg`], [`flight`]: the Postgres wire and Arrow Flight SQL servers;
//! - [`stores`]: buckets (S3, GCS, Azure) for `--out`;
//! - [`comments`]: every view's and column's description (docs/views.md) in `pg_catalog`.

pub mod access;
pub mod as_of;
pub mod comments;
pub mod flight;
pub mod functions;
pub mod live;
pub mod persisted;
pub mod pg;
pub mod reference;
pub mod stores;

use thiserror::Error;

#[derive(Debug, Error)]
pub enum Error {
    #[error(transparent)]
    DataFusion(#[from] datafusion::error::DataFusionError),
    #[error(transparent)]
    Arrow(#[from] arrow::error::ArrowError),
    #[error(transparent)]
    Delta(#[from] deltalake::DeltaTableError),
    #[error(
        "`{0}` is not a folder or object store URL (e.g. ./tillflow-data, file:///data/tillflow, s3://bucket/tillflow)"
    )]
    BadUrl(String),
    #[error("tillflow stores views in a folder or a bucket (s3://, gs://, az://), not `{0}://` URLs")]
    UnsupportedScheme(String),
    #[error("no views are persisted under {0}: run `tillflow run --input DIR --out {0}` first")]
    NothingPersisted(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The reference SQL of every view that has one, by view name; a view may use those before it.
pub const REFERENCE_SQL: &[(&str, &str)] = &[
    ("stores", include_str!("../stores.sql")),
    ("products", include_str!("../products.sql")),
    ("promotions", include_str!("../promotions.sql")),
    ("sku_margin", include_str!("../sku_margin.sql")),
    ("inventory_position", include_str!("../inventory_position.sql")),
    ("rule_breaks", include_str!("../rule_breaks.sql")),
    ("refund_void_anomalies", include_str!("../refund_void_anomalies.sql")),
    ("register_anomalies", include_str!("../register_anomalies.sql")),
    ("labor_demand", include_str!("../labor_demand.sql")),
    // read `sku_margin` (and `products`)
    ("store_daily", include_str!("../store_daily.sql")),
    ("category_daily", include_str!("../category_daily.sql")),
    ("basket_affinity", include_str!("../basket_affinity.sql")),
    // read `promotions` and `products`; the summary reads `promotion_performance`
    ("promotion_performance", include_str!("../promotion_performance.sql")),
    ("promotion_summary", include_str!("../promotion_summary.sql")),
    // read `inventory_position`, `products` and `promotions`; the suggestions read `replenishment`
    ("replenishment", include_str!("../replenishment.sql")),
    ("purchase_suggestions", include_str!("../purchase_suggestions.sql")),
    // reads the views above and `current_stores`
    ("exceptions", include_str!("../exceptions.sql")),
];
