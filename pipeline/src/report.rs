//! `tillflow report`: the district manager's morning report, from the persisted views.
//!
//! Exceptions of one business day ranked by severity, per store, with their evidence; each
//! store's day against its forecast, the promotions selling, the day's draft orders and the
//! registers standing out from their store's others; and
//! three charts: each cashier's 7-day line-void rate against the district median, staff on the
//! clock against the staff required by hour, and the worst margins. HTML (self-contained: inline
//! CSS and SVG, no scripts), Markdown, or the exceptions as CSV.

use std::fmt::Write;

use arrow::array::RecordBatch;
use arrow::util::display::array_value_to_string;
use datafusion::prelude::SessionContext;

use crate::{Error, Result, sql};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Html,
    Md,
    Csv,
}

/// The severities, most severe first.
const SEVERITIES: [&str; 3] = ["high", "medium", "low"];

/// Low-severity exceptions listed per store before the rest are only counted.
const LOW_SHOWN: usize = 8;

/// Rows as text, by column name.
pub(crate) struct Rows {
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<Vec<String>>,
}

impl Rows {
    pub(crate) fn of(batches: &[RecordBatch]) -> Result<Rows> {
        let columns =
            batches.first().map_or_else(Vec::new, |b| b.schema().fields().iter().map(|f| f.name().clone()).collect());
        let mut rows = Vec::new();
        for batch in batches {
            for row in 0..batch.num_rows() {
                let cells = batch
                    .columns()
                    .iter()
                    .map(|c| if c.is_null(row) { Ok(String::new()) } else { array_value_to_string(c, row) })
                    .collect::<Result<Vec<_>, _>>()?;
                rows.push(cells);
            }
        }
        Ok(Rows { columns, rows })
    }

    pub(crate) fn get<'a>(&self, row: &'a [String], column: &str) -> &'a str {
        self.columns.iter().position(|c| c == column).map_or("", |i| row[i].as_str())
    }

    pub(crate) fn number(&self, row: &[String], column: &str) -> f64 {
        self.get(row, column).parse().unwrap_or(0.0)
    }
}

pub(crate) async fn rows(ctx: &SessionContext, query: &str) -> Result<Rows> {
    Rows::of(&sql::query(ctx, query).await?)
}

/// What the report shows, gathered from the views.
struct Report {
    district: String,
    date: String,
    exceptions: Rows,
    /// Each store's day (`store_daily`).
    days: Rows,
    /// The promotions selling that day, over the district's stores and their days so far
    /// (`promotion_performance`).
    promotions: Rows,
    /// The draft orders of that day, when it is the stores' current day (`purchase_suggestions`).
    orders: Rows,
    cashiers: Rows,
    /// The registers flagged that day against their store's other registers (`register_anomalies`).
    registers: Rows,
    staffing: Rows,
    margins: Rows,
}

/// Builds the report of `district` for `date` (default: the district's latest business day with sales).
pub async fn report(ctx: &SessionContext, district: &str, date: Option<&str>, format: ReportFormat) -> Result<String> {
    let quoted = district.replace('\'', "''");
    let stores =
        rows(ctx, &format!("SELECT DISTINCT store_id FROM refund_void_anomalies WHERE district = '{quoted}'")).await?;
    if stores.rows.is_empty() {
        let known = rows(ctx, "SELECT DISTINCT district FROM refund_void_anomalies ORDER BY district").await?;
        let known = known.rows.iter().map(|r| r[0].clone()).collect();
        return Err(Error::NoDistrict { district: district.to_string(), known });
    }
    let in_district = format!("store_id IN (SELECT store_id FROM refund_void_anomalies WHERE district = '{quoted}')");
    let date = match date {
        Some(d) => {
            chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| Error::NotADate(d.to_string()))?.to_string()
        }
        None => {
            let latest =
                rows(ctx, &format!("SELECT CAST(MAX(business_date) AS VARCHAR) FROM sku_margin WHERE {in_district}"))
                    .await?;
            latest
                .rows
                .first()
                .map(|r| r[0].clone())
                .filter(|d| !d.is_empty())
                .ok_or_else(|| Error::NoSales(district.to_string()))?
        }
    };
    let on_date = format!("business_date = DATE '{date}'");
    let report = Report {
        district: district.to_string(),
        date: date.clone(),
        exceptions: rows(ctx, &format!(
            "SELECT store_id, severity, kind, subject, CAST(amount AS VARCHAR) AS amount, evidence, exception_id FROM exceptions \
             WHERE district = '{quoted}' AND {on_date} \
             ORDER BY store_id, CASE severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1 ELSE 2 END, kind, amount, subject"
        )).await?,
        days: rows(ctx, &format!(
            "SELECT store_id, transactions, net_sales, avg_basket, forecast_net_sales, deviation_pct FROM store_daily \
             WHERE {in_district} AND {on_date} ORDER BY store_id"
        )).await?,
        promotions: rows(ctx, &format!(
            "SELECT promo_id, SUM(promo_units) AS units, SUM(baseline_units) AS baseline, \
             SUM(CAST(incremental_margin AS DOUBLE)) AS incremental_margin, SUM(CAST(margin_erosion AS DOUBLE)) AS erosion \
             FROM promotion_performance WHERE {in_district} AND business_date <= DATE '{date}' AND promo_id IN \
             (SELECT promo_id FROM promotion_performance WHERE {in_district} AND {on_date}) \
             GROUP BY promo_id ORDER BY incremental_margin, promo_id"
        )).await?,
        orders: rows(ctx, &format!(
            "SELECT store_id, order_group, CAST(skus AS VARCHAR) AS skus, CAST(units AS VARCHAR) AS units, \
             CAST(cost AS VARCHAR) AS cost, COALESCE(CAST(earliest_stockout_date AS VARCHAR), '—') AS earliest \
             FROM purchase_suggestions WHERE {in_district} AND {on_date} ORDER BY store_id, earliest_stockout_date, order_group"
        )).await?,
        cashiers: rows(ctx, &format!(
            "SELECT store_id, cashier_id, line_void_rate, line_void_rate_median, flags FROM refund_void_anomalies \
             WHERE district = '{quoted}' AND {on_date} AND line_void_rate IS NOT NULL ORDER BY line_void_rate DESC, store_id, cashier_id"
        )).await?,
        registers: rows(ctx, &format!(
            "SELECT store_id, register_id, transactions_7d, cashiers_7d, refund_rate, refund_rate_others, \
             line_void_rate, line_void_rate_others, flags FROM register_anomalies \
             WHERE district = '{quoted}' AND {on_date} AND flagged ORDER BY store_id, register_id"
        )).await?,
        staffing: rows(ctx, &format!(
            "SELECT store_id, hour, staff_on_clock, required_staff, status FROM labor_demand WHERE {in_district} AND {on_date} ORDER BY store_id, hour"
        )).await?,
        margins: rows(ctx, &format!(
            "SELECT store_id, sku, CAST(gross_margin AS DOUBLE) AS margin, CAST(net_sales AS DOUBLE) AS net_sales FROM sku_margin \
             WHERE {in_district} AND {on_date} ORDER BY gross_margin, store_id, sku LIMIT 10"
        )).await?,
    };
    Ok(match format {
        ReportFormat::Html => report.html(),
        ReportFormat::Md => report.markdown(),
        ReportFormat::Csv => report.csv(),
    })
}

pub(crate) fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// One store's part of the report: the rows shown, the low ones only counted, counts by severity.
struct StoreExceptions<'a> {
    store: &'a str,
    shown: Vec<&'a Vec<String>>,
    hidden: usize,
    counts: [usize; 3],
}

impl Report {
    /// Exceptions per store, most severe first; low ones beyond [`LOW_SHOWN`] only counted.
    fn by_store(&self) -> Vec<StoreExceptions<'_>> {
        // Rows come ordered by store, then severity.
        let mut stores: Vec<StoreExceptions<'_>> = Vec::new();
        for row in &self.exceptions.rows {
            let store = self.exceptions.get(row, "store_id");
            if stores.last().is_none_or(|s| s.store != store) {
                stores.push(StoreExceptions { store, shown: Vec::new(), hidden: 0, counts: [0; 3] });
            }
            let section = stores.last_mut().expect("just pushed");
            let severity = SEVERITIES.iter().position(|s| *s == self.exceptions.get(row, "severity")).unwrap_or(2);
            section.counts[severity] += 1;
            if severity == 2 && section.counts[2] > LOW_SHOWN {
                section.hidden += 1;
            } else {
                section.shown.push(row);
            }
        }
        stores.sort_by_key(|s| (std::cmp::Reverse(s.counts[0]), std::cmp::Reverse(s.counts[1]), s.store));
        stores
    }

    fn severity_counts(&self) -> [usize; 3] {
        SEVERITIES.map(|s| self.exceptions.rows.iter().filter(|r| self.exceptions.get(r, "severity") == s).count())
    }

    fn html(&self) -> String {
        let [high, medium, low] = self.severity_counts();
        let mut out = String::new();
        let _ = write!(
            out,
            "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>tillflow — district {d}, {date}</title>\n<style>{CSS}</style></head><body>\n\
             <h1>District {d} — morning report for {date}</h1>\n\
             <p class=\"summary\"><span class=\"high\">{high} high</span> · <span class=\"medium\">{medium} medium</span> · <span class=\"low\">{low} low</span> exceptions</p>\n",
            d = escape(&self.district),
            date = self.date,
        );
        out.push_str("<h2>Exceptions by store</h2>\n");
        if self.exceptions.rows.is_empty() {
            out.push_str("<p>No exceptions on this day.</p>\n");
        }
        for StoreExceptions { store, shown: rows, hidden, .. } in self.by_store() {
            let _ = write!(
                out,
                "<h3>{}</h3>\n<table><tr><th>severity</th><th>kind</th><th>subject</th><th>amount</th><th>evidence</th></tr>\n",
                escape(store)
            );
            for row in rows {
                let e = &self.exceptions;
                let severity = e.get(row, "severity");
                let _ = writeln!(
                    out,
                    "<tr><td class=\"{severity}\">{severity}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td><td>{}</td></tr>",
                    escape(e.get(row, "kind")),
                    escape(e.get(row, "subject")),
                    escape(e.get(row, "amount")),
                    escape(e.get(row, "evidence"))
                );
            }
            out.push_str("</table>\n");
            if hidden > 0 {
                let _ = writeln!(out, "<p class=\"more\">and {hidden} more low-severity exceptions</p>");
            }
        }
        out.push_str("<h2>Each store's day against its forecast</h2>\n<table><tr><th>store</th><th>transactions</th><th>net sales</th><th>average basket</th><th>forecast</th><th>against forecast</th></tr>\n");
        for [store, transactions, net, basket, forecast, deviation] in self.store_days() {
            let class = if deviation.starts_with('-') { " class=\"medium\"" } else { "" };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"num\">{transactions}</td><td class=\"num\">{net}</td><td class=\"num\">{basket}</td><td class=\"num\">{forecast}</td><td class=\"num\"><span{class}>{deviation}</span></td></tr>",
                escape(&store)
            );
        }
        out.push_str("</table>\n");
        out.push_str("<h2>Promotions selling today: lift and margin so far</h2>\n<table><tr><th>promotion</th><th>units</th><th>baseline units</th><th>lift</th><th>incremental margin</th><th>margin erosion</th></tr>\n");
        for [promo, units, baseline, lift, incremental, erosion] in self.promotion_lines() {
            let class = if incremental.starts_with('-') { " class=\"medium\"" } else { "" };
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td class=\"num\">{units}</td><td class=\"num\">{baseline}</td><td class=\"num\">{lift}</td><td class=\"num\"><span{class}>{incremental}</span></td><td class=\"num\">{erosion}</td></tr>",
                escape(&promo)
            );
        }
        out.push_str("</table>\n");
        out.push_str("<h2>Draft orders for the day, soonest stock-out first</h2>\n<table><tr><th>store</th><th>order to</th><th>SKUs</th><th>units</th><th>cost</th><th>first stock-out</th></tr>\n");
        for cells in self.order_lines() {
            let cells = cells.map(|c| escape(&c));
            let [store, group, skus, units, cost, earliest] = cells;
            let _ = writeln!(
                out,
                "<tr><td>{store}</td><td>{group}</td><td class=\"num\">{skus}</td><td class=\"num\">{units}</td><td class=\"num\">{cost}</td><td>{earliest}</td></tr>"
            );
        }
        out.push_str("</table>\n");
        out.push_str("<h2>Registers standing out from their store's other registers (7 days)</h2>\n<table><tr><th>store</th><th>register</th><th>transactions (cashiers)</th><th>refund rate (others)</th><th>line-void rate (others)</th><th>flagged</th></tr>\n");
        for cells in self.register_lines() {
            let [store, register, transactions, refunds, voids, flags] = cells.map(|c| escape(&c));
            let _ = writeln!(
                out,
                "<tr><td>{store}</td><td>{register}</td><td class=\"num\">{transactions}</td><td class=\"num\">{refunds}</td><td class=\"num\">{voids}</td><td>{flags}</td></tr>"
            );
        }
        out.push_str("</table>\n");
        out.push_str("<h2>Line-void rate by cashier (7 days) against the district median</h2>\n");
        out.push_str(&self.void_chart());
        out.push_str("<h2>Staff on the clock against staff required, by hour</h2>\n<div class=\"grid\">\n");
        let mut store_names: Vec<&str> = self.staffing.rows.iter().map(|r| self.staffing.get(r, "store_id")).collect();
        store_names.dedup();
        for store in store_names {
            out.push_str(&self.staffing_chart(store));
        }
        out.push_str("</div>\n<h2>Worst margins</h2>\n");
        out.push_str(&self.margin_chart());
        out.push_str("<p class=\"foot\">Made by tillflow from its persisted views.</p>\n</body></html>\n");
        out
    }

    /// Each store's day as the cells a table shows: figures to the cent, the deviation to a
    /// tenth of a percent, "—" where there is none (no sales, no forecast).
    fn store_days(&self) -> Vec<[String; 6]> {
        let d = &self.days;
        let figure = |row: &[String], column: &str, decimals: usize, suffix: &str| match d.get(row, column) {
            "" => "—".to_string(),
            text => text.parse::<f64>().map_or(text.to_string(), |v| format!("{v:.decimals$}{suffix}")),
        };
        d.rows
            .iter()
            .map(|r| {
                [
                    d.get(r, "store_id").to_string(),
                    d.get(r, "transactions").to_string(),
                    d.get(r, "net_sales").to_string(),
                    figure(r, "avg_basket", 2, ""),
                    figure(r, "forecast_net_sales", 2, ""),
                    figure(r, "deviation_pct", 1, "%"),
                ]
            })
            .collect()
    }

    /// Each promotion selling on the day, summed over the district's stores and its days so far:
    /// units against the baseline, the lift to a tenth of a percent ("—" without a baseline),
    /// incremental margin and erosion to the cent.
    fn promotion_lines(&self) -> Vec<[String; 6]> {
        let p = &self.promotions;
        p.rows
            .iter()
            .map(|r| {
                let (units, baseline) = (p.number(r, "units"), p.number(r, "baseline"));
                let lift = if baseline > 0.0 {
                    format!("{:.1}%", (units - baseline) / baseline * 100.0)
                } else {
                    "—".into()
                };
                [
                    p.get(r, "promo_id").to_string(),
                    format!("{units:.0}"),
                    format!("{baseline:.2}"),
                    lift,
                    format!("{:.2}", p.number(r, "incremental_margin")),
                    format!("{:.2}", p.number(r, "erosion")),
                ]
            })
            .collect()
    }

    /// Each draft order as the cells a table shows: the query's six columns, already text.
    fn order_lines(&self) -> Vec<[String; 6]> {
        self.orders.rows.iter().map(|r| r.clone().try_into().expect("the orders query selects six columns")).collect()
    }

    /// Each flagged register as the cells a table shows: its 7-day transactions with the cashiers
    /// who worked it, and its refund and line-void rates beside the other registers'.
    fn register_lines(&self) -> Vec<[String; 6]> {
        let g = &self.registers;
        let pct = |row: &[String], column: &str| match g.get(row, column) {
            "" => "—".to_string(),
            _ => format!("{:.1}%", 100.0 * g.number(row, column)),
        };
        g.rows
            .iter()
            .map(|r| {
                [
                    g.get(r, "store_id").to_string(),
                    g.get(r, "register_id").to_string(),
                    format!("{} ({})", g.get(r, "transactions_7d"), g.get(r, "cashiers_7d")),
                    format!("{} ({})", pct(r, "refund_rate"), pct(r, "refund_rate_others")),
                    format!("{} ({})", pct(r, "line_void_rate"), pct(r, "line_void_rate_others")),
                    g.get(r, "flags").replace(',', ", "),
                ]
            })
            .collect()
    }

    fn void_chart(&self) -> String {
        let c = &self.cashiers;
        let bars: Vec<(String, f64, bool)> = c
            .rows
            .iter()
            .take(24)
            .map(|r| {
                (
                    format!("{} {}", c.get(r, "store_id"), c.get(r, "cashier_id")),
                    c.number(r, "line_void_rate"),
                    c.get(r, "flags").contains("line_void_rate"),
                )
            })
            .collect();
        let median = c.rows.first().map(|r| c.number(r, "line_void_rate_median"));
        horizontal_bars(&bars, median.map(|m| ("district median", m)), |v| format!("{:.1}%", 100.0 * v))
    }

    fn staffing_chart(&self, store: &str) -> String {
        let s = &self.staffing;
        let hours: Vec<(i64, f64, f64, bool)> = s
            .rows
            .iter()
            .filter(|r| s.get(r, "store_id") == store)
            .map(|r| {
                (
                    s.number(r, "hour") as i64,
                    s.number(r, "staff_on_clock"),
                    s.number(r, "required_staff"),
                    s.get(r, "status") == "understaffed",
                )
            })
            .collect();
        let (width, height, left, bottom) = (360.0, 180.0, 30.0, 24.0);
        let top = hours.iter().map(|h| h.1.max(h.2)).fold(1.0, f64::max).ceil();
        let step = (width - left) / 24.0;
        let y = |v: f64| (height - bottom) - v / top * (height - bottom - 10.0);
        let mut svg = format!(
            "<figure><svg viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\" aria-label=\"staffing {}\">",
            escape(store)
        );
        for (hour, _, required, short) in &hours {
            let x = left + *hour as f64 * step;
            let _ = write!(
                svg,
                "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" class=\"{}\"/>",
                y(*required),
                step - 2.0,
                y(0.0) - y(*required),
                if *short { "short" } else { "required" }
            );
        }
        let points: Vec<String> = hours
            .iter()
            .map(|(h, staff, _, _)| format!("{:.1},{:.1}", left + (*h as f64 + 0.5) * step, y(*staff)))
            .collect();
        let _ = write!(svg, "<polyline points=\"{}\" class=\"staff\"/>", points.join(" "));
        for tick in [0, 6, 12, 18] {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" class=\"axis\">{tick:02}h</text>",
                left + tick as f64 * step,
                height - 6.0
            );
        }
        let _ = write!(
            svg,
            "<text x=\"2\" y=\"{:.1}\" class=\"axis\">{top}</text><line x1=\"{left}\" y1=\"{:.1}\" x2=\"{width}\" y2=\"{:.1}\" class=\"base\"/>",
            y(top) + 4.0,
            y(0.0),
            y(0.0)
        );
        let _ = writeln!(
            svg,
            "</svg><figcaption>{}: bars staff required (red: understaffed), line staff on clock</figcaption></figure>",
            escape(store)
        );
        svg
    }

    fn margin_chart(&self) -> String {
        let m = &self.margins;
        let bars: Vec<(String, f64, bool)> = m
            .rows
            .iter()
            .map(|r| {
                let margin = m.number(r, "margin");
                (format!("{} {}", m.get(r, "store_id"), m.get(r, "sku")), margin, margin < 0.0)
            })
            .collect();
        horizontal_bars(&bars, None, |v| if v < 0.0 { format!("-${:.2}", -v) } else { format!("${v:.2}") })
    }

    fn markdown(&self) -> String {
        let [high, medium, low] = self.severity_counts();
        let mut out = format!(
            "# District {} — morning report for {}\n\n{high} high · {medium} medium · {low} low exceptions\n\n## Exceptions by store\n",
            self.district, self.date
        );
        for StoreExceptions { store, shown: rows, hidden, .. } in self.by_store() {
            let _ = write!(
                out,
                "\n### {store}\n\n| severity | kind | subject | amount | evidence |\n| --- | --- | --- | ---: | --- |\n"
            );
            for row in rows {
                let e = &self.exceptions;
                let cell = |c: &str| e.get(row, c).replace('|', "\\|");
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} |",
                    cell("severity"),
                    cell("kind"),
                    cell("subject"),
                    cell("amount"),
                    cell("evidence")
                );
            }
            if hidden > 0 {
                let _ = writeln!(out, "\nand {hidden} more low-severity exceptions");
            }
        }
        out.push_str("\n## Each store's day against its forecast\n\n| store | transactions | net sales | average basket | forecast | against forecast |\n| --- | ---: | ---: | ---: | ---: | ---: |\n");
        for [store, transactions, net, basket, forecast, deviation] in self.store_days() {
            let _ = writeln!(out, "| {store} | {transactions} | {net} | {basket} | {forecast} | {deviation} |");
        }
        out.push_str("\n## Promotions selling today: lift and margin so far\n\n| promotion | units | baseline units | lift | incremental margin | margin erosion |\n| --- | ---: | ---: | ---: | ---: | ---: |\n");
        for [promo, units, baseline, lift, incremental, erosion] in self.promotion_lines() {
            let _ = writeln!(out, "| {promo} | {units} | {baseline} | {lift} | {incremental} | {erosion} |");
        }
        out.push_str("\n## Draft orders for the day, soonest stock-out first\n\n| store | order to | SKUs | units | cost | first stock-out |\n| --- | --- | ---: | ---: | ---: | --- |\n");
        for [store, group, skus, units, cost, earliest] in self.order_lines() {
            let _ = writeln!(out, "| {store} | {group} | {skus} | {units} | {cost} | {earliest} |");
        }
        out.push_str("\n## Registers standing out from their store's other registers (7 days)\n\n| store | register | transactions (cashiers) | refund rate (others) | line-void rate (others) | flagged |\n| --- | --- | ---: | ---: | ---: | --- |\n");
        for [store, register, transactions, refunds, voids, flags] in self.register_lines() {
            let _ = writeln!(out, "| {store} | {register} | {transactions} | {refunds} | {voids} | {flags} |");
        }
        out.push_str("\n## Line-void rate by cashier (7 days)\n\n| store | cashier | rate | district median | flags |\n| --- | --- | ---: | ---: | --- |\n");
        let c = &self.cashiers;
        for r in c.rows.iter().take(24) {
            let _ = writeln!(
                out,
                "| {} | {} | {:.1}% | {:.1}% | {} |",
                c.get(r, "store_id"),
                c.get(r, "cashier_id"),
                100.0 * c.number(r, "line_void_rate"),
                100.0 * c.number(r, "line_void_rate_median"),
                c.get(r, "flags")
            );
        }
        out.push_str(
            "\n## Understaffed hours\n\n| store | hour | staff on clock | required |\n| --- | ---: | ---: | ---: |\n",
        );
        let s = &self.staffing;
        for r in s.rows.iter().filter(|r| s.get(r, "status") == "understaffed") {
            let _ = writeln!(
                out,
                "| {} | {:02}:00 | {:.1} | {:.1} |",
                s.get(r, "store_id"),
                s.number(r, "hour") as i64,
                s.number(r, "staff_on_clock"),
                s.number(r, "required_staff")
            );
        }
        out.push_str("\n## Worst margins\n\n| store | sku | gross margin | net sales |\n| --- | --- | ---: | ---: |\n");
        let m = &self.margins;
        for r in &m.rows {
            let _ = writeln!(
                out,
                "| {} | {} | {:.2} | {:.2} |",
                m.get(r, "store_id"),
                m.get(r, "sku"),
                m.number(r, "margin"),
                m.number(r, "net_sales")
            );
        }
        out
    }

    fn csv(&self) -> String {
        let mut writer = csv::Writer::from_writer(Vec::new());
        let e = &self.exceptions;
        let _ = writer.write_record([
            "exception_id",
            "business_date",
            "store_id",
            "severity",
            "kind",
            "subject",
            "amount",
            "evidence",
        ]);
        for row in &e.rows {
            let _ = writer.write_record([
                e.get(row, "exception_id"),
                &self.date,
                e.get(row, "store_id"),
                e.get(row, "severity"),
                e.get(row, "kind"),
                e.get(row, "subject"),
                e.get(row, "amount"),
                e.get(row, "evidence"),
            ]);
        }
        String::from_utf8(writer.into_inner().unwrap_or_default()).unwrap_or_default()
    }
}

/// Horizontal bars (highlighted ones in red), with an optional reference line.
fn horizontal_bars(
    bars: &[(String, f64, bool)],
    reference: Option<(&str, f64)>,
    label: impl Fn(f64) -> String,
) -> String {
    if bars.is_empty() {
        return "<p>Nothing to chart on this day.</p>\n".to_string();
    }
    let (width, left, row) = (640.0, 150.0, 18.0);
    let height = row * bars.len() as f64 + 24.0;
    let low = bars.iter().map(|b| b.1).fold(0.0, f64::min);
    let high = bars.iter().map(|b| b.1).chain(reference.map(|r| r.1)).fold(0.0, f64::max);
    let span = (high - low).max(1e-9);
    let x = |v: f64| left + (v - low) / span * (width - left - 70.0);
    let mut svg =
        format!("<figure><svg viewBox=\"0 0 {width} {height}\" width=\"{width}\" height=\"{height}\" role=\"img\">");
    for (i, (name, value, highlight)) in bars.iter().enumerate() {
        let y = 4.0 + i as f64 * row;
        let (from, to) = (x(value.min(0.0)), x(value.max(0.0)));
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" class=\"name\">{}</text><rect x=\"{from:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" class=\"{}\"/><text x=\"{:.1}\" y=\"{:.1}\" class=\"value\">{}</text>",
            left - 6.0,
            y + row * 0.7,
            escape(name),
            (to - from).max(1.0),
            row - 4.0,
            if *highlight { "short" } else { "required" },
            to + 4.0,
            y + row * 0.7,
            escape(&label(*value))
        );
    }
    if let Some((name, value)) = reference {
        let _ = write!(
            svg,
            "<line x1=\"{0:.1}\" y1=\"0\" x2=\"{0:.1}\" y2=\"{1:.1}\" class=\"median\"/><text x=\"{0:.1}\" y=\"{2:.1}\" class=\"axis\">{name} {3}</text>",
            x(value),
            height - 18.0,
            height - 4.0,
            escape(&label(value))
        );
    }
    svg.push_str("</svg></figure>\n");
    svg
}

const CSS: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:980px;color:#1d232b;padding:0 1rem}\
h1{font-size:1.6rem}h2{margin-top:2rem;border-bottom:1px solid #d6dbe1;padding-bottom:.3rem}h3{margin-bottom:.3rem}\
table{border-collapse:collapse;width:100%;font-size:.9rem}th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #eceff2;vertical-align:top}\
td.num{text-align:right;white-space:nowrap}.high{color:#b3261e;font-weight:600}.medium{color:#9a6700;font-weight:600}.low{color:#57606a}\
.summary span{margin-right:.3rem}.more,.foot{color:#57606a;font-size:.85rem}.grid{display:flex;flex-wrap:wrap;gap:1rem}\
figure{margin:0}figcaption{font-size:.8rem;color:#57606a}svg text{font-size:11px;fill:#1d232b}svg text.name{text-anchor:end}\
svg text.axis{fill:#57606a;font-size:10px}rect.required{fill:#8fb3de}rect.short{fill:#d9534f}polyline.staff{fill:none;stroke:#1d232b;stroke-width:2}\
line.median{stroke:#1d232b;stroke-dasharray:4 3}line.base{stroke:#9aa4ae}";
