//! The forecast of a day's net sales that `store_daily` and `category_daily` carry: the mean net
//! sales of the same weekday one to four weeks before (days d−7, d−14, d−21 and d−28 of the
//! same key, those that have a row; none if none has).
//!
//! Each day sends its net sales forward to the four days it forecasts, as a difference
//! `[net, 1]`; consolidation sums them, and a day meets its sum where it has a row. A day that
//! changes moves four sums, whatever the history.

use differential_dataflow::operators::CountTotal;
use differential_dataflow::{ExchangeData, VecCollection};
use serde::{Deserialize, Serialize};
use tillflow_schemas::views::Forecast;
use tillflow_schemas::{Cents, Day, Epoch};

use crate::sums::Sums;

/// How many days before a day its forecast looks.
pub const WEEKS_BACK: [Day; 4] = [7, 14, 21, 28];

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
enum Part<const N: usize> {
    /// The day's own sums.
    Day(Sums<N>),
    /// The net sales of the days before it that forecast it, and how many.
    Before(Sums<2>),
}

/// A `(key, day)` with its sums and its forecast.
pub type Forecasted<K, const N: usize> = ((K, Day), Sums<N>, Option<Forecast>);

/// Each `(key, day)` of `daily` with its sums and its forecast, `net_sales` reading a day's net
/// sales (in cents) from its sums.
pub fn with_forecast<'s, K, const N: usize>(
    daily: VecCollection<'s, Epoch, ((K, Day), Sums<N>)>,
    net_sales: fn(&Sums<N>) -> i64,
) -> VecCollection<'s, Epoch, Forecasted<K, N>>
where
    K: ExchangeData + std::hash::Hash,
{
    let before = daily
        .clone()
        .flat_map(move |((key, day), sums)| {
            let net = net_sales(&sums);
            WEEKS_BACK.map(|weeks| ((key.clone(), day + weeks), net))
        })
        .explode(|(key, net)| Some((key, Sums([net, 1]))))
        .count_total();
    daily
        .map(|(key, sums)| (key, Part::Day(sums)))
        .concat(before.map(|(key, sums)| (key, Part::Before(sums))))
        .reduce_named("forecast: the same weekday, four weeks back", |_key, parts, out| {
            let (mut day, mut forecast) = (None, None);
            for (part, _) in parts {
                match part {
                    Part::Day(sums) => day = Some(*sums),
                    Part::Before(Sums([sum, days])) => forecast = Some(Forecast { sum: Cents(*sum), days: *days }),
                }
            }
            if let Some(sums) = day {
                out.push(((sums, forecast), 1));
            }
        })
        .map(|(key, (sums, forecast))| (key, sums, forecast))
}
