//! `tillflow brief`: a store's morning briefing — yesterday against its forecast, the five
//! actions that matter most, and the exceptions left open for more than a day — from the views
//! (persisted, or live through the alert channels at each store's configured local time).
//!
//! Deterministic for a given state: every figure comes from the views, every list has a total
//! order. The briefing for day `D` reports `D - 1` ("yesterday"); without `--date`, `D` is the
//! day after the store's latest business day with sales.
//!
//! The actions are the store's standing exceptions dated before `D` that nobody has
//! acknowledged or dismissed (`exception_history`, where the views have it), ranked by severity
//! (high 3, medium 2, low 1) times the amount at stake, then by severity, by day (latest first)
//! and by id. An exception without an amount (staffing, ghost stock, a reorder) counts the
//! median amount of the store's standing exceptions (1 if none has one): a typical cost, so its
//! severity weighs as it would on any.

use std::fmt::Write;

use chrono::NaiveDate;
use datafusion::prelude::SessionContext;
use serde::Serialize;
use tillflow_schemas::views::Severity;

use crate::report::{Rows, escape, rows};
use crate::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum BriefFormat {
    Md,
    Html,
    Json,
}

/// How many actions a briefing lists.
pub const ACTIONS: usize = 5;

#[derive(Debug, Serialize)]
pub struct Brief {
    pub store_id: String,
    pub store_name: String,
    pub district: String,
    /// The morning the briefing is for.
    pub date: String,
    pub yesterday: Yesterday,
    pub actions: Vec<Action>,
    /// Exceptions dated two days or more before `date`, still waiting for someone.
    pub open_older: Vec<Action>,
}

#[derive(Debug, Serialize)]
pub struct Yesterday {
    pub business_date: String,
    pub transactions: i64,
    pub net_sales: f64,
    pub forecast_net_sales: Option<f64>,
    pub deviation_pct: Option<f64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Action {
    pub exception_id: String,
    pub kind: String,
    pub severity: String,
    pub subject: String,
    pub business_date: String,
    pub amount: Option<f64>,
    pub evidence: String,
    pub status: String,
    /// The view its evidence rows are in.
    pub view: String,
    pub score: f64,
}

fn weight(severity: &str) -> f64 {
    f64::from(Severity::weight_of(severity))
}

/// Gathers the briefing of `store` for the morning of `date` (see the module's doc).
pub async fn gather(ctx: &SessionContext, store: &str, date: Option<&str>) -> Result<Brief> {
    let quoted = store.replace('\'', "''");
    let record = rows(ctx, &format!("SELECT name, district FROM stores WHERE store_id = '{quoted}'")).await?;
    let Some(found) = record.rows.first() else { return Err(Error::NoStore(store.to_string())) };
    let (store_name, district) = (record.get(found, "name").to_string(), record.get(found, "district").to_string());
    let date = match date {
        Some(d) => NaiveDate::parse_from_str(d, "%Y-%m-%d").map_err(|_| Error::NotADate(d.to_string()))?,
        None => {
            let latest = rows(
                ctx,
                &format!(
                    "SELECT CAST(MAX(business_date) AS VARCHAR) AS d FROM store_daily WHERE store_id = '{quoted}'"
                ),
            )
            .await?;
            let latest = latest.rows.first().map(|r| r[0].clone()).unwrap_or_default();
            let latest =
                NaiveDate::parse_from_str(&latest, "%Y-%m-%d").map_err(|_| Error::NoSales(store.to_string()))?;
            latest.succ_opt().unwrap_or(latest)
        }
    };
    let yesterday = date.pred_opt().unwrap_or(date);
    let day = rows(
        ctx,
        &format!(
            "SELECT transactions, CAST(net_sales AS DOUBLE) AS net_sales, forecast_net_sales, deviation_pct \
             FROM store_daily WHERE store_id = '{quoted}' AND business_date = DATE '{yesterday}'"
        ),
    )
    .await?;
    let optional = |row: &[String], column: &str| {
        Some(day.get(row, column)).filter(|v| !v.is_empty()).map(|_| day.number(row, column))
    };
    let yesterday = match day.rows.first() {
        Some(row) => Yesterday {
            business_date: yesterday.to_string(),
            transactions: day.number(row, "transactions") as i64,
            net_sales: day.number(row, "net_sales"),
            forecast_net_sales: optional(row, "forecast_net_sales"),
            deviation_pct: optional(row, "deviation_pct"),
        },
        None => Yesterday {
            business_date: yesterday.to_string(),
            transactions: 0,
            net_sales: 0.0,
            forecast_net_sales: None,
            deviation_pct: None,
        },
    };
    let has_history =
        !rows(ctx, "SELECT table_name FROM information_schema.tables WHERE table_name = 'exception_history'")
            .await?
            .rows
            .is_empty();
    let status = match has_history {
        true => "COALESCE(h.status, 'open')",
        false => "'open'",
    };
    let joined = match has_history {
        true => "LEFT JOIN exception_history h ON h.exception_id = e.exception_id",
        false => "",
    };
    let standing = rows(
        ctx,
        &format!(
            "SELECT e.exception_id, e.kind, e.severity, e.subject, CAST(e.business_date AS VARCHAR) AS business_date, \
             CAST(e.amount AS DOUBLE) AS amount, e.evidence, {status} AS status \
             FROM exceptions e {joined} \
             WHERE e.store_id = '{quoted}' AND e.business_date < DATE '{date}' AND {status} IN ('open', 'reopened')"
        ),
    )
    .await?;
    let mut actions: Vec<Action> = standing.rows.iter().map(|row| action(&standing, row)).collect();
    let mut amounts: Vec<f64> = actions.iter().filter_map(|a| a.amount).map(f64::abs).collect();
    amounts.sort_by(f64::total_cmp);
    let typical = amounts.get(amounts.len() / 2).copied().unwrap_or(1.0);
    for action in &mut actions {
        action.score = weight(&action.severity) * action.amount.map_or(typical, f64::abs);
    }
    actions.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(weight(&b.severity).total_cmp(&weight(&a.severity)))
            .then(b.business_date.cmp(&a.business_date))
            .then(a.exception_id.cmp(&b.exception_id))
    });
    let mut open_older: Vec<Action> =
        actions.iter().filter(|a| a.business_date < yesterday.business_date).cloned().collect();
    open_older.sort_by(|a, b| a.business_date.cmp(&b.business_date).then(a.exception_id.cmp(&b.exception_id)));
    actions.truncate(ACTIONS);
    Ok(Brief {
        store_id: store.to_string(),
        store_name,
        district,
        date: date.to_string(),
        yesterday,
        actions,
        open_older,
    })
}

fn action(rows: &Rows, row: &[String]) -> Action {
    let kind = rows.get(row, "kind").to_string();
    let severity = rows.get(row, "severity").to_string();
    let amount = Some(rows.get(row, "amount")).filter(|a| !a.is_empty()).map(|_| rows.number(row, "amount"));
    Action {
        exception_id: rows.get(row, "exception_id").to_string(),
        view: tillflow_operators::exceptions::view_of(&kind).to_string(),
        kind,
        severity,
        subject: rows.get(row, "subject").to_string(),
        business_date: rows.get(row, "business_date").to_string(),
        amount,
        evidence: rows.get(row, "evidence").to_string(),
        status: rows.get(row, "status").to_string(),
        score: 0.0,
    }
}

/// The briefing of `store` for the morning of `date`, as `format`.
pub async fn brief(ctx: &SessionContext, store: &str, date: Option<&str>, format: BriefFormat) -> Result<String> {
    let brief = gather(ctx, store, date).await?;
    Ok(match format {
        BriefFormat::Md => brief.markdown(),
        BriefFormat::Html => brief.html(),
        BriefFormat::Json => serde_json::to_string_pretty(&brief).expect("a briefing serializes") + "\n",
    })
}

fn money(amount: Option<f64>) -> String {
    amount.map_or_else(|| "—".to_string(), |a| format!("{a:.2}"))
}

impl Yesterday {
    fn sentence(&self) -> String {
        let against = match (self.forecast_net_sales, self.deviation_pct) {
            (Some(forecast), Some(deviation)) => format!(" against a forecast of {forecast:.2} ({deviation:+.1}%)"),
            _ => " (no forecast yet: fewer than two weeks of the same weekday)".to_string(),
        };
        format!("{}: {} transactions, net sales {:.2}{against}.", self.business_date, self.transactions, self.net_sales)
    }
}

impl Brief {
    pub fn title(&self) -> String {
        format!("Morning briefing — {} {} ({}), {}", self.store_id, self.store_name, self.district, self.date)
    }

    pub fn markdown(&self) -> String {
        let mut out = format!("# {}\n\n## Yesterday\n\n{}\n\n", self.title(), self.yesterday.sentence());
        out.push_str("## The five actions that matter most\n\n");
        if self.actions.is_empty() {
            out.push_str("Nothing waits for you.\n\n");
        }
        for (i, a) in self.actions.iter().enumerate() {
            let _ = writeln!(
                out,
                "{}. **{}** {} `{}` ({}), amount {}: {} — from `{}`, exception `{}`",
                i + 1,
                a.severity,
                a.kind,
                a.subject,
                a.business_date,
                money(a.amount),
                a.evidence,
                a.view,
                a.exception_id
            );
        }
        let _ = write!(out, "\n## Open for more than a day ({})\n\n", self.open_older.len());
        if self.open_older.is_empty() {
            out.push_str("None.\n");
        }
        for a in &self.open_older {
            let _ = writeln!(
                out,
                "- {} {} {} `{}` ({}): {}",
                a.business_date, a.severity, a.kind, a.subject, a.status, a.evidence
            );
        }
        out
    }

    pub fn html(&self) -> String {
        let mut out = format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
             content=\"width=device-width, initial-scale=1\"><title>{title}</title><style>body{{font:16px/1.5 \
             system-ui,sans-serif;max-width:52rem;margin:2rem auto;padding:0 1rem;color:#1a1a1a}}\
             li{{margin:.4rem 0}}.high{{color:#a30000}}.medium{{color:#7a4a00}}code{{font-size:.9em}}</style></head>\
             <body><h1>{title}</h1><h2>Yesterday</h2><p>{yesterday}</p><h2>The five actions that matter most</h2>",
            title = escape(&self.title()),
            yesterday = escape(&self.yesterday.sentence())
        );
        if self.actions.is_empty() {
            out.push_str("<p>Nothing waits for you.</p>");
        } else {
            out.push_str("<ol>");
            for a in &self.actions {
                let _ = write!(
                    out,
                    "<li><strong class=\"{sev}\">{sev}</strong> {kind} <code>{subject}</code> ({day}), amount {amount}: \
                     {evidence} — from <code>{view}</code>, exception <code>{id}</code></li>",
                    sev = escape(&a.severity),
                    kind = escape(&a.kind),
                    subject = escape(&a.subject),
                    day = escape(&a.business_date),
                    amount = money(a.amount),
                    evidence = escape(&a.evidence),
                    view = escape(&a.view),
                    id = escape(&a.exception_id)
                );
            }
            out.push_str("</ol>");
        }
        let _ = write!(out, "<h2>Open for more than a day ({})</h2>", self.open_older.len());
        if self.open_older.is_empty() {
            out.push_str("<p>None.</p>");
        } else {
            out.push_str("<ul>");
            for a in &self.open_older {
                let _ = write!(
                    out,
                    "<li>{} {} {} <code>{}</code> ({}): {}</li>",
                    escape(&a.business_date),
                    escape(&a.severity),
                    escape(&a.kind),
                    escape(&a.subject),
                    escape(&a.status),
                    escape(&a.evidence)
                );
            }
            out.push_str("</ul>");
        }
        out.push_str("</body></html>\n");
        out
    }
}
