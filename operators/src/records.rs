//! What the pipeline feeds into the dataflow: events flattened to one record per line or
//! movement, each already carrying its store-local business day.

use serde::{Deserialize, Serialize};
use tillflow_schemas::{Cents, Day, Id, Millis};

/// One line of an accepted sale.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SaleLineRec {
    pub store_id: Id,
    pub transaction_id: Id,
    pub line_no: u32,
    pub business_date: Day,
    pub ts: Millis,
    pub cashier_id: Id,
    pub customer_ref: Option<Id>,
    pub sku: Id,
    pub qty: i64,
    pub unit_price: Cents,
    pub discount: Cents,
    pub promo_id: Option<Id>,
}

/// One line of an accepted refund.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RefundLineRec {
    pub store_id: Id,
    pub refund_id: Id,
    pub line_index: u32,
    pub business_date: Day,
    pub ts: Millis,
    pub cashier_id: Id,
    pub original_transaction_id: Option<Id>,
    pub sku: Id,
    pub qty: i64,
    pub amount: Cents,
}

/// A completed sale cancelled by a post-void: (store_id, transaction_id).
pub type PostVoid = (Id, Id);

/// An inventory receipt with its unit cost: the cost of that (store, sku) from `ts` on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Receipt {
    pub store_id: Id,
    pub sku: Id,
    pub business_date: Day,
    pub ts: Millis,
    pub event_id: Id,
    pub unit_cost: Cents,
}

/// A product record's catalog cost. The current one per sku is the greatest
/// (`ts`, `event_id`, `unit_cost`), a missing `ts` or `event_id` ordering first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CatalogCost {
    pub sku: Id,
    pub ts: Option<Millis>,
    pub event_id: Option<Id>,
    pub unit_cost: Cents,
}

/// An inventory event: a count, or a movement with its signed effect on stock.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InventoryRec {
    pub store_id: Id,
    pub sku: Id,
    pub ts: Millis,
    pub event_id: Id,
    /// `true` for a count (`qty` is then the level counted), else a movement.
    pub is_count: bool,
    /// The level counted, or the change in stock (transfers out are negative).
    pub qty: i64,
}
