//! Canonical events and reference records, validated and typed (see DESIGN.md, Events).

use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::{Cents, Id, Millis, Text};

/// One accepted input record: an event of the operational systems, or reference data.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    Sale(Sale),
    Refund(Refund),
    Void(Void),
    LoyaltyLink(LoyaltyLink),
    Erasure(Erasure),
    Inventory(Inventory),
    Shift(Shift),
    Product(Product),
    Store(Store),
    Promotion(Promotion),
    ExceptionAction(ExceptionAction),
}

impl Event {
    /// A sale's revision (see [`Sale::revision`]); `None` for every other event.
    pub fn revision(&self) -> Option<u64> {
        match self {
            Event::Sale(sale) => sale.revision,
            _ => None,
        }
    }

    /// The dedup key; reference records may have none.
    pub fn event_id(&self) -> Option<&Text> {
        match self {
            Event::Sale(e) => Some(&e.event_id),
            Event::Refund(e) => Some(&e.event_id),
            Event::Void(e) => Some(&e.event_id),
            Event::LoyaltyLink(e) => Some(&e.event_id),
            Event::Erasure(e) => Some(&e.event_id),
            Event::Inventory(e) => Some(&e.event_id),
            Event::Shift(e) => Some(&e.event_id),
            Event::Product(r) => r.event_id.as_ref(),
            Event::Store(r) => r.event_id.as_ref(),
            Event::Promotion(r) => r.event_id.as_ref(),
            Event::ExceptionAction(e) => Some(&e.event_id),
        }
    }

    /// Event time; reference records without `ts` are in effect from the beginning (`None`).
    pub fn ts(&self) -> Option<Millis> {
        match self {
            Event::Sale(e) => Some(e.ts),
            Event::Refund(e) => Some(e.ts),
            Event::Void(e) => Some(e.ts),
            Event::LoyaltyLink(e) => Some(e.ts),
            Event::Erasure(e) => Some(e.ts),
            Event::Inventory(e) => Some(e.ts),
            Event::Shift(e) => Some(e.ts),
            Event::Product(r) => r.ts,
            Event::Store(r) => r.ts,
            Event::Promotion(r) => r.ts,
            Event::ExceptionAction(e) => Some(e.ts),
        }
    }

    /// The wire name of the event's `type`.
    pub fn kind(&self) -> EventType {
        match self {
            Event::Sale(_) => EventType::Sale,
            Event::Refund(_) => EventType::Refund,
            Event::Void(_) => EventType::Void,
            Event::LoyaltyLink(_) => EventType::LoyaltyLink,
            Event::Erasure(_) => EventType::Erasure,
            Event::Inventory(_) => EventType::Inventory,
            Event::Shift(_) => EventType::Shift,
            Event::Product(_) => EventType::Product,
            Event::Store(_) => EventType::Store,
            Event::Promotion(_) => EventType::Promotion,
            Event::ExceptionAction(_) => EventType::ExceptionAction,
        }
    }

    /// The store whose calendar dates this event (and so its business day), if any.
    pub fn dated_by_store(&self) -> Option<&Id> {
        match self {
            Event::Sale(e) => Some(&e.store_id),
            Event::Refund(e) => Some(&e.store_id),
            Event::Void(e) => Some(&e.store_id),
            Event::Inventory(e) => Some(&e.store_id),
            Event::Shift(e) => Some(&e.store_id),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    Sale,
    Refund,
    Void,
    LoyaltyLink,
    Erasure,
    Inventory,
    Shift,
    Product,
    Store,
    Promotion,
    ExceptionAction,
}

impl EventType {
    pub const ALL: [EventType; 11] = [
        EventType::Sale,
        EventType::Refund,
        EventType::Void,
        EventType::LoyaltyLink,
        EventType::Erasure,
        EventType::Inventory,
        EventType::Shift,
        EventType::Product,
        EventType::Store,
        EventType::Promotion,
        EventType::ExceptionAction,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EventType::Sale => "sale",
            EventType::Refund => "refund",
            EventType::Void => "void",
            EventType::LoyaltyLink => "loyalty_link",
            EventType::Erasure => "erasure",
            EventType::Inventory => "inventory",
            EventType::Shift => "shift",
            EventType::Product => "product",
            EventType::Store => "store",
            EventType::Promotion => "promotion",
            EventType::ExceptionAction => "exception_action",
        }
    }

    pub fn from_name(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.name() == name)
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Sale {
    pub event_id: Text,
    pub ts: Millis,
    pub store_id: Id,
    pub transaction_id: Text,
    pub register_id: Id,
    pub cashier_id: Id,
    pub customer_ref: Option<Text>,
    pub lines: Vec<SaleLine>,
    pub tenders: Vec<Tender>,
    /// The sale's version where its system edits sales after the fact (a POS platform's
    /// `updated_at`): a sale with the same `event_id` and a higher revision replaces it.
    pub revision: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SaleLine {
    pub line_no: u32,
    pub sku: Id,
    pub qty: i64,
    pub unit_price: Cents,
    /// The line's total discount.
    pub discount: Cents,
    pub promo_id: Option<Id>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Tender {
    pub kind: TenderKind,
    pub amount: Cents,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TenderKind {
    Cash,
    Card,
    GiftCard,
    Wallet,
    StoreCredit,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Refund {
    pub event_id: Text,
    pub ts: Millis,
    pub store_id: Id,
    pub refund_id: Text,
    pub register_id: Id,
    pub cashier_id: Id,
    /// `None` for a refund without receipt.
    pub original_transaction_id: Option<Text>,
    pub lines: Vec<RefundLine>,
    pub tender_kind: TenderKind,
    pub reason: Option<Text>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct RefundLine {
    pub sku: Id,
    pub qty: i64,
    pub amount: Cents,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Void {
    pub event_id: Text,
    pub ts: Millis,
    pub store_id: Id,
    pub transaction_id: Text,
    pub register_id: Id,
    pub cashier_id: Id,
    pub scope: VoidScope,
    /// The lines removed before tender (`scope = line`); empty for a post-void.
    pub lines: Vec<VoidLine>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VoidScope {
    Line,
    Post,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct VoidLine {
    pub line_no: Option<u32>,
    pub sku: Id,
    pub qty: i64,
    pub unit_price: Option<Cents>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct LoyaltyLink {
    pub event_id: Text,
    pub ts: Millis,
    pub store_id: Option<Id>,
    pub customer_ref: Text,
    pub customer_id: Id,
    pub consent: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Erasure {
    pub event_id: Text,
    pub ts: Millis,
    pub store_id: Option<Id>,
    pub customer_id: Id,
}

/// A manager's action on an exception (DESIGN.md, The manager's workflow): durable and
/// replayable like every event; `exception_history` is what they amount to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExceptionAction {
    pub event_id: Text,
    pub ts: Millis,
    /// The exception's store: what an ingest token's or a user's scope is checked against.
    pub store_id: Id,
    pub exception_id: Text,
    pub action: ActionKind,
    pub user: Text,
    /// The note, or a dismissal's reason.
    pub note: Option<Text>,
    /// Whom an `assign` hands the exception to.
    pub assignee: Option<Text>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    Acknowledge,
    /// Not a problem: needs a reason (`note`).
    Dismiss,
    /// Needs an `assignee`.
    Assign,
    Note,
    Reopen,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Inventory {
    pub event_id: Text,
    pub ts: Millis,
    pub store_id: Id,
    pub sku: Id,
    pub kind: InventoryKind,
    pub qty: i64,
    /// Present on receipts (required there).
    pub unit_cost: Option<Cents>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InventoryKind {
    Count,
    Receipt,
    Adjustment,
    TransferIn,
    TransferOut,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Shift {
    pub event_id: Text,
    pub ts: Millis,
    pub store_id: Id,
    pub staff_id: Id,
    pub role: Text,
    pub kind: ShiftKind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShiftKind {
    ClockIn,
    ClockOut,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Product {
    pub event_id: Option<Text>,
    pub ts: Option<Millis>,
    pub sku: Id,
    pub name: String,
    pub category: Id,
    pub department: Id,
    pub unit_cost: Cents,
    pub list_price: Cents,
    pub supply: Supply,
}

/// How a product is reordered: the optional fields of a product record that `replenishment`
/// reads (absent: the defaults of docs/views.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Supply {
    /// Who it is ordered from; purchase suggestions group by it, else by department.
    pub supplier: Option<Id>,
    /// Days from order to shelf.
    pub lead_time_days: Option<i64>,
    /// Units per case: orders are whole cases.
    pub case_pack: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Store {
    pub event_id: Option<Text>,
    pub ts: Option<Millis>,
    pub store_id: Id,
    pub name: String,
    pub district: Id,
    pub region: Id,
    pub timezone: Tz,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Promotion {
    pub event_id: Option<Text>,
    pub ts: Option<Millis>,
    pub promo_id: Id,
    pub target: PromoTarget,
    pub start: Millis,
    pub end: Millis,
    /// Percent off, in hundredths of a percent (1250 = 12.5 %).
    pub discount_bp: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum PromoTarget {
    Sku(Id),
    Category(Id),
}
