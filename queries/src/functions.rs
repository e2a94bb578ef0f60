//! SQL functions that plain SQL lacks: store-local days and hours.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, Date32Array, Date32Builder, Int64Array, Int64Builder, ListBuilder, StringArray, StructBuilder,
    TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Fields, TimeUnit};
use chrono_tz::Tz;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use tillflow_schemas::time::{hour_slices, local_day, local_hour, parse_tz};

/// Registers every tillflow function with a session.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(business_date());
    ctx.register_udf(local_hour_udf());
    ctx.register_udf(hour_slices_udf());
}

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

fn instants<'a>(array: &'a ArrayRef, function: &str) -> datafusion::error::Result<&'a TimestampMillisecondArray> {
    array
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .ok_or_else(|| DataFusionError::Execution(format!("{function}: expects a millisecond timestamp")))
}

/// Applies `f` to each row's instants and zone; a null anywhere gives a null.
fn per_row<const N: usize>(
    args: &[ColumnarValue],
    function: &str,
    mut f: impl FnMut(Option<([i64; N], Tz)>) -> datafusion::error::Result<()>,
) -> datafusion::error::Result<()> {
    let arrays = ColumnarValue::values_to_arrays(args)?;
    let times = (0..N).map(|i| instants(&arrays[i], function)).collect::<datafusion::error::Result<Vec<_>>>()?;
    let zones = arrays[N]
        .as_any()
        .downcast_ref::<StringArray>()
        .ok_or_else(|| DataFusionError::Execution(format!("{function}: the time zone must be text")))?;
    for row in 0..zones.len() {
        if zones.is_null(row) || times.iter().any(|t| t.is_null(row)) {
            f(None)?;
            continue;
        }
        let tz = parse_tz(zones.value(row)).map_err(DataFusionError::Execution)?;
        f(Some((std::array::from_fn(|i| times[i].value(row)), tz)))?;
    }
    Ok(())
}

/// `business_date(ts TIMESTAMP, timezone VARCHAR) -> DATE`: the local calendar day of an instant in an IANA zone.
pub fn business_date() -> ScalarUDF {
    of_instant_in_zone(
        "business_date",
        DataType::Date32,
        |ts, tz| local_day(ts, tz) as i64,
        |values| Arc::new(values.into_iter().map(|v| v.map(|day| day as i32)).collect::<Date32Array>()),
    )
}

/// `local_hour(ts TIMESTAMP, timezone VARCHAR) -> BIGINT`: the local hour of day (0–23).
pub fn local_hour_udf() -> ScalarUDF {
    of_instant_in_zone(
        "local_hour",
        DataType::Int64,
        |ts, tz| local_hour(ts, tz) as i64,
        |values| Arc::new(Int64Array::from(values)),
    )
}

/// A function of one instant and one zone, row by row (null in, null out); `build` makes the
/// result column of type `output` from its values.
fn of_instant_in_zone(
    name: &'static str,
    output: DataType,
    f: fn(i64, Tz) -> i64,
    build: fn(Vec<Option<i64>>) -> ArrayRef,
) -> ScalarUDF {
    create_udf(
        name,
        vec![timestamp(), DataType::Utf8],
        output,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let mut values = Vec::new();
            per_row::<1>(args, name, |row| {
                values.push(row.map(|([ts], tz)| f(ts, tz)));
                Ok(())
            })?;
            Ok(ColumnarValue::Array(build(values)))
        }),
    )
}

fn slice_fields() -> Fields {
    Fields::from(vec![
        Field::new("day", DataType::Date32, true),
        Field::new("hour", DataType::Int64, true),
        Field::new("ms", DataType::Int64, true),
    ])
}

/// `hour_slices(start TIMESTAMP, end TIMESTAMP, timezone VARCHAR) -> LIST<STRUCT<day, hour, ms>>`:
/// the interval split at local hour boundaries, with the milliseconds within each hour.
pub fn hour_slices_udf() -> ScalarUDF {
    let item = DataType::Struct(slice_fields());
    create_udf(
        "hour_slices",
        vec![timestamp(), timestamp(), DataType::Utf8],
        DataType::List(Arc::new(Field::new("item", item, true))),
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let mut lists = ListBuilder::new(StructBuilder::from_fields(slice_fields(), 0));
            per_row::<2>(args, "hour_slices", |row| {
                if let Some(([start, end], tz)) = row {
                    let slices = lists.values();
                    for (day, hour, ms) in hour_slices(start, end, tz) {
                        slices.field_builder::<Date32Builder>(0).expect("day").append_value(day);
                        slices.field_builder::<Int64Builder>(1).expect("hour").append_value(hour as i64);
                        slices.field_builder::<Int64Builder>(2).expect("ms").append_value(ms);
                        slices.append(true);
                    }
                    lists.append(true);
                } else {
                    lists.append(false);
                }
                Ok(())
            })?;
            Ok(ColumnarValue::Array(Arc::new(lists.finish())))
        }),
    )
}
