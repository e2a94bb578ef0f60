//! `exceptions`: the table a district manager reads, mapped from the other views' rows with the
//! functions of [`tillflow_schemas::views::Exception`].
//!
//! Reference: `queries/exceptions.sql`, over the other views' reference tables. Each row becomes
//! its exceptions first, and only those meet their store's district (rows of a store without a
//! record wait for it), so the join holds the few exceptions, not every row of every view.

use differential_dataflow::VecCollection;
use tillflow_schemas::views::{
    Exception, InventoryPosition, LaborDemand, RefundVoidAnomaly, RuleBreak, SkuMargin, StaffingStatus,
};
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
    let nowhere = Id::default();
    let staffing = labor
        .filter(|hour| hour.status() == StaffingStatus::Understaffed)
        .map(|hour| ((hour.store_id, hour.business_date), hour))
        .reduce_named("exceptions: staffing", move |_key: &(Id, Day), hours, out| {
            if let Some(exception) = Exception::from_staffing(hours.iter().map(|(h, _)| *h), &nowhere) {
                out.push((exception, 1));
            }
        })
        .map(|(_, exception)| exception);
    anomalies
        .flat_map(|row| Exception::from_anomaly(&row))
        .concat(rule_breaks.map(move |row| Exception::from_rule_break(&row, &nowhere)))
        .concat(margins.flat_map(move |row| Exception::from_margin(&row, &nowhere)))
        .concat(stock.flat_map(move |row| Exception::from_inventory(&row, &nowhere)))
        .concat(staffing)
        .map(|exception| (exception.store_id, exception))
        .join_map(stores, |_, exception, store| Exception { district: store.district, ..exception.clone() })
}
