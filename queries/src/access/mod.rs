//! Who may read what: users, their scopes, and sessions that apply them in the engine.
//!
//! A user's scope is the whole chain, a region, a district or a store. Every table with a
//! `store_id` or a `district` column is read through a [`ScopedTable`], whose scan keeps the rows
//! of the scope before any operator of the query sees them, so a store manager's
//! `SELECT * FROM sku_margin` is the chain's `... WHERE store_id = 'S001'`, and no predicate,
//! join, error or `EXPLAIN` of theirs touches another store's row. A table with neither column
//! (`dead_letters`, `pipeline_stats`, `segment_profiles`, `access_log`) holds the whole chain's
//! figures and is registered for chain users only; a table of customers (`customer_segments`,
//! `dead_letters`, whose raw text may hold loyalty references) is registered only for users with
//! `pii`. What a session does not register does not exist for it: not in `information_schema`,
//! `pg_catalog` or `as_of`. The chain's catalog and promotions ([`SHARED_TABLES`]) are the same
//! for every store: every user reads them whole.
//!
//! - [`gate`]: users, TLS and the slow-down of repeated failed logins;
//! - [`scoped`]: the scoped table and its scan;
//! - [`scram`]: SCRAM-SHA-256 verifiers and the server side of the exchange;
//! - [`audit`]: `access_log`, every statement and refused login.

pub mod audit;
pub mod gate;
pub mod scoped;
pub mod scram;

use std::collections::HashSet;
use std::fmt;
use std::str::FromStr;

use arrow::datatypes::Schema;
use chrono::{DateTime, Utc};

pub use gate::{Gate, TlsFiles, User};
pub use scoped::ScopedTable;

/// The rows a user may read.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    Chain,
    Region(String),
    District(String),
    Store(String),
}

impl FromStr for Scope {
    type Err = String;

    /// `chain`, `region:R`, `district:D` or `store:S`.
    fn from_str(text: &str) -> Result<Scope, String> {
        let scope = match text.split_once(':') {
            None if text == "chain" => Scope::Chain,
            Some(("region", id)) if !id.is_empty() => Scope::Region(id.to_string()),
            Some(("district", id)) if !id.is_empty() => Scope::District(id.to_string()),
            Some(("store", id)) if !id.is_empty() => Scope::Store(id.to_string()),
            _ => return Err(format!("`{text}` is not a scope: write chain, region:R, district:D or store:S")),
        };
        Ok(scope)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Chain => f.write_str("chain"),
            Scope::Region(id) => write!(f, "region:{id}"),
            Scope::District(id) => write!(f, "district:{id}"),
            Scope::Store(id) => write!(f, "store:{id}"),
        }
    }
}

/// What one signed-in user may read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grant {
    pub user: String,
    pub scope: Scope,
    /// May read customer-level rows.
    pub pii: bool,
}

impl Grant {
    /// Everything: the grant of a server without users (loopback only).
    pub fn everything(user: &str) -> Grant {
        Grant { user: user.to_string(), scope: Scope::Chain, pii: true }
    }
}

/// The columns a scope is applied by.
pub const STORE_COLUMN: &str = "store_id";
pub const DISTRICT_COLUMN: &str = "district";

/// Tables whose rows are customers', or may quote them: readable with `pii` only.
const CUSTOMER_TABLES: &[&str] = &["customer_segments", "dead_letters"];
/// Columns naming a customer: a table holding one is customer-level.
const CUSTOMER_COLUMNS: &[&str] = &["customer_id", "customer_ref"];

/// How a table is read under a grant.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Visibility {
    /// Not at all: the session does not register it.
    Hidden,
    /// Every row.
    Whole,
    /// The rows whose `column` is one of the scope's stores or districts.
    Rows { column: &'static str },
}

/// How the table `name` with `schema` is read under `grant`.
/// Reference tables every user reads whole: the chain's catalog and promotions are the same for
/// every store.
pub const SHARED_TABLES: [&str; 2] = ["products", "promotions"];

pub fn visibility(name: &str, schema: &Schema, grant: &Grant) -> Visibility {
    let has = |column: &str| schema.column_with_name(column).is_some();
    let customers = CUSTOMER_TABLES.contains(&name) || CUSTOMER_COLUMNS.iter().any(|c| has(c));
    if customers && !grant.pii {
        return Visibility::Hidden;
    }
    match &grant.scope {
        Scope::Chain => Visibility::Whole,
        _ if SHARED_TABLES.contains(&name) => Visibility::Whole,
        Scope::Store(_) if has(STORE_COLUMN) => Visibility::Rows { column: STORE_COLUMN },
        Scope::Region(_) | Scope::District(_) if has(DISTRICT_COLUMN) => Visibility::Rows { column: DISTRICT_COLUMN },
        Scope::Region(_) | Scope::District(_) if has(STORE_COLUMN) => Visibility::Rows { column: STORE_COLUMN },
        _ => Visibility::Hidden,
    }
}

/// The stores and districts a scope covers at one instant.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Covered {
    pub stores: HashSet<String>,
    pub districts: HashSet<String>,
}

impl Covered {
    /// The values of `column` the scope keeps.
    pub fn values(&self, column: &str) -> &HashSet<String> {
        if column == DISTRICT_COLUMN { &self.districts } else { &self.stores }
    }
}

/// One store's place in the chain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Placement {
    pub store_id: String,
    pub district: String,
    pub region: String,
}

/// Where stores are: the chain's current `stores` table, as of a query's start.
pub trait Directory: Send + Sync + fmt::Debug {
    fn placements(&self, at: Option<DateTime<Utc>>) -> Vec<Placement>;
}

/// The stores and districts `scope` covers among `placements`. A store scope covers its store
/// and no district (so no district-level row); a district, its stores; a region, its districts
/// and their stores.
pub fn covered(scope: &Scope, placements: &[Placement]) -> Covered {
    let mut covered = Covered::default();
    match scope {
        Scope::Store(store) => {
            covered.stores.insert(store.clone());
        }
        Scope::District(district) => {
            covered.districts.insert(district.clone());
            covered.stores.extend(placements.iter().filter(|p| &p.district == district).map(|p| p.store_id.clone()));
        }
        Scope::Region(region) => {
            for p in placements.iter().filter(|p| &p.region == region) {
                covered.stores.insert(p.store_id.clone());
                covered.districts.insert(p.district.clone());
            }
        }
        Scope::Chain => {
            for p in placements {
                covered.stores.insert(p.store_id.clone());
                covered.districts.insert(p.district.clone());
            }
        }
    }
    covered
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field};

    use super::*;

    fn schema(columns: &[&str]) -> Schema {
        Schema::new(columns.iter().map(|c| Field::new(*c, DataType::Utf8, true)).collect::<Vec<_>>())
    }

    fn grant(scope: &str, pii: bool) -> Grant {
        Grant { user: "u".into(), scope: scope.parse().unwrap(), pii }
    }

    #[test]
    fn scopes_parse_and_print_alike() {
        for text in ["chain", "region:West", "district:D1", "store:S001"] {
            assert_eq!(text.parse::<Scope>().unwrap().to_string(), text);
        }
        for bad in ["", "store:", "shop:S1", "Chain", "district"] {
            assert!(bad.parse::<Scope>().is_err(), "{bad}");
        }
    }

    #[test]
    fn a_table_is_read_by_its_store_or_district_column_or_not_at_all() {
        let margins = schema(&["store_id", "sku"]);
        let exceptions = schema(&["exception_id", "district", "store_id"]);
        let stats = schema(&["epoch", "events_in"]);
        let customers = schema(&["customer_id", "segment_id"]);
        let store = grant("store:S1", false);
        let district = grant("district:D1", false);
        assert_eq!(visibility("sku_margin", &margins, &store), Visibility::Rows { column: STORE_COLUMN });
        assert_eq!(visibility("sku_margin", &margins, &district), Visibility::Rows { column: STORE_COLUMN });
        assert_eq!(visibility("exceptions", &exceptions, &store), Visibility::Rows { column: STORE_COLUMN });
        assert_eq!(visibility("exceptions", &exceptions, &district), Visibility::Rows { column: DISTRICT_COLUMN });
        assert_eq!(visibility("pipeline_stats", &stats, &district), Visibility::Hidden);
        assert_eq!(visibility("pipeline_stats", &stats, &grant("chain", false)), Visibility::Whole);
        assert_eq!(visibility("customer_segments", &customers, &grant("chain", false)), Visibility::Hidden);
        assert_eq!(visibility("customer_segments", &customers, &grant("chain", true)), Visibility::Whole);
        assert_eq!(visibility("customer_segments", &customers, &grant("store:S1", true)), Visibility::Hidden);
        assert_eq!(visibility("dead_letters", &schema(&["raw"]), &grant("chain", false)), Visibility::Hidden);
        let catalog = schema(&["sku", "unit_cost"]);
        assert_eq!(visibility("products", &catalog, &store), Visibility::Whole, "the catalog is every store's");
        assert_eq!(visibility("promotions", &schema(&["promo_id"]), &district), Visibility::Whole);
    }

    #[test]
    fn a_region_covers_its_districts_and_their_stores() {
        let place = |s: &str, d: &str, r: &str| Placement { store_id: s.into(), district: d.into(), region: r.into() };
        let chain =
            [place("S1", "D1", "R1"), place("S2", "D1", "R1"), place("S3", "D2", "R1"), place("S4", "D3", "R2")];
        let set = |items: &[&str]| items.iter().map(|s| s.to_string()).collect::<HashSet<_>>();
        let region = covered(&Scope::Region("R1".into()), &chain);
        assert_eq!((region.stores, region.districts), (set(&["S1", "S2", "S3"]), set(&["D1", "D2"])));
        let district = covered(&Scope::District("D1".into()), &chain);
        assert_eq!((district.stores, district.districts), (set(&["S1", "S2"]), set(&["D1"])));
        let store = covered(&Scope::Store("S9".into()), &chain);
        assert_eq!((store.stores, store.districts), (set(&["S9"]), set(&[])));
    }
}
