//! Day-by-day simulation of the chain: every event with its event time and its arrival time.
//!
//! Traffic follows the hour of day (lunch and after-work peaks), the weekday (busy weekends)
//! and promotions; staff shifts follow the expected traffic; inventory follows sales and weekly
//! deliveries whose unit costs drift. About 1% of sales arrive hours late, every event a few
//! seconds out of order. Anomalies are injected into chosen stores and recorded in [`GroundTruth`].

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, TimeZone, Timelike};
use chrono_tz::Tz;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use tillflow_schemas::time::MILLIS_PER_DAY;
use tillflow_schemas::*;

use crate::chain::{Chain, ProductInfo, StoreInfo, heaviest};

const HOUR: i64 = 3_600_000;
const MINUTE: i64 = 60_000;

/// Transactions a cashier handles in an hour at a comfortable pace.
pub const TRANSACTIONS_PER_CASHIER_HOUR: f64 = 14.0;

/// What the generator injected, so detectors can be scored (`tillflow eval`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GroundTruth {
    pub seed: u64,
    pub stores: u32,
    pub days: u32,
    pub start: String,
    pub anomalies: Vec<Injected>,
    /// Every store-day a customer found a SKU's shelf empty, to score projected stock-outs by.
    #[serde(default)]
    pub stockouts: Vec<StockOut>,
    /// Every promotion with the lift in units it was built with, to score measured lift by.
    #[serde(default)]
    pub promotions: Vec<PromotionLift>,
}

/// A promotion and the lift in units the generator gave it: the percent more units a line on it
/// sells than at full price.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PromotionLift {
    pub promo_id: String,
    pub lift_pct: f64,
}

/// A store-day on which a SKU's shelf was empty when a customer wanted it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct StockOut {
    pub store_id: String,
    pub sku: String,
    /// The store-local business day, `YYYY-MM-DD`.
    pub date: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Injected {
    /// excess_voids, discount_abuse, refund_without_sale, cash_refund_of_card_sale, understaffed_peak,
    /// ghost_inventory, register_refunds, slow_mover, basket_pair, promotion_loses_margin,
    /// sales_below_forecast.
    pub kind: String,
    pub store_id: String,
    /// The cashier, SKU, register or store at fault.
    pub subject: String,
    pub description: String,
    /// Ids of the events that show it (refund ids for refund rules), where it is per event.
    pub evidence: Vec<String>,
}

/// Which store (and cashier or SKU) carries each anomaly.
struct Plan {
    void_cashier: (usize, usize),
    discount_cashier: (usize, usize),
    phantom_refund_store: usize,
    cash_refund_store: usize,
    understaffed_store: usize,
    ghost: (usize, usize),
    /// A register used for refunds without receipt, whoever is logged in.
    refund_register: (usize, u32),
    /// A SKU of a store that stops selling on [`STOPS_SELLING_DAY`], its stock still on the books.
    unsold: (usize, usize),
    /// Two SKUs bought together: half the baskets with the first take the second too.
    pair: (usize, usize),
    /// Store-days on which a department is closed and sells nothing: (store, day, department).
    closed: Vec<(usize, u32, Id)>,
}

/// The day the unsold SKU leaves the shelf.
const STOPS_SELLING_DAY: u64 = 2;

pub struct Simulator<'a> {
    chain: &'a Chain,
    plan: Plan,
    truth: Vec<Injected>,
    /// Events not yet written, by (arrival, sequence).
    pending: BTreeMap<(i64, u64), Event>,
    sequence: u64,
    /// System on-hand per store and SKU, as the events imply.
    on_hand: Vec<Vec<i64>>,
    /// (store, SKU, store-local date) of every empty shelf a customer met.
    empty_shelves: std::collections::BTreeSet<(usize, usize, NaiveDate)>,
}

impl<'a> Simulator<'a> {
    pub fn new(chain: &'a Chain) -> Self {
        let n = chain.stores.len();
        let mut rng = ChaCha8Rng::seed_from_u64(chain.config.seed ^ 0xA11CE);
        let first = rng.random_range(0..n);
        let store = |k: usize| (first + k) % n;
        let cashier = |s: usize, rng: &mut ChaCha8Rng| rng.random_range(0..chain.stores[s].cashiers.len());
        let mut by_popularity: Vec<usize> = (0..chain.products.len()).collect();
        by_popularity.sort_by(|a, b| chain.products[*b].popularity.total_cmp(&chain.products[*a].popularity));
        let top_seller = by_popularity[0];
        let plan = Plan {
            void_cashier: (store(0), cashier(store(0), &mut rng)),
            discount_cashier: (store(1), cashier(store(1), &mut rng)),
            phantom_refund_store: store(2),
            cash_refund_store: store(3),
            understaffed_store: store(4),
            ghost: (store(5), top_seller),
            refund_register: (store(6), 3),
            unsold: (store(7), by_popularity[by_popularity.len().min(10) - 1]),
            pair: (by_popularity[by_popularity.len().min(20) - 1], by_popularity[by_popularity.len().min(25) - 1]),
            closed: closed_departments(chain, store(8), store(9)),
        };
        let mut truth = Vec::new();
        let id = |s: usize| chain.stores[s].record.store_id.to_string();
        let (vs, vc) = plan.void_cashier;
        truth.push(Injected {
            kind: "excess_voids".into(),
            store_id: id(vs),
            subject: chain.stores[vs].cashiers[vc].to_string(),
            description: "voids lines and whole sales about ten times as often as peers".into(),
            evidence: Vec::new(),
        });
        let (ds, dc) = plan.discount_cashier;
        truth.push(Injected {
            kind: "discount_abuse".into(),
            store_id: id(ds),
            subject: chain.stores[ds].cashiers[dc].to_string(),
            description: "gives 30-50% manual discounts on a third of sales".into(),
            evidence: Vec::new(),
        });
        truth.push(Injected {
            kind: "refund_without_sale".into(),
            store_id: id(plan.phantom_refund_store),
            subject: id(plan.phantom_refund_store),
            description: "refunds citing transactions that never happened".into(),
            evidence: Vec::new(),
        });
        truth.push(Injected {
            kind: "cash_refund_of_card_sale".into(),
            store_id: id(plan.cash_refund_store),
            subject: id(plan.cash_refund_store),
            description: "card sales refunded in cash".into(),
            evidence: Vec::new(),
        });
        truth.push(Injected {
            kind: "understaffed_peak".into(),
            store_id: id(plan.understaffed_store),
            subject: id(plan.understaffed_store),
            description: "a single cashier on the floor at every peak hour".into(),
            evidence: Vec::new(),
        });
        let (gs, gk) = plan.ghost;
        truth.push(Injected {
            kind: "ghost_inventory".into(),
            store_id: id(gs),
            subject: chain.products[gk].record.sku.to_string(),
            description: "counted as zero on day 2, never restocked, still selling: the system goes negative".into(),
            evidence: Vec::new(),
        });
        let (rs, register) = plan.refund_register;
        truth.push(Injected {
            kind: "register_refunds".into(),
            store_id: id(rs),
            subject: register_of(&chain.stores[rs], register).to_string(),
            description: "refunds without receipt rung on one register by whichever cashier is on it".into(),
            evidence: Vec::new(),
        });
        let (us, uk) = plan.unsold;
        truth.push(Injected {
            kind: "slow_mover".into(),
            store_id: id(us),
            subject: chain.products[uk].record.sku.to_string(),
            description: format!(
                "a good seller put away in the back room on day {}: in stock, never sold again",
                STOPS_SELLING_DAY + 1
            ),
            evidence: Vec::new(),
        });
        let (first, second) = plan.pair;
        let (a, b) = (chain.products[first].record.sku, chain.products[second].record.sku);
        let (a, b) = if a.as_str() < b.as_str() { (a, b) } else { (b, a) };
        truth.push(Injected {
            kind: "basket_pair".into(),
            store_id: String::new(),
            subject: format!("{a}+{b}"),
            description: "bought together: half the baskets holding the first take the second too".into(),
            evidence: Vec::new(),
        });
        if let Some(promo) = chain.promotions.iter().find(|p| Some(p.promo_id) == chain.unresponsive) {
            let on = match promo.target {
                PromoTarget::Category(c) | PromoTarget::Sku(c) => c,
            };
            for s in 0..n {
                truth.push(Injected {
                    kind: "promotion_loses_margin".into(),
                    store_id: id(s),
                    subject: promo.promo_id.to_string(),
                    description: format!(
                        "{}% off {on} for a week, and customers buy no more than at full price",
                        promo.discount_bp / 100
                    ),
                    evidence: Vec::new(),
                });
            }
        }
        for (s, day, department) in &plan.closed {
            let date = chain.config.start + chrono::Days::new(*day as u64);
            truth.push(Injected {
                kind: "sales_below_forecast".into(),
                store_id: id(*s),
                subject: id(*s),
                description: format!("{department} closed on {date}: the department sells nothing that day"),
                evidence: vec![date.to_string()],
            });
        }
        let on_hand = vec![vec![0; chain.products.len()]; n];
        Simulator {
            chain,
            plan,
            truth,
            pending: BTreeMap::new(),
            sequence: 0,
            on_hand,
            empty_shelves: Default::default(),
        }
    }

    pub fn ground_truth(&self) -> GroundTruth {
        let c = &self.chain.config;
        GroundTruth {
            seed: c.seed,
            stores: c.stores,
            days: c.days,
            start: c.start.to_string(),
            anomalies: self.truth.clone(),
            stockouts: self
                .empty_shelves
                .iter()
                .map(|(s, k, date)| StockOut {
                    store_id: self.chain.stores[*s].record.store_id.to_string(),
                    sku: self.chain.products[*k].record.sku.to_string(),
                    date: date.to_string(),
                })
                .collect(),
            promotions: self
                .chain
                .promotions
                .iter()
                .map(|p| PromotionLift {
                    promo_id: p.promo_id.to_string(),
                    lift_pct: 100.0 * (self.chain.response(p) - 1.0),
                })
                .collect(),
        }
    }

    fn emit(&mut self, arrival: i64, event: Event) {
        self.sequence += 1;
        self.pending.insert((arrival, self.sequence), event);
    }

    /// Simulates one business day in every store; returns the events that have arrived by the
    /// end of it (early next morning UTC), in arrival order.
    pub fn day(&mut self, day: u32) -> Vec<Event> {
        if day == 0 {
            self.opening_stock();
        }
        for s in 0..self.chain.stores.len() {
            let seed = self.chain.config.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ ((s as u64) << 20) ^ day as u64;
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            self.store_day(s, day, &mut rng);
        }
        if day == 10 {
            self.catalog_update(day);
        }
        let date = self.date(day) + chrono::Days::new(1);
        let cutoff = tillflow_schemas::time::date_to_day(date) as i64 * MILLIS_PER_DAY + 10 * HOUR;
        let last = day + 1 == self.chain.config.days;
        let keep =
            if last { self.pending.split_off(&(i64::MAX, u64::MAX)) } else { self.pending.split_off(&(cutoff, 0)) };
        std::mem::replace(&mut self.pending, keep).into_values().collect()
    }

    fn date(&self, day: u32) -> NaiveDate {
        self.chain.config.start + chrono::Days::new(day as u64)
    }

    /// The UTC instant of a local wall-clock time in a store's zone (skipping DST gaps forward).
    fn at(tz: Tz, date: NaiveDate, minutes: i64) -> i64 {
        let midnight = date.and_hms_opt(0, 0, 0).expect("midnight");
        let local = midnight + chrono::TimeDelta::minutes(minutes);
        tz.from_local_datetime(&local)
            .earliest()
            .or_else(|| tz.from_local_datetime(&(local + chrono::TimeDelta::hours(1))).earliest())
            .map_or(0, |t| t.timestamp_millis())
    }

    fn opening_stock(&mut self) {
        let date = self.date(0);
        for s in 0..self.chain.stores.len() {
            let store = &self.chain.stores[s];
            let ts = Self::at(store.record.timezone, date, 6 * 60);
            for (k, product) in self.chain.products.iter().enumerate() {
                let qty = stock_target(store, product);
                self.on_hand[s][k] = qty;
                let event = Event::Inventory(Inventory {
                    event_id: format!("{}-OPEN-{k:04}", store.record.store_id).into(),
                    ts,
                    store_id: store.record.store_id,
                    sku: product.record.sku,
                    kind: InventoryKind::Count,
                    qty,
                    unit_cost: None,
                });
                self.emit(ts, event);
            }
            // Numbered, not named after the card: an event id is kept where a card may not be.
            for (n, customer) in store.customers.iter().enumerate() {
                let event = Event::LoyaltyLink(LoyaltyLink {
                    event_id: format!("{}-LINK-{:05}", store.record.store_id, n + 1).into(),
                    ts: ts - HOUR,
                    store_id: Some(store.record.store_id),
                    customer_ref: customer.loyalty_ref.clone(),
                    customer_id: customer.customer_id,
                    consent: customer.consent,
                });
                self.emit(ts - HOUR, event);
            }
        }
    }

    /// Mid-run the catalog cost of a handful of products rises 6%.
    fn catalog_update(&mut self, day: u32) {
        let ts = tillflow_schemas::time::date_to_day(self.date(day)) as i64 * MILLIS_PER_DAY + 6 * HOUR;
        for (n, k) in (0..self.chain.products.len()).step_by(37).enumerate() {
            let mut record = self.chain.products[k].record.clone();
            record.unit_cost = Cents((record.unit_cost.0 as f64 * 1.06).round() as i64);
            record.event_id = Some(format!("CATALOG-{day}-{n}").into());
            record.ts = Some(ts);
            self.emit(ts, Event::Product(record));
        }
    }

    /// A store-day's trading hours and the transactions expected in each.
    fn traffic(&self, s: usize, day: u32) -> (Vec<u32>, Vec<f64>) {
        let store = &self.chain.stores[s];
        let weekday = self.date(day).weekday().num_days_from_monday();
        let weekday_factor = [0.92, 0.88, 0.95, 1.0, 1.15, 1.4, 1.2][weekday as usize];
        let hours: Vec<u32> = (store.open_hour..store.close_hour).collect();
        let expected = hours.iter().map(|h| 14.0 * store.size * weekday_factor * hour_curve(*h)).collect();
        (hours, expected)
    }

    /// A store-day's morning and evening crews: when each works (local minutes) and who (roster
    /// indexes), each sized for the busiest hour it covers.
    fn crews(&self, s: usize, day: u32) -> [(u32, u32, Vec<usize>); 2] {
        let store = &self.chain.stores[s];
        let (hours, expected) = self.traffic(s, day);
        let needed = |range: std::ops::Range<u32>| {
            hours
                .iter()
                .zip(&expected)
                .filter(|(h, _)| range.contains(h))
                .map(|(_, e)| (e / TRANSACTIONS_PER_CASHIER_HOUR).ceil() as usize)
                .max()
                .unwrap_or(1)
                .max(1)
        };
        let roster = store.cashiers.len();
        let crew = |c: usize, size: usize| {
            let size = if s == self.plan.understaffed_store { 1 } else { size.min(roster / 2).max(1) };
            (0..size).map(|i| (day as usize * 3 + c * (roster / 2) + i) % roster).collect()
        };
        [
            (store.open_hour * 60 - 30, 15 * 60, crew(0, needed(store.open_hour..15))),
            (14 * 60, store.close_hour * 60 + 20, crew(1, needed(14..store.close_hour))),
        ]
    }

    /// The cashiers on the crew working at `ts`, if it falls within the run.
    fn crew_at(&self, s: usize, ts: i64) -> Option<Vec<usize>> {
        let tz = self.chain.stores[s].record.timezone;
        let local = tz.timestamp_millis_opt(ts).single()?.date_naive();
        let day = u32::try_from((local - self.chain.config.start).num_days()).ok()?;
        (day < self.chain.config.days).then(|| {
            let [morning, evening] = self.crews(s, day);
            if local_hour(tz, ts) >= 15 { evening.2 } else { morning.2 }
        })
    }

    fn store_day(&mut self, s: usize, day: u32, rng: &mut ChaCha8Rng) {
        let chain = self.chain;
        let store: &StoreInfo = &chain.stores[s];
        let tz = store.record.timezone;
        let date = self.date(day);
        let store_id = store.record.store_id;
        let tag = format!("{store_id}-{}", date.format("%Y%m%d"));
        let mut counter = 0u32;
        let mut next_id = |kind: &str| {
            counter += 1;
            Text::from(format!("{tag}-{kind}{counter:05}"))
        };

        let (hours, expected) = self.traffic(s, day);
        let crews = self.crews(s, day);
        let roster = store.cashiers.len();
        for (start, end, crew) in &crews {
            for &k in crew {
                let jitter_in = rng.random_range(-10..5);
                let jitter_out = rng.random_range(-5..15);
                for (kind, minutes) in
                    [(ShiftKind::ClockIn, *start as i64 + jitter_in), (ShiftKind::ClockOut, *end as i64 + jitter_out)]
                {
                    let ts = Self::at(tz, date, minutes);
                    let event = Event::Shift(Shift {
                        event_id: next_id("H"),
                        ts,
                        store_id,
                        staff_id: store.cashiers[k],
                        role: "cashier".into(),
                        kind,
                    });
                    self.emit(ts + rng.random_range(0..3000), event);
                }
            }
        }
        let on_shift = crews.map(|(_, _, crew)| crew);

        // Sales, none in a department closed today.
        let closed =
            self.plan.closed.iter().find(|(cs, d, _)| *cs == s && *d == day).map(|(_, _, department)| *department);
        for (h, expected) in hours.iter().zip(&expected) {
            let crew = if *h < 15 { &on_shift[0] } else { &on_shift[1] };
            let count = poisson(rng, *expected);
            for _ in 0..count {
                let minutes = *h as i64 * 60 + rng.random_range(0..60);
                let ts = Self::at(tz, date, minutes) + rng.random_range(0..MINUTE);
                let cashier_index = crew[rng.random_range(0..crew.len())];
                self.sale(s, cashier_index, ts, closed, &mut next_id, rng);
            }
        }

        // Refunds without receipt, and (anomaly) refunds citing sales that never happened.
        let ordinary = poisson(rng, 0.6);
        let phantom = if s == self.plan.phantom_refund_store { poisson(rng, 1.2) } else { 0 };
        for n in 0..ordinary + phantom {
            let k = chain.draw_product(rng);
            let product = &chain.products[k].record;
            let ts = Self::at(tz, date, rng.random_range(9 * 60..20 * 60));
            let refund_id = next_id("R");
            let fake = n >= ordinary;
            let original = fake.then(|| Text::from(format!("T{tag}-X{n}")));
            if let Some(truth) = self.truth.iter_mut().find(|t| t.kind == "refund_without_sale").filter(|_| fake) {
                truth.evidence.push(refund_id.to_string());
            }
            let crew = &on_shift[usize::from(local_hour(tz, ts) >= 15)];
            let cashier = crew[rng.random_range(0..crew.len())];
            let event = Event::Refund(Refund {
                event_id: next_id("E"),
                ts,
                store_id,
                refund_id,
                register_id: register_of(store, home_register(cashier)),
                cashier_id: store.cashiers[cashier],
                original_transaction_id: original,
                lines: vec![RefundLine { sku: product.sku, qty: 1, amount: product.list_price }],
                tender_kind: if fake {
                    TenderKind::Card
                } else if rng.random_range(0.0..1.0) < 0.6 {
                    TenderKind::Cash
                } else {
                    TenderKind::StoreCredit
                },
                reason: Some(if fake { "defective" } else { "no receipt" }.into()),
            });
            self.emit(ts + rng.random_range(0..3000), event);
            self.on_hand[s][k] += 1;
        }

        // (Anomaly) refunds without receipt, to cash, all rung on one register.
        let (register_store, register) = self.plan.refund_register;
        let rung = if s == register_store { poisson(rng, 2.5) } else { 0 };
        for _ in 0..rung {
            let k = chain.draw_product(rng);
            let product = &chain.products[k].record;
            let ts = Self::at(tz, date, rng.random_range(9 * 60..20 * 60));
            let event = Event::Refund(Refund {
                event_id: next_id("E"),
                ts,
                store_id,
                refund_id: next_id("R"),
                register_id: register_of(store, register),
                cashier_id: store.cashiers[rng.random_range(0..roster)],
                original_transaction_id: None,
                lines: vec![RefundLine { sku: product.sku, qty: 1, amount: product.list_price }],
                tender_kind: TenderKind::Cash,
                reason: Some("no receipt".into()),
            });
            self.emit(ts + rng.random_range(0..3000), event);
            self.on_hand[s][k] += 1;
        }

        self.inventory_day(s, day, rng, &mut next_id);
        self.loyalty_day(s, day, rng, &mut next_id);
    }

    fn sale(
        &mut self,
        s: usize,
        cashier_index: usize,
        ts: i64,
        closed: Option<Id>,
        next_id: &mut impl FnMut(&str) -> Text,
        rng: &mut ChaCha8Rng,
    ) {
        let chain = self.chain;
        let store = &chain.stores[s];
        let cashier = store.cashiers[cashier_index];
        let voider = self.plan.void_cashier == (s, cashier_index);
        let abuser = self.plan.discount_cashier == (s, cashier_index);
        let transaction_id = next_id("T");
        let register_id = register_of(store, home_register(cashier_index));

        let basket = 1 + geometric(rng, 0.42).min(11);
        let mut lines: Vec<SaleLine> = Vec::with_capacity(basket);
        let mut skus = Vec::with_capacity(basket);
        for _ in 0..basket {
            let k = chain.draw_product(rng);
            let product = &chain.products[k].record;
            let promo = chain.promotion_for(product, ts);
            let qty = match rng.random_range(0..10) {
                0..7 => 1,
                7..9 => 2,
                _ => rng.random_range(3..5),
            };
            let qty = promo.map_or(qty, |p| respond(qty, chain.response(p), rng));
            if closed == Some(product.department) {
                continue;
            }
            // An empty shelf sells nothing, except where the system's count is what lies.
            let in_basket: i64 = lines.iter().zip(&skus).filter(|(_, sku)| **sku == k).map(|(l, _)| l.qty).sum();
            if self.on_hand[s][k] - in_basket < qty && self.plan.ghost != (s, k) {
                if self.on_hand[s][k] - in_basket <= 0 {
                    let tz = store.record.timezone;
                    if let Some(local) = tz.timestamp_millis_opt(ts).single() {
                        self.empty_shelves.insert((s, k, local.date_naive()));
                    }
                }
                continue;
            }
            if self.plan.unsold == (s, k) && ts >= self.day_start(STOPS_SELLING_DAY) {
                continue;
            }
            let gross = product.list_price.0 * qty;
            let mut discount = promo.map_or(0, |p| gross * p.discount_bp / 10_000);
            if promo.is_none() && abuser && rng.random_range(0.0..1.0) < 0.35 {
                discount = gross * rng.random_range(30..51) / 100;
            } else if promo.is_none() && rng.random_range(0.0..1.0) < 0.01 {
                discount = gross * rng.random_range(5..11) / 100;
            }
            lines.push(SaleLine {
                line_no: lines.len() as u32 + 1,
                sku: product.sku,
                qty,
                unit_price: product.list_price,
                discount: Cents(discount),
                promo_id: promo.map(|p| p.promo_id),
            });
            skus.push(k);
        }

        // The planted pair: half the baskets holding the first take the second too.
        let (first, second) = self.plan.pair;
        if skus.contains(&first)
            && !skus.contains(&second)
            && self.on_hand[s][second] > 0
            && closed != Some(chain.products[second].record.department)
            && rng.random_range(0..2) == 0
        {
            let product = &chain.products[second].record;
            let promo = chain.promotion_for(product, ts);
            lines.push(SaleLine {
                line_no: lines.len() as u32 + 1,
                sku: product.sku,
                qty: 1,
                unit_price: product.list_price,
                discount: Cents(promo.map_or(0, |p| product.list_price.0 * p.discount_bp / 10_000)),
                promo_id: promo.map(|p| p.promo_id),
            });
            skus.push(second);
        }

        if lines.is_empty() {
            return;
        }

        // A line voided before tender: an audit record, not part of the final sale.
        let line_void_rate = if voider { 0.22 } else { 0.02 };
        if rng.random_range(0.0..1.0) < line_void_rate {
            let k = chain.draw_product(rng);
            let product = &chain.products[k].record;
            let event = Event::Void(Void {
                event_id: next_id("V"),
                ts: ts - rng.random_range(5_000..40_000),
                store_id: store.record.store_id,
                transaction_id: transaction_id.clone(),
                register_id,
                cashier_id: cashier,
                scope: VoidScope::Line,
                lines: vec![VoidLine {
                    line_no: Some(lines.len() as u32 + 1),
                    sku: product.sku,
                    qty: 1,
                    unit_price: Some(product.list_price),
                }],
            });
            self.emit(ts + rng.random_range(0..3000), event);
        }

        let total: i64 = lines.iter().map(|l| l.unit_price.0 * l.qty - l.discount.0).sum();
        let tender_kind = match rng.random_range(0..100) {
            0..65 => TenderKind::Card,
            65..87 => TenderKind::Cash,
            87..96 => TenderKind::Wallet,
            96..99 => TenderKind::GiftCard,
            _ => TenderKind::StoreCredit,
        };
        let tenders = if tender_kind == TenderKind::Card && rng.random_range(0..100) < 3 && total > 500 {
            vec![
                Tender { kind: TenderKind::GiftCard, amount: Cents(500) },
                Tender { kind: TenderKind::Card, amount: Cents(total - 500) },
            ]
        } else {
            vec![Tender { kind: tender_kind, amount: Cents(total) }]
        };
        let customer_ref = (rng.random_range(0.0..1.0) < 0.55)
            .then(|| {
                let c = &store.customers;
                (0..4)
                    .map(|_| &c[rng.random_range(0..c.len())])
                    .max_by(|a, b| a.loyalty.total_cmp(&b.loyalty))
                    .map(|c| c.loyalty_ref.clone())
            })
            .flatten();

        let sold_as = transaction_id.clone();
        let late = rng.random_range(0..100) == 0;
        let arrival = if late { ts + rng.random_range(HOUR..6 * HOUR) } else { ts + rng.random_range(0..3000) };
        let sale = Sale {
            event_id: next_id("E"),
            ts,
            store_id: store.record.store_id,
            transaction_id: transaction_id.clone(),
            register_id,
            cashier_id: cashier,
            customer_ref,
            lines: lines.clone(),
            tenders,
            revision: None,
        };
        self.emit(arrival, Event::Sale(sale));

        let post_void_rate = if voider { 0.04 } else { 0.003 };
        if rng.random_range(0.0..1.0) < post_void_rate {
            let at = ts + rng.random_range(2 * MINUTE..15 * MINUTE);
            let event = Event::Void(Void {
                event_id: next_id("V"),
                ts: at,
                store_id: store.record.store_id,
                transaction_id,
                register_id,
                cashier_id: cashier,
                scope: VoidScope::Post,
                lines: Vec::new(),
            });
            self.emit(at + rng.random_range(0..3000), event);
            return;
        }
        for (line, k) in lines.iter().zip(&skus) {
            self.on_hand[s][*k] -= line.qty;
        }

        // Some sales come back within the run.
        let cash_store = s == self.plan.cash_refund_store;
        let refund_rate = if cash_store { 0.03 } else { 0.012 };
        let horizon = self.horizon();
        if rng.random_range(0.0..1.0) < refund_rate {
            let at = ts + rng.random_range(2 * HOUR..6 * 24 * HOUR);
            if at >= horizon {
                return;
            }
            let pick = rng.random_range(0..lines.len());
            let line = &lines[pick];
            let qty = rng.random_range(1..=line.qty.max(1));
            let amount = line.unit_price.0 * qty - line.discount.0 * qty / line.qty.max(1);
            let refund_id = next_id("R");
            let cash_for_card = cash_store && tender_kind == TenderKind::Card && rng.random_range(0.0..1.0) < 0.6;
            let refund_tender = if cash_for_card { TenderKind::Cash } else { tender_kind };
            let Some(crew) = self.crew_at(s, at) else { return };
            let refunder = crew[rng.random_range(0..crew.len())];
            let original_transaction_id = (rng.random_range(0..100) < 92).then_some(sold_as);
            // Without a receipt the refund cannot be tied to the card sale: an ordinary cash refund.
            if cash_for_card
                && original_transaction_id.is_some()
                && let Some(truth) = self.truth.iter_mut().find(|t| t.kind == "cash_refund_of_card_sale")
            {
                truth.evidence.push(refund_id.to_string());
            }
            let event = Event::Refund(Refund {
                event_id: next_id("E"),
                ts: at,
                store_id: store.record.store_id,
                refund_id,
                register_id: register_of(store, home_register(refunder)),
                cashier_id: store.cashiers[refunder],
                original_transaction_id,
                lines: vec![RefundLine { sku: line.sku, qty, amount: Cents(amount) }],
                tender_kind: refund_tender,
                reason: Some(
                    ["changed mind", "defective", "wrong size", "duplicate purchase"][rng.random_range(0..4)].into(),
                ),
            });
            self.emit(at + rng.random_range(0..3000), event);
            self.on_hand[s][skus[pick]] += qty;
        }
    }

    /// The UTC instant a day of the run begins.
    fn day_start(&self, day: u64) -> i64 {
        tillflow_schemas::time::date_to_day(self.chain.config.start + chrono::Days::new(day)) as i64 * MILLIS_PER_DAY
    }

    fn horizon(&self) -> i64 {
        self.day_start(self.chain.config.days as u64)
    }

    fn inventory_day(&mut self, s: usize, day: u32, rng: &mut ChaCha8Rng, next_id: &mut impl FnMut(&str) -> Text) {
        let chain = self.chain;
        let store = &chain.stores[s];
        let tz = store.record.timezone;
        let date = self.date(day);
        let weekday = date.weekday().num_days_from_monday();
        let week = day / 7;
        let store_id = store.record.store_id;
        let inventory = |event_id: Text, ts: i64, k: usize, kind: InventoryKind, qty: i64, unit_cost: Option<Cents>| {
            Event::Inventory(Inventory {
                event_id,
                ts,
                store_id,
                sku: chain.products[k].record.sku,
                kind,
                qty,
                unit_cost,
            })
        };
        let ghost_pair = self.plan.ghost;
        let ghost = |k: usize| ghost_pair == (s, k);

        if weekday == store.delivery_weekday {
            let ts = Self::at(tz, date, 6 * 60 + 15);
            for k in 0..chain.products.len() {
                let target = stock_target(store, &chain.products[k]);
                if ghost(k) || self.on_hand[s][k] >= target * 2 / 3 {
                    continue;
                }
                let qty = target - self.on_hand[s][k].max(0) + rng.random_range(0..6);
                let base = chain.products[k].record.unit_cost.0 as f64;
                let drift = 1.0 + 0.04 * ((week as f64) * 0.9 + k as f64).sin() + rng.random_range(-0.02..0.02);
                let cost = Cents((base * drift).round() as i64);
                let event = inventory(next_id("I"), ts, k, InventoryKind::Receipt, qty, Some(cost));
                self.emit(ts + rng.random_range(0..60_000), event);
                self.on_hand[s][k] += qty;
            }
        }
        // Sunday night cycle count of a quarter of the range, with a little shrink found.
        if weekday == 6 {
            let ts = Self::at(tz, date, 23 * 60);
            for k in (0..chain.products.len()).filter(|k| k % 4 == week as usize % 4 && !ghost(*k)) {
                let counted = (self.on_hand[s][k] - rng.random_range(0..3)).max(0);
                let event = inventory(next_id("I"), ts, k, InventoryKind::Count, counted, None);
                self.emit(ts + rng.random_range(0..60_000), event);
                self.on_hand[s][k] = counted;
            }
        }
        if day == 1 && self.plan.ghost.0 == s {
            let k = self.plan.ghost.1;
            let ts = Self::at(tz, date, 22 * 60 + 30);
            let event = inventory(next_id("I"), ts, k, InventoryKind::Count, 0, None);
            self.emit(ts, event);
            self.on_hand[s][k] = 0;
        }
        for _ in 0..poisson(rng, 1.5) {
            let k = chain.draw_product(rng);
            let ts = Self::at(tz, date, rng.random_range(9 * 60..21 * 60));
            // Damage found on the shelf: never more than is there.
            let qty = -rng.random_range(1..4i64).min(self.on_hand[s][k].max(0));
            if qty == 0 {
                continue;
            }
            let event = inventory(next_id("I"), ts, k, InventoryKind::Adjustment, qty, None);
            self.emit(ts + rng.random_range(0..3000), event);
            self.on_hand[s][k] += qty;
        }
        // Surplus goes to the previous store in the chain, which has already traded today, so
        // the goods arrive before it opens tomorrow.
        if s > 0 && rng.random_range(0.0..1.0) < 0.3 {
            let k = chain.draw_product(rng);
            let qty = rng.random_range(5..21i64).min(self.on_hand[s][k] / 2);
            if qty <= 0 {
                return;
            }
            let ts = Self::at(tz, date, 7 * 60);
            let event = inventory(next_id("I"), ts, k, InventoryKind::TransferOut, qty, None);
            self.emit(ts, event);
            self.on_hand[s][k] -= qty;
            let to = s - 1;
            let dest = &chain.stores[to];
            let arrives = Self::at(dest.record.timezone, date + chrono::Days::new(1), 7 * 60 + 30);
            if arrives < self.horizon() {
                let event = Event::Inventory(Inventory {
                    event_id: next_id("I"),
                    ts: arrives,
                    store_id: dest.record.store_id,
                    sku: chain.products[k].record.sku,
                    kind: InventoryKind::TransferIn,
                    qty,
                    unit_cost: None,
                });
                self.emit(arrives, event);
                self.on_hand[to][k] += qty;
            }
        }
    }

    fn loyalty_day(&mut self, s: usize, day: u32, rng: &mut ChaCha8Rng, next_id: &mut impl FnMut(&str) -> Text) {
        let store = &self.chain.stores[s];
        let date = self.date(day);
        let tz = store.record.timezone;
        if day > 0 && rng.random_range(0.0..1.0) < 0.05 {
            let c = &store.customers[rng.random_range(0..store.customers.len())];
            let ts = Self::at(tz, date, rng.random_range(9 * 60..21 * 60));
            let event = Event::LoyaltyLink(LoyaltyLink {
                event_id: next_id("L"),
                ts,
                store_id: Some(store.record.store_id),
                customer_ref: c.loyalty_ref.clone(),
                customer_id: c.customer_id,
                consent: false,
            });
            self.emit(ts + 1000, event);
        }
        if day > 0 && rng.random_range(0.0..1.0) < 0.03 {
            let c = &store.customers[rng.random_range(0..store.customers.len())];
            let ts = Self::at(tz, date, rng.random_range(9 * 60..21 * 60));
            let event =
                Event::Erasure(Erasure { event_id: next_id("X"), ts, store_id: None, customer_id: c.customer_id });
            self.emit(ts + 1000, event);
        }
    }
}

/// The store-local hour of an instant.
fn local_hour(tz: Tz, ts: i64) -> u32 {
    tz.timestamp_millis_opt(ts).single().map_or(0, |t| t.hour())
}

/// The stock a store keeps of a product: about two weeks of its sales, and three more on the shelf.
fn stock_target(store: &StoreInfo, product: &ProductInfo) -> i64 {
    (400.0 * store.size * product.popularity).round() as i64 + 3
}

/// The register a cashier works: one of four, by their place on the roster.
/// `qty` units at full price, as many times more on promotion: the whole part, and one more
/// with the chance of the fraction.
fn respond(qty: i64, response: f64, rng: &mut ChaCha8Rng) -> i64 {
    let units = qty as f64 * response;
    units.floor() as i64 + i64::from(rng.random_range(0.0..1.0) < units.fract())
}

/// The department that sells the most (by list price and popularity) closed for a day in two
/// stores, six and three days before the end, when three weeks come before the first.
fn closed_departments(chain: &Chain, first: usize, second: usize) -> Vec<(usize, u32, Id)> {
    let days = chain.config.days;
    if days < 27 {
        return Vec::new();
    }
    let takings = |p: &ProductInfo| p.popularity * p.record.list_price.0 as f64;
    let Some(department) = heaviest(&chain.products, |p| p.department, takings) else {
        return Vec::new();
    };
    let mut closed = vec![(first, days - 6, department)];
    if second != first {
        closed.push((second, days - 3, department));
    }
    closed
}

fn home_register(cashier_index: usize) -> u32 {
    1 + (cashier_index % 4) as u32
}

fn register_of(store: &StoreInfo, register: u32) -> Id {
    format!("{}-R{register}", store.record.store_id).as_str().into()
}

/// Relative traffic by local hour: a lunch peak and a larger after-work peak.
fn hour_curve(hour: u32) -> f64 {
    let h = hour as f64 + 0.5;
    let bump = |center: f64, width: f64| (-((h - center) / width).powi(2) / 2.0).exp();
    0.45 + 0.9 * bump(12.5, 1.3) + 1.2 * bump(17.8, 1.5)
}

/// Poisson draw (Knuth for small means, normal approximation above 30).
pub fn poisson(rng: &mut ChaCha8Rng, mean: f64) -> u32 {
    if mean <= 0.0 {
        return 0;
    }
    if mean > 30.0 {
        let u1: f64 = rng.random_range(f64::EPSILON..1.0);
        let u2: f64 = rng.random_range(0.0..1.0);
        let normal = (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos();
        return (mean + mean.sqrt() * normal).round().max(0.0) as u32;
    }
    let limit = (-mean).exp();
    let mut product: f64 = rng.random_range(0.0..1.0);
    let mut count = 0;
    while product > limit {
        product *= rng.random_range(0.0..1.0f64);
        count += 1;
    }
    count
}

fn geometric(rng: &mut ChaCha8Rng, p: f64) -> usize {
    let mut n = 0;
    while rng.random_range(0.0..1.0) > p && n < 64 {
        n += 1;
    }
    n
}
