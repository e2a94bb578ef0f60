//! The wire shape of a record (every field optional, numbers lenient) and its validation into an [`Event`].
//!
//! NDJSON is read straight into [`RawEvent`]; CSV and Parquet rows are grouped into one first
//! (see [`crate::formats`]). Validation lives here once, whatever the format.

use serde::{Deserialize, Serialize};

use crate::event::*;
use crate::time::{format_ts, parse_ts, parse_tz};
use crate::{Cents, Id, InputError, Millis, Text};

pub const TYPE_NAMES: &str =
    "sale, refund, void, loyalty_link, erasure, inventory, shift, product, store, promotion, exception_action";

/// The largest quantity on one line or movement; beyond it a record is taken as a typo.
pub const MAX_QTY: i64 = 1_000_000;

/// The longest lead time a product record may give, in days.
pub const MAX_LEAD_TIME_DAYS: i64 = 365;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawEvent {
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub record_type: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<Text>,
    #[serde(with = "lenient_ts", skip_serializing_if = "Option::is_none")]
    pub ts: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store_id: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub register_id: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cashier_id: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_ref: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refund_id: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original_transaction_id: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tender_kind: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scope: Option<Text>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<RawLine>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tenders: Vec<RawTender>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customer_id: Option<Text>,
    #[serde(deserialize_with = "lenient_bool::deserialize", skip_serializing_if = "Option::is_none")]
    pub consent: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Text>,
    #[serde(deserialize_with = "lenient_int::deserialize", skip_serializing_if = "Option::is_none")]
    pub qty: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_cost: Option<Cents>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub staff_id: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub department: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list_price: Option<Cents>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub supplier: Option<Text>,
    #[serde(deserialize_with = "lenient_int::deserialize", skip_serializing_if = "Option::is_none")]
    pub lead_time_days: Option<i64>,
    #[serde(deserialize_with = "lenient_int::deserialize", skip_serializing_if = "Option::is_none")]
    pub case_pack: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub district: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timezone: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promo_id: Option<Text>,
    #[serde(with = "lenient_ts", skip_serializing_if = "Option::is_none")]
    pub start: Option<Millis>,
    #[serde(with = "lenient_ts", skip_serializing_if = "Option::is_none")]
    pub end: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount_pct: Option<Cents>,
    #[serde(deserialize_with = "lenient_int::deserialize", skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception_id: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assignee: Option<Text>,
}

/// A line of a sale, refund or line void.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawLine {
    #[serde(deserialize_with = "lenient_int::deserialize", skip_serializing_if = "Option::is_none")]
    pub line_no: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sku: Option<Text>,
    #[serde(deserialize_with = "lenient_int::deserialize", skip_serializing_if = "Option::is_none")]
    pub qty: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unit_price: Option<Cents>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount: Option<Cents>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promo_id: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Cents>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RawTender {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<Text>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount: Option<Cents>,
}

impl RawEvent {
    /// Reads one JSON object, naming the field at fault when a value has the wrong type.
    pub fn from_json(bytes: &[u8]) -> Result<RawEvent, InputError> {
        // serde would read an array as the fields in order; a record is an object.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
            return Err(InputError::NotAnObject(json_kind(bytes)));
        }
        // The common case at full speed (a SIMD parser); a record that fails is read again by
        // serde_json, which names the field at fault.
        if let Ok(raw) = sonic_rs::from_slice(bytes) {
            return Ok(raw);
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let raw: RawEvent = serde_path_to_error::deserialize(&mut de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if inner.is_data() && path != "." {
                InputError::invalid(path, strip_position(&inner))
            } else if inner.is_data() {
                InputError::NotAnObject(json_kind(bytes))
            } else {
                InputError::MalformedJson(inner.to_string())
            }
        })?;
        de.end().map_err(|e| InputError::MalformedJson(format!("trailing characters: {e}")))?;
        Ok(raw)
    }

    /// Reads a JSON value (a CSV or Parquet row regrouped), naming the field at fault.
    pub fn from_value(value: serde_json::Value) -> Result<RawEvent, InputError> {
        // As for JSON text: the common case directly, a failure again to name the field.
        if let Ok(raw) = RawEvent::deserialize(&value) {
            return Ok(raw);
        }
        serde_path_to_error::deserialize(value).map_err(|e: serde_path_to_error::Error<serde_json::Error>| {
            let path = e.path().to_string();
            InputError::invalid(path, strip_position(e.inner()))
        })
    }

    /// Checks every rule of the input contract and builds the typed event.
    pub fn validate(self) -> Result<Event, InputError> {
        let type_name = self.record_type.as_deref().ok_or(InputError::MissingType)?;
        let kind = EventType::from_name(type_name).ok_or_else(|| InputError::UnknownType(type_name.to_string()))?;
        let v = Validator { kind: kind.name() };
        let event = match kind {
            EventType::Sale => Event::Sale(self.sale(&v)?),
            EventType::Refund => Event::Refund(self.refund(&v)?),
            EventType::Void => Event::Void(self.void(&v)?),
            EventType::LoyaltyLink => Event::LoyaltyLink(LoyaltyLink {
                event_id: v.text("event_id", self.event_id)?,
                ts: v.req("ts", self.ts)?,
                store_id: optional_id("store_id", self.store_id)?,
                customer_ref: v.text("customer_ref", self.customer_ref)?,
                customer_id: v.id("customer_id", self.customer_id)?,
                consent: v.req("consent", self.consent)?,
            }),
            EventType::Erasure => Event::Erasure(Erasure {
                event_id: v.text("event_id", self.event_id)?,
                ts: v.req("ts", self.ts)?,
                store_id: optional_id("store_id", self.store_id)?,
                customer_id: v.id("customer_id", self.customer_id)?,
            }),
            EventType::Inventory => Event::Inventory(self.inventory(&v)?),
            EventType::Shift => Event::Shift(Shift {
                event_id: v.text("event_id", self.event_id)?,
                ts: v.req("ts", self.ts)?,
                store_id: v.id("store_id", self.store_id)?,
                staff_id: v.id("staff_id", self.staff_id)?,
                role: v.text("role", self.role)?,
                kind: v.choice("kind", self.kind.as_deref(), SHIFT_KINDS)?,
            }),
            EventType::Product => Event::Product(Product {
                event_id: self.event_id,
                ts: self.ts,
                sku: v.id("sku", self.sku)?,
                name: v.req("name", self.name)?,
                category: v.id("category", self.category)?,
                department: v.id("department", self.department)?,
                unit_cost: non_negative("unit_cost", v.req("unit_cost", self.unit_cost)?)?,
                list_price: non_negative("list_price", v.req("list_price", self.list_price)?)?,
                supply: Supply {
                    supplier: optional_id("supplier", self.supplier)?,
                    lead_time_days: within("lead_time_days", self.lead_time_days, 0..=MAX_LEAD_TIME_DAYS, "days")?,
                    case_pack: within("case_pack", self.case_pack, 1..=MAX_QTY, "units")?,
                },
            }),
            EventType::Store => {
                let tz = v.id("timezone", self.timezone)?;
                Event::Store(Store {
                    event_id: self.event_id,
                    ts: self.ts,
                    store_id: v.id("store_id", self.store_id)?,
                    name: v.req("name", self.name)?,
                    district: v.id("district", self.district)?,
                    region: v.id("region", self.region)?,
                    timezone: parse_tz(&tz).map_err(|e| InputError::invalid("timezone", e))?,
                })
            }
            EventType::Promotion => Event::Promotion(self.promotion(&v)?),
            EventType::ExceptionAction => Event::ExceptionAction(self.exception_action(&v)?),
        };
        Ok(event)
    }

    fn sale(self, v: &Validator) -> Result<Sale, InputError> {
        if self.lines.is_empty() {
            return Err(InputError::rule("a sale needs at least one line"));
        }
        let mut lines = Vec::with_capacity(self.lines.len());
        for (i, line) in self.lines.into_iter().enumerate() {
            let at = |f| Field::Item("lines", i, f);
            let qty = line_qty(at("qty"), line.qty)?;
            let unit_price = non_negative(at("unit_price"), v.req(at("unit_price"), line.unit_price)?)?;
            let discount = non_negative(at("discount"), line.discount.unwrap_or_default())?;
            let gross =
                unit_price.times(qty.abs()).ok_or_else(|| InputError::invalid(at("qty"), "line total is too large"))?;
            if discount > gross {
                return Err(InputError::invalid(at("discount"), format!("{discount} exceeds the line total {gross}")));
            }
            let line_no = match line.line_no {
                Some(n) => {
                    u32::try_from(n).map_err(|_| InputError::invalid(at("line_no"), "must be a positive integer"))?
                }
                None => i as u32 + 1,
            };
            if lines.iter().any(|l: &SaleLine| l.line_no == line_no) {
                return Err(InputError::rule(format!("line_no {line_no} appears twice")));
            }
            lines.push(SaleLine {
                line_no,
                sku: v.id(at("sku"), line.sku)?,
                qty,
                unit_price,
                discount,
                promo_id: optional_id(at("promo_id"), line.promo_id)?,
            });
        }
        let mut tenders = Vec::with_capacity(self.tenders.len());
        for (i, tender) in self.tenders.into_iter().enumerate() {
            tenders.push(Tender {
                kind: v.choice(Field::Item("tenders", i, "kind"), tender.kind.as_deref(), TENDER_KINDS)?,
                amount: v.req(Field::Item("tenders", i, "amount"), tender.amount)?,
            });
        }
        Ok(Sale {
            event_id: v.text("event_id", self.event_id)?,
            ts: v.req("ts", self.ts)?,
            store_id: v.id("store_id", self.store_id)?,
            transaction_id: v.text("transaction_id", self.transaction_id)?,
            register_id: v.id("register_id", self.register_id)?,
            cashier_id: v.id("cashier_id", self.cashier_id)?,
            customer_ref: self.customer_ref.filter(|c| !c.is_empty()),
            lines,
            tenders,
            revision: match self.revision {
                Some(revision) => Some(
                    u64::try_from(revision)
                        .map_err(|_| InputError::invalid("revision", "a revision is a whole number, 0 or more"))?,
                ),
                None => None,
            },
        })
    }

    fn refund(self, v: &Validator) -> Result<Refund, InputError> {
        if self.lines.is_empty() {
            return Err(InputError::rule("a refund needs at least one line"));
        }
        let mut lines = Vec::with_capacity(self.lines.len());
        for (i, line) in self.lines.into_iter().enumerate() {
            let at = |f| Field::Item("lines", i, f);
            let qty = line_qty(at("qty"), line.qty)?;
            if qty < 0 {
                return Err(InputError::invalid(at("qty"), "a refunded quantity is positive"));
            }
            lines.push(RefundLine {
                sku: v.id(at("sku"), line.sku)?,
                qty,
                amount: non_negative(at("amount"), v.req(at("amount"), line.amount)?)?,
            });
        }
        Ok(Refund {
            event_id: v.text("event_id", self.event_id)?,
            ts: v.req("ts", self.ts)?,
            store_id: v.id("store_id", self.store_id)?,
            refund_id: v.text("refund_id", self.refund_id)?,
            register_id: v.id("register_id", self.register_id)?,
            cashier_id: v.id("cashier_id", self.cashier_id)?,
            original_transaction_id: self.original_transaction_id.filter(|t| !t.is_empty()),
            lines,
            tender_kind: v.choice("tender_kind", self.tender_kind.as_deref(), TENDER_KINDS)?,
            reason: self.reason.filter(|r| !r.is_empty()),
        })
    }

    fn void(self, v: &Validator) -> Result<Void, InputError> {
        let scope = v.choice("scope", self.scope.as_deref(), VOID_SCOPES)?;
        let mut lines = Vec::with_capacity(self.lines.len());
        for (i, line) in self.lines.into_iter().enumerate() {
            let at = |f| Field::Item("lines", i, f);
            lines.push(VoidLine {
                line_no: line
                    .line_no
                    .map(|n| {
                        u32::try_from(n).map_err(|_| InputError::invalid(at("line_no"), "must be a positive integer"))
                    })
                    .transpose()?,
                sku: v.id(at("sku"), line.sku)?,
                qty: line_qty(at("qty"), line.qty)?,
                unit_price: line.unit_price.map(|p| non_negative(at("unit_price"), p)).transpose()?,
            });
        }
        if scope == VoidScope::Line && lines.is_empty() {
            return Err(InputError::rule("a line void needs the voided `lines`"));
        }
        Ok(Void {
            event_id: v.text("event_id", self.event_id)?,
            ts: v.req("ts", self.ts)?,
            store_id: v.id("store_id", self.store_id)?,
            transaction_id: v.text("transaction_id", self.transaction_id)?,
            register_id: v.id("register_id", self.register_id)?,
            cashier_id: v.id("cashier_id", self.cashier_id)?,
            scope,
            lines,
        })
    }

    fn inventory(self, v: &Validator) -> Result<Inventory, InputError> {
        let kind = v.choice("kind", self.kind.as_deref(), INVENTORY_KINDS)?;
        let qty = v.req("qty", self.qty)?;
        if qty.abs() > MAX_QTY {
            return Err(InputError::invalid("qty", format!("{qty} is beyond the largest quantity {MAX_QTY}")));
        }
        let positive = matches!(kind, InventoryKind::Receipt | InventoryKind::TransferIn | InventoryKind::TransferOut);
        if positive && qty <= 0
            || kind == InventoryKind::Count && qty < 0
            || kind == InventoryKind::Adjustment && qty == 0
        {
            return Err(InputError::rule(format!(
                "an inventory {} cannot have qty {qty}",
                INVENTORY_KINDS.iter().find(|(_, k)| *k == kind).map_or("", |(n, _)| n)
            )));
        }
        let unit_cost = self.unit_cost.map(|c| non_negative("unit_cost", c)).transpose()?;
        if kind == InventoryKind::Receipt && unit_cost.is_none() {
            return Err(InputError::MissingField { kind: "inventory receipt", field: "unit_cost" });
        }
        Ok(Inventory {
            event_id: v.text("event_id", self.event_id)?,
            ts: v.req("ts", self.ts)?,
            store_id: v.id("store_id", self.store_id)?,
            sku: v.id("sku", self.sku)?,
            kind,
            qty,
            unit_cost,
        })
    }

    fn exception_action(self, v: &Validator) -> Result<ExceptionAction, InputError> {
        let action = v.choice("action", self.action.as_deref(), ACTION_KINDS)?;
        let note = self.note.filter(|n| !n.trim().is_empty());
        let assignee = self.assignee.filter(|a| !a.trim().is_empty());
        if action == ActionKind::Dismiss && note.is_none() {
            return Err(InputError::invalid("note", "a dismissal needs its reason in `note`".to_string()));
        }
        if action == ActionKind::Assign && assignee.is_none() {
            return Err(InputError::invalid("assignee", "an `assign` needs the `assignee`".to_string()));
        }
        Ok(ExceptionAction {
            event_id: v.text("event_id", self.event_id)?,
            ts: v.req("ts", self.ts)?,
            store_id: v.id("store_id", self.store_id)?,
            exception_id: v.text("exception_id", self.exception_id)?,
            action,
            user: v.text("user", self.user)?,
            note,
            assignee,
        })
    }

    fn promotion(self, v: &Validator) -> Result<Promotion, InputError> {
        let target = match (self.sku, self.category) {
            (Some(sku), None) if !sku.is_empty() => PromoTarget::Sku(intern("sku", &sku)?),
            (None, Some(cat)) if !cat.is_empty() => PromoTarget::Category(intern("category", &cat)?),
            (Some(_), Some(_)) => return Err(InputError::rule("a promotion names a `sku` or a `category`, not both")),
            _ => return Err(InputError::MissingField { kind: "promotion", field: "sku` or `category" }),
        };
        let start = v.req("start", self.start)?;
        let end = v.req("end", self.end)?;
        if end < start {
            return Err(InputError::rule("a promotion ends before it starts"));
        }
        let pct = v.req("discount_pct", self.discount_pct)?;
        if pct.0 <= 0 || pct.0 > 10_000 {
            return Err(InputError::invalid("discount_pct", format!("{pct} is not a percentage in (0, 100]")));
        }
        Ok(Promotion {
            event_id: self.event_id,
            ts: self.ts,
            promo_id: v.id("promo_id", self.promo_id)?,
            target,
            start,
            end,
            discount_bp: pct.0,
        })
    }
}

impl Event {
    /// The wire shape of this event: what the generator writes and the readers read back.
    pub fn to_raw(&self) -> RawEvent {
        let mut raw = RawEvent {
            record_type: Some(self.kind().name().into()),
            event_id: self.event_id().cloned(),
            ts: self.ts(),
            ..RawEvent::default()
        };
        match self {
            Event::Sale(s) => {
                raw.store_id = Some(s.store_id.as_str().into());
                raw.transaction_id = Some(s.transaction_id.clone());
                raw.register_id = Some(s.register_id.as_str().into());
                raw.cashier_id = Some(s.cashier_id.as_str().into());
                raw.customer_ref = s.customer_ref.clone();
                raw.revision = s.revision.and_then(|r| i64::try_from(r).ok());
                raw.lines = s
                    .lines
                    .iter()
                    .map(|l| RawLine {
                        line_no: Some(l.line_no as i64),
                        sku: Some(l.sku.as_str().into()),
                        qty: Some(l.qty),
                        unit_price: Some(l.unit_price),
                        discount: Some(l.discount),
                        promo_id: l.promo_id.map(|p| p.as_str().into()),
                        amount: None,
                    })
                    .collect();
                raw.tenders = s
                    .tenders
                    .iter()
                    .map(|t| RawTender { kind: Some(name_of(TENDER_KINDS, t.kind).into()), amount: Some(t.amount) })
                    .collect();
            }
            Event::Refund(r) => {
                raw.store_id = Some(r.store_id.as_str().into());
                raw.refund_id = Some(r.refund_id.clone());
                raw.register_id = Some(r.register_id.as_str().into());
                raw.cashier_id = Some(r.cashier_id.as_str().into());
                raw.original_transaction_id = r.original_transaction_id.clone();
                raw.lines = r
                    .lines
                    .iter()
                    .map(|l| RawLine {
                        sku: Some(l.sku.as_str().into()),
                        qty: Some(l.qty),
                        amount: Some(l.amount),
                        ..RawLine::default()
                    })
                    .collect();
                raw.tender_kind = Some(name_of(TENDER_KINDS, r.tender_kind).into());
                raw.reason = r.reason.clone();
            }
            Event::Void(vd) => {
                raw.store_id = Some(vd.store_id.as_str().into());
                raw.transaction_id = Some(vd.transaction_id.clone());
                raw.register_id = Some(vd.register_id.as_str().into());
                raw.cashier_id = Some(vd.cashier_id.as_str().into());
                raw.scope = Some(name_of(VOID_SCOPES, vd.scope).into());
                raw.lines = vd
                    .lines
                    .iter()
                    .map(|l| RawLine {
                        line_no: l.line_no.map(i64::from),
                        sku: Some(l.sku.as_str().into()),
                        qty: Some(l.qty),
                        unit_price: l.unit_price,
                        ..RawLine::default()
                    })
                    .collect();
            }
            Event::LoyaltyLink(l) => {
                raw.store_id = l.store_id.map(|s| s.as_str().into());
                raw.customer_ref = Some(l.customer_ref.clone());
                raw.customer_id = Some(l.customer_id.as_str().into());
                raw.consent = Some(l.consent);
            }
            Event::Erasure(e) => {
                raw.store_id = e.store_id.map(|s| s.as_str().into());
                raw.customer_id = Some(e.customer_id.as_str().into());
            }
            Event::ExceptionAction(a) => {
                raw.store_id = Some(a.store_id.as_str().into());
                raw.exception_id = Some(a.exception_id.clone());
                raw.action = Some(name_of(ACTION_KINDS, a.action).into());
                raw.user = Some(a.user.clone());
                raw.note = a.note.clone();
                raw.assignee = a.assignee.clone();
            }
            Event::Inventory(i) => {
                raw.store_id = Some(i.store_id.as_str().into());
                raw.sku = Some(i.sku.as_str().into());
                raw.kind = Some(name_of(INVENTORY_KINDS, i.kind).into());
                raw.qty = Some(i.qty);
                raw.unit_cost = i.unit_cost;
            }
            Event::Shift(s) => {
                raw.store_id = Some(s.store_id.as_str().into());
                raw.staff_id = Some(s.staff_id.as_str().into());
                raw.role = Some(s.role.clone());
                raw.kind = Some(name_of(SHIFT_KINDS, s.kind).into());
            }
            Event::Product(p) => {
                raw.sku = Some(p.sku.as_str().into());
                raw.name = Some(p.name.clone());
                raw.category = Some(p.category.as_str().into());
                raw.department = Some(p.department.as_str().into());
                raw.unit_cost = Some(p.unit_cost);
                raw.list_price = Some(p.list_price);
                raw.supplier = p.supply.supplier.map(|s| s.as_str().into());
                raw.lead_time_days = p.supply.lead_time_days;
                raw.case_pack = p.supply.case_pack;
            }
            Event::Store(s) => {
                raw.store_id = Some(s.store_id.as_str().into());
                raw.name = Some(s.name.clone());
                raw.district = Some(s.district.as_str().into());
                raw.region = Some(s.region.as_str().into());
                raw.timezone = Some(s.timezone.name().into());
            }
            Event::Promotion(p) => {
                raw.promo_id = Some(p.promo_id.as_str().into());
                match &p.target {
                    PromoTarget::Sku(s) => raw.sku = Some(s.as_str().into()),
                    PromoTarget::Category(c) => raw.category = Some(c.as_str().into()),
                }
                raw.start = Some(p.start);
                raw.end = Some(p.end);
                raw.discount_pct = Some(Cents(p.discount_bp));
            }
        }
        raw
    }

    /// One line of canonical NDJSON (no trailing newline).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.to_raw()).expect("a raw event always serializes")
    }
}

pub const TENDER_KINDS: &[(&str, TenderKind)] = &[
    ("cash", TenderKind::Cash),
    ("card", TenderKind::Card),
    ("gift_card", TenderKind::GiftCard),
    ("wallet", TenderKind::Wallet),
    ("store_credit", TenderKind::StoreCredit),
];
pub const VOID_SCOPES: &[(&str, VoidScope)] = &[("line", VoidScope::Line), ("post", VoidScope::Post)];
pub const INVENTORY_KINDS: &[(&str, InventoryKind)] = &[
    ("count", InventoryKind::Count),
    ("receipt", InventoryKind::Receipt),
    ("adjustment", InventoryKind::Adjustment),
    ("transfer_in", InventoryKind::TransferIn),
    ("transfer_out", InventoryKind::TransferOut),
];
pub const ACTION_KINDS: &[(&str, ActionKind)] = &[
    ("acknowledge", ActionKind::Acknowledge),
    ("dismiss", ActionKind::Dismiss),
    ("assign", ActionKind::Assign),
    ("note", ActionKind::Note),
    ("reopen", ActionKind::Reopen),
];
pub const SHIFT_KINDS: &[(&str, ShiftKind)] = &[("clock_in", ShiftKind::ClockIn), ("clock_out", ShiftKind::ClockOut)];

pub fn name_of<T: PartialEq + Copy>(table: &[(&'static str, T)], value: T) -> &'static str {
    table.iter().find(|(_, v)| *v == value).map_or("?", |(n, _)| n)
}

struct Validator {
    kind: &'static str,
}

impl Validator {
    fn req<T>(&self, field: impl Into<Field>, value: Option<T>) -> Result<T, InputError> {
        value.ok_or_else(|| self.missing(field.into()))
    }

    /// A required identifier, as text.
    fn text(&self, field: impl Into<Field>, value: Option<Text>) -> Result<Text, InputError> {
        match value {
            Some(id) if !id.trim().is_empty() => Ok(id),
            _ => Err(self.missing(field.into())),
        }
    }

    /// A required dimension identifier, interned.
    fn id(&self, field: impl Into<Field>, value: Option<Text>) -> Result<Id, InputError> {
        let field = field.into();
        intern(field, &self.text(field, value)?)
    }

    fn choice<T: Copy>(
        &self,
        field: impl Into<Field>,
        value: Option<&str>,
        table: &[(&'static str, T)],
    ) -> Result<T, InputError> {
        let field = field.into();
        let value = value.filter(|v| !v.is_empty()).ok_or_else(|| self.missing(field))?;
        table.iter().find(|(n, _)| *n == value).map(|(_, k)| *k).ok_or_else(|| {
            let names: Vec<&str> = table.iter().map(|(n, _)| *n).collect();
            InputError::invalid(field, format!("`{value}` is not one of {}", names.join(", ")))
        })
    }

    fn missing(&self, field: Field) -> InputError {
        // Field names are static in the contract; indexed line fields keep their path in the reason.
        match field {
            Field::Top(name) if crate::formats::flat::COLUMNS.contains(&name) => {
                InputError::MissingField { kind: self.kind, field: name }
            }
            _ => InputError::invalid(field, format!("is required on a {} record", self.kind)),
        }
    }
}

/// Where a value sits in a record: a field, or a field of one item of a list. Put into words only
/// when a record is refused.
#[derive(Clone, Copy, Debug)]
enum Field {
    Top(&'static str),
    Item(&'static str, usize, &'static str),
}

impl From<&'static str> for Field {
    fn from(name: &'static str) -> Field {
        Field::Top(name)
    }
}

impl std::fmt::Display for Field {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Field::Top(name) => f.write_str(name),
            Field::Item(list, i, name) => write!(f, "{list}[{i}].{name}"),
        }
    }
}

/// Interns an identifier read from input.
fn intern(field: impl Into<Field>, text: &str) -> Result<Id, InputError> {
    Id::new(text).map_err(|collision| InputError::invalid(field.into(), collision.to_string()))
}

/// An optional dimension identifier (absent when empty), interned.
fn optional_id(field: impl Into<Field>, value: Option<Text>) -> Result<Option<Id>, InputError> {
    let field = field.into();
    value.filter(|v| !v.is_empty()).map(|v| intern(field, &v)).transpose()
}

fn line_qty(field: Field, qty: Option<i64>) -> Result<i64, InputError> {
    let qty = qty.ok_or_else(|| InputError::invalid(field, "is required"))?;
    if qty == 0 {
        return Err(InputError::invalid(field, "a line quantity cannot be zero"));
    }
    if qty.abs() > MAX_QTY {
        return Err(InputError::invalid(field, format!("{qty} is beyond the largest quantity {MAX_QTY}")));
    }
    Ok(qty)
}

/// An optional whole number of `unit`, if given within `range`.
fn within(
    field: &'static str,
    value: Option<i64>,
    range: std::ops::RangeInclusive<i64>,
    unit: &str,
) -> Result<Option<i64>, InputError> {
    match value {
        Some(n) if !range.contains(&n) => Err(InputError::invalid(
            field,
            format!(
                "give a whole number of {unit} from {} to {} (or leave it out), not {n}",
                range.start(),
                range.end()
            ),
        )),
        _ => Ok(value),
    }
}

fn non_negative(field: impl Into<Field>, value: Cents) -> Result<Cents, InputError> {
    if value.0 < 0 {
        return Err(InputError::invalid(field.into(), format!("{value} is negative")));
    }
    Ok(value)
}

fn strip_position(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.find(" at line ") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

fn json_kind(bytes: &[u8]) -> &'static str {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

/// Timestamps: RFC 3339 text or integer milliseconds.
mod lenient_ts {
    use super::*;

    pub fn serialize<S: serde::Serializer>(v: &Option<Millis>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(ts) => s.serialize_str(&format_ts(*ts)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Millis>, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Option<Millis>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an RFC 3339 timestamp or integer milliseconds since the Unix epoch")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Some(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v).map(Some).map_err(|_| E::custom(format!("{v} is out of range")))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                parse_ts(v).map(Some).map_err(E::custom)
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
        }
        d.deserialize_any(V)
    }
}

/// Integers: JSON integers, or text holding one (CSV).
mod lenient_int {
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Option<i64>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an integer")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Some(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Self::Value, E> {
                i64::try_from(v).map(Some).map_err(|_| E::custom(format!("{v} is too large")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Self::Value, E> {
                if v.fract() == 0.0 && v.abs() < 9.0e15 {
                    Ok(Some(v as i64))
                } else {
                    Err(E::custom(format!("{v} is not an integer")))
                }
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                v.trim().parse().map(Some).map_err(|_| E::custom(format!("`{v}` is not an integer")))
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
        }
        d.deserialize_any(V)
    }
}

/// Booleans: JSON booleans, or `true`/`false` text (CSV).
mod lenient_bool {
    pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Option<bool>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("true or false")
            }
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Some(v))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                match v.trim() {
                    "true" | "TRUE" | "True" | "1" => Ok(Some(true)),
                    "false" | "FALSE" | "False" | "0" => Ok(Some(false)),
                    _ => Err(E::custom(format!("`{v}` is not true or false"))),
                }
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<Self::Value, E> {
                Ok(None)
            }
        }
        d.deserialize_any(V)
    }
}
