//! The chain's fixed cast: stores, products, promotions, customers, staff.

use chrono::NaiveDate;
use chrono_tz::Tz;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tillflow_schemas::time::{MILLIS_PER_DAY, date_to_day};
use tillflow_schemas::{Cents, Event, Id, Product, PromoTarget, Promotion, Store, Supply, Text};

#[derive(Clone, Debug)]
pub struct ChainConfig {
    pub stores: u32,
    pub days: u32,
    pub seed: u64,
    /// The first business day (a Monday by default).
    pub start: NaiveDate,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig { stores: 10, days: 28, seed: 1, start: NaiveDate::from_ymd_opt(2026, 3, 2).expect("a date") }
    }
}

/// Regions with the time zone their stores keep.
const REGIONS: &[(&str, &str)] = &[
    ("East", "America/New_York"),
    ("Central", "America/Chicago"),
    ("Mountain", "America/Denver"),
    ("West", "America/Los_Angeles"),
];

const STORES_PER_DISTRICT: u32 = 5;

const TOWNS: &[&str] = &[
    "Riverside",
    "Oak Park",
    "Fairview",
    "Lakeside",
    "Hillcrest",
    "Maple Grove",
    "Westfield",
    "Brookside",
    "Cedar Falls",
    "Georgetown",
    "Springdale",
    "Ashland",
    "Clinton",
    "Franklin",
    "Greenville",
    "Madison",
];

/// (category, typical price in cents, cost ratio).
type Category = (&'static str, i64, f64);

/// Departments and their categories.
const DEPARTMENTS: &[(&str, &[Category])] = &[
    ("Grocery", &[("Pantry", 349, 0.68), ("Snacks", 299, 0.62), ("Beverages", 249, 0.60), ("Frozen", 499, 0.70)]),
    ("Produce", &[("Fruit", 199, 0.55), ("Vegetables", 149, 0.52)]),
    ("Dairy", &[("Milk & Eggs", 389, 0.74), ("Cheese", 549, 0.66)]),
    ("Bakery", &[("Bread", 329, 0.45), ("Pastry", 399, 0.40)]),
    ("Household", &[("Cleaning", 699, 0.63), ("Paper Goods", 1199, 0.70)]),
    ("Health & Beauty", &[("Personal Care", 599, 0.55), ("Pharmacy OTC", 899, 0.60)]),
    ("Electronics", &[("Accessories", 1999, 0.58), ("Small Appliances", 4999, 0.72)]),
    ("Apparel", &[("Basics", 1299, 0.42), ("Seasonal", 2499, 0.45)]),
];

/// Who each department orders from (none: the products name no supplier) and in how many days.
const SUPPLY: &[(&str, Option<&str>, i64)] = &[
    ("Grocery", Some("Northline Foods"), 4),
    ("Produce", Some("Valley Fresh"), 1),
    ("Dairy", Some("Valley Fresh"), 2),
    ("Bakery", None, 1),
    ("Household", Some("Brightway Supply"), 5),
    ("Health & Beauty", Some("Brightway Supply"), 5),
    ("Electronics", None, 7),
    ("Apparel", Some("Threadworks"), 10),
];

/// How a product of a department and list price is reordered: its department's supplier and lead
/// time, in cases of 12 under 5.00, of 6 under 15.00, else by the unit.
fn supply_of(department: &str, list_price: i64) -> Supply {
    let (_, supplier, lead_time_days) =
        SUPPLY.iter().find(|(name, _, _)| *name == department).expect("every department has its supply");
    let case_pack = if list_price < 500 {
        12
    } else if list_price < 1500 {
        6
    } else {
        1
    };
    Supply { supplier: supplier.map(Id::from), lead_time_days: Some(*lead_time_days), case_pack: Some(case_pack) }
}

const SKUS_PER_CATEGORY: u32 = 12;

#[derive(Clone, Debug)]
pub struct StoreInfo {
    pub record: Store,
    /// Traffic relative to an average store.
    pub size: f64,
    pub open_hour: u32,
    pub close_hour: u32,
    pub cashiers: Vec<Id>,
    pub customers: Vec<Customer>,
    /// The weekday (0 = Monday) deliveries arrive.
    pub delivery_weekday: u32,
}

#[derive(Clone, Debug)]
pub struct Customer {
    pub loyalty_ref: Text,
    pub customer_id: Id,
    pub consent: bool,
    /// How often they shop, relative to others.
    pub loyalty: f64,
}

#[derive(Clone, Debug)]
pub struct ProductInfo {
    pub record: Product,
    /// Relative demand (a long tail: a few SKUs sell most).
    pub popularity: f64,
}

#[derive(Clone, Debug)]
pub struct Chain {
    pub config: ChainConfig,
    pub stores: Vec<StoreInfo>,
    pub products: Vec<ProductInfo>,
    /// Cumulative popularity, for weighted draws.
    pub popularity_cdf: Vec<f64>,
    pub promotions: Vec<Promotion>,
    /// A promotion customers do not respond to (the discount sells no more units), on the
    /// busiest category in the last full week, when the chain has two weeks before it.
    pub unresponsive: Option<Id>,
}

/// Units sold on promotion, relative to full price: 1 + this × the discount (10% off sells 50%
/// more), except on the unresponsive promotion.
pub const PROMOTION_RESPONSE: f64 = 5.0;

/// The unresponsive promotion's discount, in basis points.
pub const UNRESPONSIVE_DISCOUNT_BP: i64 = 2000;

/// The `key` (category, department) whose products' `weight` sums the highest (the last of
/// equals).
pub fn heaviest<'a>(
    products: impl IntoIterator<Item = &'a ProductInfo>,
    key: impl Fn(&Product) -> Id,
    weight: impl Fn(&ProductInfo) -> f64,
) -> Option<Id> {
    let mut sums: Vec<(Id, f64)> = Vec::new();
    for p in products {
        let (k, w) = (key(&p.record), weight(p));
        match sums.iter_mut().find(|(s, _)| *s == k) {
            Some((_, sum)) => *sum += w,
            None => sums.push((k, w)),
        }
    }
    sums.into_iter().max_by(|a, b| a.1.total_cmp(&b.1)).map(|(k, _)| k)
}

impl Chain {
    pub fn new(config: ChainConfig) -> Chain {
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut products = Vec::new();
        for (department, categories) in DEPARTMENTS {
            for (category, price, cost_ratio) in *categories {
                for n in 0..SKUS_PER_CATEGORY {
                    let index = products.len() + 1;
                    let list_price = ((*price as f64) * rng.random_range(0.5..2.2)).round() as i64 / 10 * 10 + 9;
                    // Every 25th product is a loss leader: sold near cost, below it on promotion.
                    let ratio = if index % 25 == 0 { 0.93 } else { cost_ratio * rng.random_range(0.85..1.15) };
                    let unit_cost = (list_price as f64 * ratio).round() as i64;
                    products.push(ProductInfo {
                        record: Product {
                            event_id: None,
                            ts: None,
                            sku: format!("SKU-{index:04}").into(),
                            name: format!("{category} item {}", n + 1),
                            category: (*category).into(),
                            department: (*department).into(),
                            unit_cost: Cents(unit_cost),
                            list_price: Cents(list_price),
                            supply: supply_of(department, list_price),
                        },
                        popularity: 1.0 / (1.0 + (rng.random_range(0.0..1.0f64) * 40.0)),
                    });
                }
            }
        }
        let mut total = 0.0;
        let popularity_cdf = products
            .iter()
            .map(|p| {
                total += p.popularity;
                total
            })
            .collect();

        let stores = (0..config.stores)
            .map(|i| {
                let district = i / STORES_PER_DISTRICT;
                let (region, tz) = REGIONS[(district as usize) % REGIONS.len()];
                let store_id: Id = format!("S{:03}", i + 1).into();
                let size = rng.random_range(0.6..1.6);
                let cashiers =
                    (0..(6.0 + size * 6.0) as u32).map(|c| format!("{store_id}-K{:02}", c + 1).into()).collect();
                let customers = (0..(250.0 * size) as u32)
                    .map(|c| Customer {
                        loyalty_ref: format!("L{}{:05}", &store_id[1..], c + 1).into(),
                        customer_id: format!("C{}{:05}", &store_id[1..], c + 1).into(),
                        consent: rng.random_range(0.0..1.0) < 0.9,
                        loyalty: rng.random_range(0.2..3.0f64).powi(2),
                    })
                    .collect();
                StoreInfo {
                    record: Store {
                        event_id: None,
                        ts: None,
                        store_id,
                        name: format!("{} #{}", TOWNS[i as usize % TOWNS.len()], i + 1),
                        district: format!("D{:02}", district + 1).into(),
                        region: region.into(),
                        timezone: tz.parse::<Tz>().expect("a known zone"),
                    },
                    size,
                    open_hour: 8,
                    close_hour: 22,
                    cashiers,
                    customers,
                    delivery_weekday: rng.random_range(0..5),
                }
            })
            .collect();

        // A promotion a week on a few SKUs and one category, each running the week.
        let mut promotions = Vec::new();
        let start_ms = date_to_day(config.start) as i64 * MILLIS_PER_DAY;
        for week in 0..config.days.div_ceil(7) {
            let from = start_ms + week as i64 * 7 * MILLIS_PER_DAY;
            for n in 0..6 {
                let target = if n == 0 {
                    let (_, categories) = DEPARTMENTS[rng.random_range(0..DEPARTMENTS.len())];
                    PromoTarget::Category(categories[rng.random_range(0..categories.len())].0.into())
                } else if n == 1 {
                    PromoTarget::Sku(products[25 * rng.random_range(1..=products.len() / 25) - 1].record.sku)
                } else {
                    PromoTarget::Sku(products[rng.random_range(0..products.len())].record.sku)
                };
                promotions.push(Promotion {
                    event_id: None,
                    ts: None,
                    promo_id: format!("P{:03}-{}", week + 1, n + 1).into(),
                    target,
                    start: from,
                    end: from + 7 * MILLIS_PER_DAY - 1,
                    discount_bp: [1000, 1500, 2000, 2500, 3000][rng.random_range(0..5)],
                });
            }
        }
        let unresponsive = Self::unresponsive_promotion(&config, &products, &mut promotions);
        Chain { config, stores, products, popularity_cdf, promotions, unresponsive }
    }

    /// Adds the unresponsive promotion: the last full week, on the category that sells the most
    /// units (other than that week's category promotion), if two weeks come before it.
    fn unresponsive_promotion(
        config: &ChainConfig,
        products: &[ProductInfo],
        promotions: &mut Vec<Promotion>,
    ) -> Option<Id> {
        let week = (config.days / 7).checked_sub(1).filter(|week| *week >= 2)?;
        let from = date_to_day(config.start) as i64 * MILLIS_PER_DAY + week as i64 * 7 * MILLIS_PER_DAY;
        let taken: Vec<Id> = promotions
            .iter()
            .filter(|p| p.start == from)
            .filter_map(|p| match p.target {
                PromoTarget::Category(c) => Some(c),
                PromoTarget::Sku(_) => None,
            })
            .collect();
        let open = products.iter().filter(|p| !taken.contains(&p.record.category));
        let category = heaviest(open, |p| p.category, |p| p.popularity)?;
        let promo_id: Id = format!("P{:03}-0", week + 1).into();
        promotions.push(Promotion {
            event_id: None,
            ts: None,
            promo_id,
            target: PromoTarget::Category(category),
            start: from,
            end: from + 7 * MILLIS_PER_DAY - 1,
            discount_bp: UNRESPONSIVE_DISCOUNT_BP,
        });
        Some(promo_id)
    }

    /// How many times the units of full price a line on `promo` sells.
    pub fn response(&self, promo: &Promotion) -> f64 {
        match self.unresponsive == Some(promo.promo_id) {
            true => 1.0,
            false => 1.0 + PROMOTION_RESPONSE * promo.discount_bp as f64 / 10_000.0,
        }
    }

    /// Draws a SKU index by popularity.
    pub fn draw_product(&self, rng: &mut ChaCha8Rng) -> usize {
        let total = *self.popularity_cdf.last().unwrap_or(&1.0);
        let x = rng.random_range(0.0..total);
        self.popularity_cdf.partition_point(|c| *c <= x).min(self.products.len() - 1)
    }

    /// The promotion applying to a SKU at an instant, if any (the deepest one).
    pub fn promotion_for(&self, product: &Product, ts: i64) -> Option<&Promotion> {
        self.promotions
            .iter()
            .filter(|p| p.start <= ts && ts <= p.end)
            .filter(|p| match &p.target {
                PromoTarget::Sku(s) => *s == product.sku,
                PromoTarget::Category(c) => *c == product.category,
            })
            .max_by_key(|p| p.discount_bp)
    }

    /// Reference records: stores, products, promotions (in effect from the beginning).
    pub fn reference_events(&self) -> Vec<Event> {
        let stores = self.stores.iter().map(|s| Event::Store(s.record.clone()));
        let products = self.products.iter().map(|p| Event::Product(p.record.clone()));
        let promotions = self.promotions.iter().map(|p| Event::Promotion(p.clone()));
        stores.chain(products).chain(promotions).collect()
    }
}
