//! `exceptions`: the table a district manager reads, mapped from the other views' rows with the
//! functions of [`tillflow_schemas::views::Exception`]; its reference is the same mapping over
//! those views' states (`tests/it/views.rs`).

use differential_dataflow::VecCollection;
use differential_dataflow::lattice::Lattice;
use tillflow_schemas::views::{Exception, InventoryPosition, LaborDemand, RefundVoidAnomaly, RuleBreak, SkuMargin};
use tillflow_schemas::{Day, Id};
use timely::progress::Timestamp;

use crate::records::StoreRec;

pub fn exceptions<'s, T>(
    anomalies: VecCollection<'s, T, RefundVoidAnomaly>,
    rule_breaks: VecCollection<'s, T, RuleBreak>,
    labor: VecCollection<'s, T, LaborDemand>,
    margins: VecCollection<'s, T, SkuMargin>,
    stock: VecCollection<'s, T, InventoryPosition>,
    stores: VecCollection<'s, T, (Id, StoreRec)>,
) -> VecCollection<'s, T, Exception>
where
    T: Timestamp + Lattice + Ord,
{
    let districts = stores.map(|(store, record)| (store, record.district));
    let breaks = rule_breaks
        .map(|r| (r.store_id.clone(), r))
        .join_map(districts.clone(), |_, row, district| Exception::from_rule_break(row, district));
    let margins = margins
        .map(|r| (r.store_id.clone(), r))
        .join_map(districts.clone(), |_, row, district| Exception::from_margin(row, district))
        .flat_map(|e| e);
    let stock = stock
        .map(|r| (r.store_id.clone(), r))
        .join_map(districts.clone(), |_, row, district| Exception::from_inventory(row, district))
        .flat_map(|e| e);
    let staffing = labor
        .map(|r| (r.store_id.clone(), r))
        .join_map(districts, |_, row, district| {
            ((row.store_id.clone(), row.business_date), (district.clone(), row.clone()))
        })
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
