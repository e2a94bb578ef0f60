//! `exceptions`: the table a district manager reads, mapped from the other views' rows with the
//! functions of [`tillflow_schemas::views::Exception`]; its reference is the same mapping over
//! those views' states (`tests/it/views.rs`).

use std::hash::Hash;

use differential_dataflow::{ExchangeData, VecCollection};
use tillflow_schemas::views::{Exception, InventoryPosition, LaborDemand, RefundVoidAnomaly, RuleBreak, SkuMargin};
use tillflow_schemas::{Day, Epoch, Id};

use crate::records::StoreRec;

pub fn exceptions<'s>(
    anomalies: VecCollection<'s, Epoch, RefundVoidAnomaly>,
    rule_breaks: VecCollection<'s, Epoch, RuleBreak>,
    labor: VecCollection<'s, Epoch, LaborDemand>,
    margins: VecCollection<'s, Epoch, SkuMargin>,
    stock: VecCollection<'s, Epoch, InventoryPosition>,
    stores: VecCollection<'s, Epoch, (Id, StoreRec)>,
) -> VecCollection<'s, Epoch, Exception> {
    let districts = stores.map(|(store, record)| (store, record.district));
    let breaks = in_district(rule_breaks, &districts, |r| &r.store_id, |r, d| Some(Exception::from_rule_break(r, d)));
    let margins = in_district(margins, &districts, |r| &r.store_id, Exception::from_margin);
    let stock = in_district(stock, &districts, |r| &r.store_id, Exception::from_inventory);
    let staffing = in_district(
        labor,
        &districts,
        |r| &r.store_id,
        |row, district| Some(((row.store_id.clone(), row.business_date), (district.clone(), row.clone()))),
    )
    .reduce_named("exceptions: staffing", |_key: &(Id, Day), hours, out| {
        let district = &(hours[0].0).0;
        if let Some(exception) = Exception::from_staffing(hours.iter().map(|((_, h), _)| h), district) {
            out.push((exception, 1));
        }
    })
    .map(|(_, e)| e);
    anomalies
        .flat_map(|row| Exception::from_anomaly(&row))
        .concat(breaks)
        .concat(margins)
        .concat(stock)
        .concat(staffing)
}

/// `f` of each row with its store's district (rows of a store without a record wait for it).
fn in_district<'s, R, O, I>(
    rows: VecCollection<'s, Epoch, R>,
    districts: &VecCollection<'s, Epoch, (Id, Id)>,
    store: fn(&R) -> &Id,
    f: fn(&R, &Id) -> I,
) -> VecCollection<'s, Epoch, O>
where
    R: ExchangeData + Hash,
    O: ExchangeData + Hash,
    I: IntoIterator<Item = O> + differential_dataflow::Data,
{
    rows.map(move |r| (store(&r).clone(), r))
        .join_map(districts.clone(), move |_, row, district| f(row, district))
        .flat_map(|o| o)
}
