//! What the pipeline feeds into the dataflow: events flattened to compact records, each already
//! carrying its store-local business day. Dimensions are interned [`Id`]s and transactions and
//! loyalty cards [`Key`]s, so records are compared and moved as integers.

use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use tillflow_schemas::time::{local_day, parse_tz};
use tillflow_schemas::{Cents, Day, Id, Key, Millis, Supply, TenderKind, Text};

/// The lines of a sale or refund, shared by every copy of their record: a collection read by
/// several views is copied once for each, and each copy then costs a pointer, not the lines.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lines<T>(Arc<[T]>);

impl<T> std::ops::Deref for Lines<T> {
    type Target = [T];

    fn deref(&self) -> &[T] {
        &self.0
    }
}

impl<T> FromIterator<T> for Lines<T> {
    fn from_iter<I: IntoIterator<Item = T>>(items: I) -> Lines<T> {
        Lines(items.into_iter().collect())
    }
}

impl<T: Clone> IntoIterator for Lines<T> {
    type Item = T;
    type IntoIter = LinesIter<T>;

    fn into_iter(self) -> LinesIter<T> {
        LinesIter { lines: self.0, next: 0 }
    }
}

/// The lines of a [`Lines`], each copied out.
pub struct LinesIter<T> {
    lines: Arc<[T]>,
    next: usize,
}

impl<T: Clone> Iterator for LinesIter<T> {
    type Item = T;

    fn next(&mut self) -> Option<T> {
        let line = self.lines.get(self.next).cloned();
        self.next += 1;
        line
    }
}

impl<T: Serialize> Serialize for Lines<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Lines<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Lines<T>, D::Error> {
        Vec::deserialize(deserializer).map(|lines| Lines(lines.into()))
    }
}

/// One accepted sale, with its lines: post-voids are matched per sale, not per line.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct SaleRec {
    pub store_id: Id,
    pub transaction: Key,
    pub business_date: Day,
    /// The store-local hour of day, 0..=23.
    pub hour: u8,
    pub ts: Millis,
    pub register_id: Id,
    pub cashier_id: Id,
    /// The loyalty card presented, if any.
    pub card: Option<Key>,
    /// How it was paid (possibly in several tenders, possibly none recorded).
    pub tenders: Lines<TenderRec>,
    /// Never empty.
    pub lines: Lines<LineRec>,
}

/// A tender of a sale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct TenderRec {
    pub kind: TenderKind,
    pub amount: Cents,
}

/// A line of a sale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LineRec {
    pub sku: Id,
    pub qty: i64,
    pub unit_price: Cents,
    /// The line's total discount.
    pub discount: Cents,
    pub promo_id: Option<Id>,
}

impl LineRec {
    /// qty × unit_price.
    pub fn gross(&self) -> i64 {
        self.qty * self.unit_price.0
    }

    /// qty × unit_price − discount.
    pub fn net(&self) -> i64 {
        self.gross() - self.discount.0
    }
}

impl SaleRec {
    /// Σ of the tenders.
    pub fn tendered(&self) -> Cents {
        Cents(self.tenders.iter().map(|t| t.amount.0).sum())
    }

    /// Whether a tender of `kind` paid a non-zero amount.
    pub fn paid_by(&self, kind: TenderKind) -> bool {
        self.tenders.iter().any(|t| t.kind == kind && t.amount.0 != 0)
    }

    /// Σ qty over the lines.
    pub fn items(&self) -> i64 {
        self.lines.iter().map(|l| l.qty).sum()
    }

    /// Σ qty × unit_price over the lines.
    pub fn gross(&self) -> Cents {
        Cents(self.lines.iter().map(LineRec::gross).sum())
    }

    /// Σ discount over the lines.
    pub fn discount(&self) -> Cents {
        Cents(self.lines.iter().map(|l| l.discount.0).sum())
    }

    /// Σ discount over the lines without a promotion: the cashier's own.
    pub fn manual_discount(&self) -> Cents {
        Cents(self.lines.iter().filter(|l| l.promo_id.is_none()).map(|l| l.discount.0).sum())
    }

    /// Gross less discounts.
    pub fn net(&self) -> Cents {
        Cents(self.lines.iter().map(LineRec::net).sum())
    }
}

/// One accepted refund, with its lines.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RefundRec {
    pub store_id: Id,
    pub refund_id: Text,
    pub business_date: Day,
    pub hour: u8,
    pub ts: Millis,
    pub register_id: Id,
    pub cashier_id: Id,
    /// The sale it cites, as a join key and as text; `None` for a refund without receipt.
    pub original: Option<(Key, Text)>,
    /// How the money went back.
    pub tender_kind: TenderKind,
    /// Never empty.
    pub lines: Lines<RefundLineRec>,
}

impl RefundRec {
    /// Σ amount over the lines.
    pub fn amount(&self) -> Cents {
        Cents(self.lines.iter().map(|l| l.amount.0).sum())
    }
}

/// A line of a refund.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RefundLineRec {
    pub sku: Id,
    pub qty: i64,
    pub amount: Cents,
}

/// A completed sale cancelled by a post-void: (store_id, transaction).
pub type PostVoid = (Id, Key);

/// An accepted void: a post-void cancels a completed sale; a line void is an audit record.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VoidRec {
    pub store_id: Id,
    pub transaction: Key,
    pub transaction_id: Text,
    pub business_date: Day,
    pub register_id: Id,
    pub cashier_id: Id,
    pub post: bool,
    /// The lines removed (line voids).
    pub lines: i64,
}

/// An inventory receipt with its unit cost: the cost of that (store, sku) from `ts` on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Receipt {
    pub store_id: Id,
    pub sku: Id,
    pub business_date: Day,
    pub ts: Millis,
    /// Breaks ties between receipts at the same `ts`: the greater (as text) wins.
    pub event_id: Text,
    pub unit_cost: Cents,
}

/// A product record's catalog cost and department. The current one per sku is the greatest
/// (`ts`, `event_id`, `unit_cost`), a missing `ts` or `event_id` ordering first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct CatalogCost {
    pub sku: Id,
    pub ts: Option<Millis>,
    pub event_id: Option<Text>,
    pub unit_cost: Cents,
    pub department: Id,
}

/// An inventory event: a count, or a movement with its signed effect on stock.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct InventoryRec {
    pub store_id: Id,
    pub sku: Id,
    pub ts: Millis,
    pub business_date: Day,
    pub event_id: Text,
    /// `true` for a count (`qty` is then the level counted), else a movement.
    pub is_count: bool,
    /// The level counted, or the change in stock (transfers out are negative).
    pub qty: i64,
}

/// A clock-in or clock-out, with the store's time zone name to split shifts into local hours.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ShiftRec {
    pub store_id: Id,
    pub staff_id: Id,
    pub ts: Millis,
    pub event_id: Text,
    pub clock_in: bool,
    pub timezone: Id,
}

/// A product record; the current one per sku is the greatest (`ts`, `event_id`, `unit_cost`),
/// missing first, then the greater name, category, department, list price and supply.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ProductRec {
    pub sku: Id,
    pub ts: Option<Millis>,
    pub event_id: Option<Text>,
    pub name: Text,
    pub category: Id,
    pub department: Id,
    pub unit_cost: Cents,
    pub list_price: Cents,
    pub supply: Supply,
}

/// A promotion record; the current one per promotion is the greatest (`ts`, `event_id`), missing
/// first, then the greater SKU, category, start, end and discount.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PromotionRec {
    pub promo_id: Id,
    pub ts: Option<Millis>,
    pub event_id: Option<Text>,
    pub sku: Option<Id>,
    pub category: Option<Id>,
    pub start: Millis,
    pub end: Millis,
    pub discount_bp: i64,
}

/// A store record; the current one per store is the greatest (`ts`, `event_id`), missing first.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct StoreRec {
    pub store_id: Id,
    pub ts: Option<Millis>,
    pub event_id: Option<Text>,
    pub name: Text,
    pub district: Id,
    pub region: Id,
    pub timezone: Id,
}

impl StoreRec {
    /// The store-local day of instant `at`, in the store's time zone (admission refuses a store
    /// whose zone does not parse; UTC if one ever got through).
    pub fn day_of(&self, at: Millis) -> Day {
        local_day(at, parse_tz(&self.timezone).unwrap_or(chrono_tz::UTC))
    }
}

/// A loyalty link: the current one per card (greatest `ts`, then `event_id`) decides which
/// customer, if any, that card belongs to; without consent, none.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct LinkRec {
    pub card: Key,
    pub ts: Millis,
    pub event_id: Text,
    pub consent: bool,
    pub customer_id: Id,
}

/// Of a reduce's input values present (positive count), the greatest by `key`. Values arrive
/// in their own order, in which interned ids compare by number: `key` says what "latest" means,
/// with ids compared as text.
pub fn greatest<'a, V, K: Ord>(values: &[(&'a V, isize)], key: impl Fn(&V) -> K) -> Option<&'a V> {
    values.iter().filter(|(_, n)| *n > 0).map(|(v, _)| *v).max_by_key(|v| key(v))
}

/// The current record of each key: the greatest of its records by `order` (see [`greatest`]).
/// Reference records (stores, products, promotions) are chosen this way.
pub fn current<'s, K, R, O>(
    records: differential_dataflow::VecCollection<'s, tillflow_schemas::Epoch, (K, R)>,
    name: &str,
    order: impl Fn(&R) -> O + 'static,
) -> differential_dataflow::VecCollection<'s, tillflow_schemas::Epoch, (K, R)>
where
    K: differential_dataflow::ExchangeData + differential_dataflow::Hashable,
    R: differential_dataflow::ExchangeData,
    O: Ord,
{
    records.reduce_named(name, move |_key, records, out| {
        if let Some(record) = greatest(records, &order) {
            out.push((record.clone(), 1));
        }
    })
}
