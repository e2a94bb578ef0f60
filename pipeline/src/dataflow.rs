//! The dataflow: inputs, then one call per view, then the sinks that capture each view's changes.

use std::any::Any;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::sync::Arc;

use arrow::array::RecordBatch;
use differential_dataflow::Hashable;
use differential_dataflow::input::Input;
use tillflow_operators::{
    CatalogCost, ProductRec, SaleRec, VoidRec, basket_affinity, category_daily, customer_segments, exceptions,
    inventory_position, labor_demand, products, promotion_performance, promotions, refund_void_anomalies,
    register_anomalies, replenishment, rule_breaks, sales, sku_days, sku_margin, store_daily, stores, watermark,
};
use tillflow_schemas::time::{ALLOWED_LATENESS_MS, RETENTION_MS};
use tillflow_schemas::views::{
    BasketAffinity, CategoryDaily, CustomerSegment, DeadLetter, Exception, InventoryPosition, LaborDemand,
    ProductRecord, PromotionPerformance, PromotionRecord, PromotionSummary, PurchaseSuggestion, RefundVoidAnomaly,
    RegisterAnomaly, Replenishment, RuleBreak, SegmentProfile, SkuMargin, StoreDaily, StoreRecord, ViewRow,
};
use tillflow_schemas::{Day, Millis};
use timely::dataflow::operators::probe::Handle;

use crate::flatten::{Inputs, Watermark};
use crate::persist::Dirty;
use crate::profile::{OperatorClock, Profile, Stages};
use crate::source::{Counts, Epoch, IngestStream, Ingested};

/// Which views a graph computes, and the settings of their definitions; the defaults (every
/// view) are the ones the reference definitions use.
#[derive(Clone, Copy, Debug)]
pub struct Tuning {
    /// The views kept: captured, persisted and served.
    pub views: ViewSet,
    /// Transactions one person on the clock should handle in an hour (`labor_demand`).
    pub labor_target: i64,
    /// The baskets a pair of SKUs needs in common to be a row of `basket_affinity`.
    pub affinity_min_baskets: i64,
    /// The business days of `basket_affinity`'s window (the watermark day included).
    pub affinity_window_days: Day,
    /// The days of the 28 a store must have traded before `replenishment` judges its slow movers.
    pub slow_judged_days: i64,
    /// How far the watermark trails the latest event time.
    pub allowed_lateness_ms: Millis,
    /// Events dated longer than this before the latest event are dead letters.
    pub retention_ms: Millis,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning {
            views: ViewSet::ALL,
            labor_target: labor_demand::TARGET_TRANSACTIONS_PER_LABOR_HOUR,
            affinity_min_baskets: basket_affinity::MIN_BASKETS_BOTH,
            affinity_window_days: basket_affinity::WINDOW_DAYS,
            slow_judged_days: replenishment::SLOW_JUDGED_DAYS,
            allowed_lateness_ms: ALLOWED_LATENESS_MS,
            retention_ms: RETENTION_MS,
        }
    }
}

/// A choice among the views a user can ask for (every one by default). A view that a chosen view
/// reads is computed too (`exceptions` reads ten), but only the chosen ones are kept;
/// `dead_letters` and the reference tables (`stores`) always are. `customer_segments` and `segment_profiles` are computed together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ViewSet(u32);

impl ViewSet {
    /// The views one can choose, in the order the graph builds them.
    pub const NAMES: [&'static str; 16] = [
        CustomerSegment::NAME,
        SegmentProfile::NAME,
        SkuMargin::NAME,
        InventoryPosition::NAME,
        RuleBreak::NAME,
        RefundVoidAnomaly::NAME,
        RegisterAnomaly::NAME,
        LaborDemand::NAME,
        StoreDaily::NAME,
        CategoryDaily::NAME,
        BasketAffinity::NAME,
        PromotionPerformance::NAME,
        PromotionSummary::NAME,
        Replenishment::NAME,
        PurchaseSuggestion::NAME,
        Exception::NAME,
    ];
    pub const ALL: ViewSet = ViewSet(u32::MAX);

    /// Tables every run keeps, which a list may name too.
    pub const ALWAYS_KEPT: [&'static str; 3] = [StoreRecord::NAME, ProductRecord::NAME, PromotionRecord::NAME];

    /// A comma-separated list of view names, e.g. `sku_margin,exceptions`.
    pub fn parse(list: &str) -> Result<ViewSet, String> {
        let (mut set, mut named) = (0u32, false);
        for name in list.split(',').map(str::trim).filter(|name| !name.is_empty()) {
            named = true;
            if Self::ALWAYS_KEPT.contains(&name) {
                continue;
            }
            let Some(i) = Self::NAMES.iter().position(|known| *known == name) else {
                return Err(format!("`{name}` is not a view; choose among {}", Self::NAMES.join(", ")));
            };
            set |= 1 << i;
        }
        match named {
            false => Err(format!("name at least one view among {}", Self::NAMES.join(", "))),
            true => Ok(ViewSet(set)),
        }
    }

    /// Whether the view called `name` is kept: it was chosen, or it is not a choice (`dead_letters`).
    pub fn has(self, name: &str) -> bool {
        Self::NAMES.iter().position(|known| *known == name).is_none_or(|i| self.0 & (1 << i) != 0)
    }

    /// Whether the view called `name` is computed: kept, or read by a view that is.
    fn computes(self, name: &str) -> bool {
        let read_by_exceptions = [
            SkuMargin::NAME,
            RefundVoidAnomaly::NAME,
            RegisterAnomaly::NAME,
            LaborDemand::NAME,
            StoreDaily::NAME,
            CategoryDaily::NAME,
        ];
        match name {
            RuleBreak::NAME => self.has(name) || self.computes(RefundVoidAnomaly::NAME),
            SkuMargin::NAME => {
                self.has(name)
                    || self.has(Exception::NAME)
                    || self.has(StoreDaily::NAME)
                    || self.has(CategoryDaily::NAME)
            }
            PromotionPerformance::NAME => {
                self.has(name) || self.has(PromotionSummary::NAME) || self.has(Exception::NAME)
            }
            Replenishment::NAME => self.has(name) || self.has(PurchaseSuggestion::NAME) || self.has(Exception::NAME),
            InventoryPosition::NAME => self.has(name) || self.computes(Replenishment::NAME),
            CustomerSegment::NAME | SegmentProfile::NAME => {
                self.has(CustomerSegment::NAME) || self.has(SegmentProfile::NAME)
            }
            name if read_by_exceptions.contains(&name) => self.has(name) || self.has(Exception::NAME),
            name => self.has(name),
        }
    }
}

impl Default for ViewSet {
    fn default() -> Self {
        ViewSet::ALL
    }
}

/// A change to a view: the row, the epoch it took effect, +1 or −1.
pub type Update<Row> = (Row, Epoch, isize);

/// What a run produced: every view's changes (in graph order, `dead_letters` last) and the counts.
/// In a cluster, process 0 holds the views and the counts of every process; another process,
/// no views and its own counts.
#[derive(Default)]
pub struct Output {
    pub views: Vec<Box<dyn ViewChanges>>,
    pub counts: Counts,
    /// The distinct epochs the input spanned.
    pub epochs: u64,
    /// With profiling: the time this process's workers spent in each stage of the graph.
    pub profile: Profile,
}

impl Output {
    /// The changes of the view whose rows are `R`.
    pub fn changes<R: ViewRow + 'static>(&self) -> &[Update<R>] {
        self.views.iter().find_map(|v| v.as_any().downcast_ref::<Changes<R>>()).map_or(&[], |c| &c.0)
    }
}

/// One view's captured changes, whatever its row type.
pub trait ViewChanges: Send {
    fn name(&self) -> &'static str;
    fn partition(&self) -> Option<&'static str>;
    /// The view after every change, as Arrow.
    fn into_batch(self: Box<Self>) -> RecordBatch;
    fn as_any(&self) -> &dyn Any;
    fn into_any(self: Box<Self>) -> Box<dyn Any>;
    /// An empty state of the same view, to apply changes to.
    fn new_state(&self) -> Box<dyn ViewState>;
    /// Adds `newer` changes of the same view, keeping one net change per row (at the latest
    /// epoch): the final rows stay, the epochs in between are forgotten.
    fn fold(&mut self, newer: Box<dyn ViewChanges>);
}

/// A view's current rows, kept up to date by applying its changes epoch by epoch (live mode).
pub trait ViewState: Send {
    fn name(&self) -> &'static str;
    /// Applies the changes and says what they touched (nothing if they cancel out or there are none).
    fn apply(&mut self, changes: Box<dyn ViewChanges>) -> Dirty;
    fn rows(&self) -> usize;
    /// The view as Arrow, a batch per business day (one for a view without days); only the days
    /// changed since the last call are rebuilt.
    fn batches(&mut self) -> Vec<RecordBatch>;
}

/// The rows of a view with their multiplicities, by business day.
pub struct State<R> {
    days: BTreeMap<Option<Day>, DayRows<R>>,
    rows: isize,
}

/// One business day's rows, and their Arrow form once built.
type DayRows<R> = (BTreeMap<R, isize>, Option<RecordBatch>);

impl<R: ViewRow + Ord + Clone + Send + 'static> ViewState for State<R> {
    fn name(&self) -> &'static str {
        R::NAME
    }

    fn apply(&mut self, changes: Box<dyn ViewChanges>) -> Dirty {
        let Ok(changes) = changes.into_any().downcast::<Changes<R>>() else { return Dirty::Clean };
        let (mut days, mut undated) = (std::collections::BTreeSet::new(), false);
        for (row, _, diff) in changes.0 {
            if diff == 0 {
                continue;
            }
            let day = row.business_date();
            match day {
                Some(day) => days.insert(day),
                None => std::mem::replace(&mut undated, true),
            };
            let (rows, batch) = self.days.entry(day).or_default();
            *batch = None;
            self.rows += diff;
            let count = rows.entry(row.clone()).or_default();
            *count += diff;
            if *count == 0 {
                rows.remove(&row);
            }
        }
        self.days.retain(|_, (rows, _)| !rows.is_empty());
        match (undated, days.is_empty()) {
            (true, _) => Dirty::Whole,
            (false, true) => Dirty::Clean,
            (false, false) => Dirty::Days(days),
        }
    }

    fn rows(&self) -> usize {
        self.rows.max(0) as usize
    }

    fn batches(&mut self) -> Vec<RecordBatch> {
        let build = |rows: &BTreeMap<R, isize>| {
            let rows: Vec<R> =
                rows.iter().flat_map(|(row, n)| std::iter::repeat_n(row.clone(), (*n).max(0) as usize)).collect();
            R::to_batch(&rows)
        };
        self.days.values_mut().map(|(rows, batch)| batch.get_or_insert_with(|| build(rows)).clone()).collect()
    }
}

/// The changes of a view with rows `R`.
pub struct Changes<R>(pub Vec<Update<R>>);

impl<R: ViewRow + Ord + Clone + Send + 'static> ViewChanges for Changes<R> {
    fn name(&self) -> &'static str {
        R::NAME
    }

    fn partition(&self) -> Option<&'static str> {
        R::PARTITION
    }

    fn into_batch(self: Box<Self>) -> RecordBatch {
        R::to_batch(&consolidate(self.0))
    }

    fn as_any(&self) -> &dyn Any {
        self
    }

    fn into_any(self: Box<Self>) -> Box<dyn Any> {
        self
    }

    fn new_state(&self) -> Box<dyn ViewState> {
        Box::new(State::<R> { days: BTreeMap::new(), rows: 0 })
    }

    fn fold(&mut self, newer: Box<dyn ViewChanges>) {
        if let Ok(newer) = newer.into_any().downcast::<Changes<R>>() {
            self.0.extend(newer.0);
        }
        let latest = self.0.iter().map(|(_, epoch, _)| *epoch).max().unwrap_or_default();
        self.0.iter_mut().for_each(|(_, epoch, _)| *epoch = latest);
        differential_dataflow::consolidation::consolidate_updates(&mut self.0);
    }
}

/// Drains the changes a view's sink captured since the last call (on worker 0; empty elsewhere).
pub type Capture = Box<dyn Fn() -> Box<dyn ViewChanges>>;

/// How many closed epochs may still be in progress while the next is fed.
const EPOCHS_IN_FLIGHT: usize = 8;

/// Produces the ingest stream; called once, on worker 0.
pub type IngestFactory = Arc<dyn Fn() -> Box<dyn IngestStream> + Send + Sync>;

/// The graph as built on one worker, and the one way every driver (a batch run, live mode, the
/// benchmarks) moves it on: push records into `inputs`, [`close`](Graph::close) the epoch,
/// [`settle`](Graph::settle) it, [`drain`](Graph::drain) the views' changes, and at the end
/// [`finish`](Graph::finish).
pub struct Graph {
    pub inputs: Inputs,
    /// One per view kept, `dead_letters` last.
    pub captures: Vec<Capture>,
    /// The sum of every count fed to `inputs.counts` (on worker 0; zero elsewhere).
    pub counts: Rc<RefCell<Counts>>,
    /// The operators of each view, and of what the views share.
    pub stages: Stages,
    /// Follows every view's output, gathered on worker 0.
    probe: Handle<Epoch>,
}

impl Graph {
    /// Ends the epochs before `next`: no more input at them.
    pub fn close(&mut self, next: Epoch) {
        self.inputs.close(next);
    }

    /// Steps this worker until every view's output has passed the epochs before `next`.
    pub fn settle(&self, worker: &mut timely::worker::Worker, next: Epoch) {
        worker.step_while(|| self.probe.less_than(&next));
    }

    /// Closes the epochs before `next` and settles them.
    pub fn advance(&mut self, worker: &mut timely::worker::Worker, next: Epoch) {
        self.close(next);
        self.settle(worker, next);
    }

    /// Every kept view's changes since the last drain (on worker 0; empty elsewhere).
    pub fn drain(&self) -> Vec<Box<dyn ViewChanges>> {
        self.captures.iter().map(|capture| capture()).collect()
    }

    /// Ends the input and runs the graph to completion.
    pub fn finish(self, worker: &mut timely::worker::Worker) -> Finished {
        drop(self.inputs);
        while worker.step_or_park(None) {}
        let views = self.captures.iter().map(|capture| capture()).collect();
        Finished { views, counts: *self.counts.borrow(), stages: self.stages }
    }
}

/// A graph run to completion: what was left to drain of each kept view (on worker 0), the counts
/// (on worker 0) and the graph's stages.
pub struct Finished {
    pub views: Vec<Box<dyn ViewChanges>>,
    pub counts: Counts,
    pub stages: Stages,
}

/// Builds the whole graph on this worker. Every view is
/// exchanged by key inside, so results do not depend on the worker or process count; each view's
/// output changes are gathered on worker 0.
pub fn build(worker: &mut timely::worker::Worker, tuning: Tuning) -> Graph {
    let probe = Handle::new();
    let mut captures: Vec<Capture> = Vec::new();
    let counted = Rc::new(RefCell::new(Counts::default()));
    let sink = Rc::clone(&counted);
    let mut stages = Stages::dataflow(worker);
    let inputs = worker.dataflow::<Epoch, _, _>(|scope| {
        let mut begin = |name| stages.begin(name, scope.worker());
        begin("inputs");
        let (sales_in, sales) = scope.new_collection();
        let (refunds_in, refunds) = scope.new_collection();
        let (voids_in, voids) = scope.new_collection::<VoidRec, isize>();
        let (shifts_in, shifts) = scope.new_collection();
        let (stores_in, stores) = scope.new_collection();
        let (receipts_in, receipts) = scope.new_collection();
        let (products_in, products) = scope.new_collection::<ProductRec, isize>();
        let (promotions_in, promotions) = scope.new_collection();
        let (inventory_in, inventory) = scope.new_collection();
        let (links_in, links) = scope.new_collection();
        let (erasures_in, erasures) = scope.new_collection();
        let (latest_in, latest) = scope.new_collection();
        let (dead_letters_in, dead_letters) = scope.new_collection::<DeadLetter, isize>();
        let (counts_in, counts) = scope.new_collection::<Counts, isize>();

        begin("stores, watermark, sales that count, sku days");
        // Sales are fed on one worker: spread them, so that every worker maps the sales of its
        // share of transactions (as their arrangement by transaction wants them anyway).
        let sales = spread(sales, |s: &SaleRec| (s.store_id, s.transaction).hashed());
        let stores = stores::current_stores(stores);
        let store_records = stores::stores(stores.clone());
        let catalog = products.clone().map(|p| CatalogCost {
            sku: p.sku,
            ts: p.ts,
            event_id: p.event_id,
            unit_cost: p.unit_cost,
            department: p.department,
        });
        let product_records = products::products(products);
        let promotion_records = promotions::promotions(promotions);
        let watermark_at = watermark::watermark(latest, tuning.allowed_lateness_ms);
        let watermark_days = watermark::store_days(stores.clone(), watermark_at.clone());
        let sales = sales::sales(sales, voids.clone());
        let days = sku_days::sku_days(sales.effective.clone(), refunds.clone());

        let views = tuning.views;
        let segments = views.computes(CustomerSegment::NAME).then(|| {
            begin(CustomerSegment::NAME);
            customer_segments::customer_segments(
                sales.effective.clone(),
                catalog.clone(),
                links,
                erasures,
                watermark_at.clone(),
            )
        });
        let margins = views.computes(SkuMargin::NAME).then(|| {
            begin(SkuMargin::NAME);
            sku_margin::sku_margin(&days, receipts, catalog)
        });
        let stock = views.computes(InventoryPosition::NAME).then(|| {
            begin(InventoryPosition::NAME);
            inventory_position::inventory_position(&days, inventory, watermark_days.clone())
        });
        let breaks = views.computes(RuleBreak::NAME).then(|| {
            begin(RuleBreak::NAME);
            rule_breaks::rule_breaks(sales.by_transaction, sales.effective.clone(), refunds.clone(), voids.clone())
        });
        let anomalies = breaks.clone().filter(|_| views.computes(RefundVoidAnomaly::NAME)).map(|breaks| {
            begin(RefundVoidAnomaly::NAME);
            refund_void_anomalies::refund_void_anomalies(
                sales.effective.clone(),
                voids.clone(),
                refunds.clone(),
                breaks,
                stores.clone(),
            )
        });
        let registers = views.computes(RegisterAnomaly::NAME).then(|| {
            begin(RegisterAnomaly::NAME);
            register_anomalies::register_anomalies(
                sales.effective.clone(),
                voids.clone(),
                refunds.clone(),
                stores.clone(),
            )
        });
        let store_days = margins.clone().filter(|_| views.computes(StoreDaily::NAME)).map(|margins| {
            begin(StoreDaily::NAME);
            store_daily::store_daily(margins, sales.effective.clone(), refunds.clone())
        });
        let category_days = margins.clone().filter(|_| views.computes(CategoryDaily::NAME)).map(|margins| {
            begin(CategoryDaily::NAME);
            category_daily::category_daily(margins, product_records.clone())
        });
        let affinity = views.computes(BasketAffinity::NAME).then(|| {
            begin(BasketAffinity::NAME);
            basket_affinity::basket_affinity(
                sales.effective.clone(),
                stores.clone(),
                watermark_days.clone(),
                tuning.affinity_min_baskets,
                tuning.affinity_window_days,
            )
        });
        let promotion_days = views.computes(PromotionPerformance::NAME).then(|| {
            begin(PromotionPerformance::NAME);
            promotion_performance::promotion_performance(
                sales.effective.clone(),
                &days,
                promotion_records.clone(),
                product_records.clone(),
                stores.clone(),
            )
        });
        let promotion_totals = promotion_days.clone().filter(|_| views.computes(PromotionSummary::NAME)).map(|days| {
            begin(PromotionSummary::NAME);
            promotion_performance::promotion_summary(days)
        });
        let replenishment = stock.clone().filter(|_| views.computes(Replenishment::NAME)).map(|stock| {
            begin(Replenishment::NAME);
            replenishment::replenishment(
                stock,
                &days,
                watermark_days.clone(),
                product_records.clone(),
                promotion_records.clone(),
                stores.clone(),
                tuning.slow_judged_days,
            )
        });
        let suggestions = replenishment.clone().filter(|_| views.computes(PurchaseSuggestion::NAME)).map(|rows| {
            begin(PurchaseSuggestion::NAME);
            replenishment::purchase_suggestions(rows)
        });
        let labor = views.computes(LaborDemand::NAME).then(|| {
            begin(LaborDemand::NAME);
            labor_demand::labor_demand(sales.effective, refunds, shifts, watermark_at, tuning.labor_target)
        });
        let read = (
            &anomalies,
            &registers,
            &breaks,
            &labor,
            &margins,
            &stock,
            &store_days,
            &category_days,
            &promotion_days,
            &replenishment,
        );
        let exceptions = match read {
            (
                Some(anomalies),
                Some(registers),
                Some(breaks),
                Some(labor),
                Some(margins),
                Some(stock),
                Some(store_days),
                Some(category_days),
                Some(promotion_days),
                Some(replenishment),
            ) if views.has(Exception::NAME) => {
                begin(Exception::NAME);
                let sources = exceptions::Sources {
                    anomalies: anomalies.clone(),
                    registers: registers.clone(),
                    rule_breaks: breaks.clone(),
                    labor: labor.clone(),
                    margins: margins.clone(),
                    stock: stock.clone(),
                    store_days: store_days.clone(),
                    category_days: category_days.clone(),
                    promotion_days: promotion_days.clone(),
                    replenishment: replenishment.clone(),
                    today: watermark_days,
                };
                Some(exceptions::exceptions(sources, stores))
            }
            _ => None,
        };

        begin("sinks");
        let (segments, profiles) = segments.unzip();
        capture(views, segments, &probe, &mut captures);
        capture(views, profiles, &probe, &mut captures);
        capture(views, margins, &probe, &mut captures);
        capture(views, stock, &probe, &mut captures);
        capture(views, breaks, &probe, &mut captures);
        capture(views, anomalies, &probe, &mut captures);
        capture(views, registers, &probe, &mut captures);
        capture(views, labor, &probe, &mut captures);
        capture(views, exceptions, &probe, &mut captures);
        capture(views, store_days, &probe, &mut captures);
        capture(views, category_days, &probe, &mut captures);
        capture(views, affinity, &probe, &mut captures);
        capture(views, promotion_days, &probe, &mut captures);
        capture(views, promotion_totals, &probe, &mut captures);
        capture(views, replenishment, &probe, &mut captures);
        capture(views, suggestions, &probe, &mut captures);
        capture(views, Some(store_records), &probe, &mut captures);
        capture(views, Some(product_records), &probe, &mut captures);
        capture(views, Some(promotion_records), &probe, &mut captures);
        capture(views, Some(dead_letters), &probe, &mut captures);
        sum_on_worker_0(counts, &probe, sink);

        Inputs {
            sales: sales_in,
            refunds: refunds_in,
            voids: voids_in,
            shifts: shifts_in,
            stores: stores_in,
            receipts: receipts_in,
            products: products_in,
            promotions: promotions_in,
            inventory: inventory_in,
            links: links_in,
            erasures: erasures_in,
            latest: latest_in,
            dead_letters: dead_letters_in,
            counts: counts_in,
            watermark: Watermark::new(tuning.allowed_lateness_ms),
            retention: crate::retention::Retention::new(tuning.retention_ms),
        }
    });
    Graph { inputs, captures, counts: counted, stages, probe }
}

/// The same collection, its records sent to the workers by `hash`.
fn spread<'s, D: differential_dataflow::ExchangeData>(
    records: differential_dataflow::VecCollection<'s, Epoch, D>,
    hash: impl Fn(&D) -> u64 + 'static,
) -> differential_dataflow::VecCollection<'s, Epoch, D> {
    use differential_dataflow::AsCollection;
    use timely::dataflow::operators::Exchange;
    records.inner.exchange(move |(record, _, _)| hash(record)).as_collection()
}

/// Where a run's graph runs: this process, or a timely cluster of processes (one `host:port`
/// per process, the same list for all) of which this is the `process`-th.
#[derive(Clone, Debug, Default)]
pub struct Processes {
    pub hosts: Vec<String>,
    pub process: usize,
}

impl Processes {
    pub fn count(&self) -> usize {
        self.hosts.len().max(1)
    }

    fn config(&self, workers: usize) -> timely::Config {
        if self.hosts.len() <= 1 {
            return timely::Config::process(workers);
        }
        let communication = timely::CommunicationConfig::Cluster {
            threads: workers,
            process: self.process,
            addresses: self.hosts.clone(),
            report: false,
            zerocopy: false,
        };
        timely::Config { communication, worker: timely::WorkerConfig::default() }
    }
}

/// What a run keeps and measures besides every view's final rows.
#[derive(Clone, Copy, Debug, Default)]
pub struct Detail {
    /// Keep every epoch's changes (to compare runs epoch by epoch); otherwise the changes are
    /// folded as the run goes, one net change per row.
    pub epochs: bool,
    /// Time each stage of the graph (see [`crate::profile`]).
    pub profile: bool,
}

/// How many epochs pass between foldings of the captured changes, when they are not all kept.
const EPOCHS_PER_FOLD: u64 = 48;

/// Runs the whole graph over one ingest stream with `workers` threads, to completion. In a
/// cluster, every process runs this with its own share of the input.
pub fn run(
    workers: usize,
    processes: &Processes,
    tuning: Tuning,
    ingest: IngestFactory,
    detail: Detail,
) -> Result<Output, String> {
    let workers = workers.max(1);
    let processes_count = processes.count();
    let config = processes.config(workers);
    let guards = timely::execute(config, move |worker| {
        let clock = detail.profile.then(|| OperatorClock::install(worker));
        let mut graph = build(worker, tuning);
        let fold_here = !detail.epochs && worker.index() == 0;
        let mut folded: Vec<Box<dyn ViewChanges>> = if fold_here { graph.drain() } else { Vec::new() };
        let fold = |folded: &mut Vec<Box<dyn ViewChanges>>, newer: Vec<Box<dyn ViewChanges>>| {
            for (view, newer) in folded.iter_mut().zip(newer) {
                view.fold(newer);
            }
        };

        let mut output = Output::default();
        if worker.index() % workers == 0 {
            let mut current: Option<Epoch> = None;
            let mut recent = std::collections::VecDeque::with_capacity(EPOCHS_IN_FLIGHT + 1);
            let (items, reader) = read_ahead(Arc::clone(&ingest));
            // The dead letters fed, by origin: a log replay may take one back (it was retried).
            let mut letters = std::collections::HashMap::new();
            for chunk in items.iter() {
                for item in chunk {
                    match item {
                        Ingested::Dead(letter) => {
                            letters.insert((letter.source.clone(), letter.position), letter.clone());
                            graph.inputs.dead_letters.insert(letter)
                        }
                        Ingested::Retried { source, position } => {
                            if let Some(letter) = letters.remove(&(source, position)) {
                                graph.inputs.dead_letters.remove(letter);
                            }
                        }
                        Ingested::Known(event) => graph.inputs.learn(&event),
                        Ingested::Settled(settled) => graph.inputs.restore(settled),
                        Ingested::Held { .. } => {}
                        Ingested::Accepted { epoch, event, business_date, replaces } => {
                            if current.is_none_or(|c| epoch > c) {
                                // Close the epochs before this one; let all but the last few settle,
                                // so the graph works on several epochs at once while memory stays bounded.
                                graph.close(epoch);
                                recent.push_back(epoch);
                                if recent.len() > EPOCHS_IN_FLIGHT {
                                    graph.settle(worker, recent.pop_front().unwrap_or(epoch));
                                } else {
                                    worker.step();
                                }
                                current = Some(epoch);
                                output.epochs += 1;
                                if fold_here && output.epochs % EPOCHS_PER_FOLD == 0 {
                                    fold(&mut folded, graph.drain());
                                }
                            }
                            if let Some(earlier) = replaces {
                                graph.inputs.supersede(&earlier);
                            }
                            graph.inputs.push(event, business_date);
                        }
                    }
                }
                // Let the closed epochs progress while the next chunk is read.
                worker.step();
            }
            graph.inputs.expire();
            graph.inputs.publish_watermark();
            output.counts = reader.join().map_err(|_| "the input reader failed".to_string())?;
            // In a cluster, what one process skipped another received: the owners count it.
            let skipped = if processes_count > 1 { 0 } else { output.counts.skipped };
            graph.inputs.counts.insert(Counts { skipped, ..output.counts });
        }
        let finished = graph.finish(worker);

        if let Some(clock) = clock {
            output.profile = clock.profile(worker, &finished.stages);
        }
        if worker.index() == 0 {
            output.counts = finished.counts;
            output.views = match fold_here {
                true => {
                    fold(&mut folded, finished.views);
                    folded
                }
                false => finished.views,
            };
        }
        Ok::<Output, String>(output)
    })?;

    // This process's first worker fed the input; on process 0 it is worker 0, holding the views.
    let mut outputs = guards.join().into_iter().map(Result::flatten);
    let mut output = outputs.next().ok_or_else(|| "no workers ran".to_string())??;
    for other in outputs {
        output.profile.add(other?.profile);
    }
    Ok(output)
}

/// Reads and parses on a thread of its own, in chunks, so parsing overlaps the dataflow's work.
/// The thread ends with the stream's counts.
fn read_ahead(ingest: IngestFactory) -> (std::sync::mpsc::Receiver<Vec<Ingested>>, std::thread::JoinHandle<Counts>) {
    const CHUNK: usize = 4096;
    let (send, receive) = std::sync::mpsc::sync_channel(16);
    let reader = std::thread::spawn(move || {
        let mut stream = ingest();
        loop {
            let chunk: Vec<Ingested> = stream.by_ref().take(CHUNK).collect();
            if chunk.is_empty() || send.send(chunk).is_err() {
                return stream.counts();
            }
        }
    });
    (receive, reader)
}

/// Adds up every count fed on any worker, on worker 0.
fn sum_on_worker_0(
    counts: differential_dataflow::VecCollection<'_, Epoch, Counts>,
    probe: &Handle<Epoch>,
    sum: Rc<RefCell<Counts>>,
) {
    use timely::dataflow::operators::{Exchange, Inspect, Probe};
    counts
        .inner
        .exchange(|_| 0)
        .inspect(move |(counts, _, n)| {
            for _ in 0..*n {
                *sum.borrow_mut() += *counts;
            }
        })
        .probe_with(probe);
}

/// Captures every change of a view on worker 0, to be drained (consolidated) by the driver; a
/// view not computed, or not kept, is not captured.
fn capture<'s, Row>(
    views: ViewSet,
    view: Option<differential_dataflow::VecCollection<'s, Epoch, Row>>,
    probe: &Handle<Epoch>,
    captures: &mut Vec<Capture>,
) where
    Row: ViewRow + differential_dataflow::ExchangeData + std::hash::Hash + Send,
{
    let Some(view) = view.filter(|_| views.has(Row::NAME)) else { return };
    use timely::dataflow::operators::{Exchange, Inspect, Probe};
    let changes = Rc::new(RefCell::new(Vec::new()));
    let sink = Rc::clone(&changes);
    view.inner
        .exchange(|_| 0)
        .inspect_core(move |event| {
            if let Ok((_, batch)) = event {
                sink.borrow_mut().extend(batch.iter().cloned());
            }
        })
        .probe_with(probe);
    captures.push(Box::new(move || {
        let mut drained = changes.take();
        differential_dataflow::consolidation::consolidate_updates(&mut drained);
        Box::new(Changes::<Row>(drained))
    }));
}

/// The state of a view at the end of each epoch in `epochs`, from its changes.
pub fn states_at<Row: Ord + Clone>(changes: &[Update<Row>], epochs: &[Epoch]) -> Vec<Vec<Row>> {
    epochs
        .iter()
        .map(|at| {
            let upto: Vec<(Row, Epoch, isize)> = changes.iter().filter(|(_, t, _)| t <= at).cloned().collect();
            consolidate(upto)
        })
        .collect()
}

/// The final state of a view: rows whose changes sum to a positive count (each repeated by it).
pub fn consolidate<Row: Ord + Clone>(mut changes: Vec<Update<Row>>) -> Vec<Row> {
    changes.sort_by(|a, b| a.0.cmp(&b.0));
    let mut rows = Vec::new();
    let mut i = 0;
    while i < changes.len() {
        let mut j = i;
        let mut count = 0;
        while j < changes.len() && changes[j].0 == changes[i].0 {
            count += changes[j].2;
            j += 1;
        }
        for _ in 0..count.max(0) {
            rows.push(changes[i].0.clone());
        }
        i = j;
    }
    rows
}
