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

/// The lines of one accepted sale (never empty: a sale has at least one line).
pub type SaleLines = Vec<SaleLineRec>;

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
    pub department: Id,
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

/// The header of an accepted sale: who rang it, when, its totals and how it was paid.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TransactionRec {
    pub store_id: Id,
    pub transaction_id: Id,
    pub business_date: Day,
    /// The store-local hour of day, 0..=23.
    pub hour: u8,
    pub ts: Millis,
    pub cashier_id: Id,
    pub customer_ref: Option<Id>,
    /// Σ qty over the lines.
    pub items: i64,
    /// Σ qty × unit_price over the lines.
    pub gross: Cents,
    /// Σ discount over the lines.
    pub discount: Cents,
    /// Σ discount over the lines without a promotion.
    pub manual_discount: Cents,
    /// Σ of the tenders.
    pub tendered: Cents,
    pub paid_by_card: bool,
    pub paid_in_cash: bool,
}

impl TransactionRec {
    pub fn net(&self) -> Cents {
        Cents(self.gross.0 - self.discount.0)
    }
}

/// The header of an accepted refund.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RefundRec {
    pub store_id: Id,
    pub refund_id: Id,
    pub business_date: Day,
    pub hour: u8,
    pub ts: Millis,
    pub cashier_id: Id,
    pub original_transaction_id: Option<Id>,
    pub in_cash: bool,
    /// Σ amount over the lines.
    pub amount: Cents,
}

/// An accepted void: a post-void cancels a completed sale; a line void is an audit record.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VoidRec {
    pub store_id: Id,
    pub transaction_id: Id,
    pub event_id: Id,
    pub business_date: Day,
    pub ts: Millis,
    pub cashier_id: Id,
    pub post: bool,
    /// The lines removed (line voids).
    pub lines: i64,
}

/// A clock-in or clock-out, with the store's time zone name to split shifts into local hours.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ShiftRec {
    pub store_id: Id,
    pub staff_id: Id,
    pub ts: Millis,
    pub event_id: Id,
    pub clock_in: bool,
    pub timezone: Id,
}

/// A store record; the current one per store is the greatest (`ts`, `event_id`), missing first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StoreRec {
    pub store_id: Id,
    pub ts: Option<Millis>,
    pub event_id: Option<Id>,
    pub district: Id,
    pub timezone: Id,
}

/// A loyalty link: the current one per `customer_ref` (greatest `ts`, then `event_id`) decides
/// which customer, if any, that card belongs to; without consent, none.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LinkRec {
    pub customer_ref: Id,
    pub ts: Millis,
    pub event_id: Id,
    pub consent: bool,
    pub customer_id: Id,
}
