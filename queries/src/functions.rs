//! SQL functions that plain SQL lacks.

use std::sync::Arc;

use arrow::array::{Array, Date32Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{DataType, TimeUnit};
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use tillflow_schemas::time::{local_day, parse_tz};

/// Registers every tillflow function with a session.
pub fn register(ctx: &SessionContext) {
    ctx.register_udf(business_date());
}

/// `business_date(ts TIMESTAMP, timezone VARCHAR) -> DATE`: the local calendar day of an instant in an IANA zone.
pub fn business_date() -> ScalarUDF {
    let ts_type = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    create_udf(
        "business_date",
        vec![ts_type, DataType::Utf8],
        DataType::Date32,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let ts = arrays[0].as_any().downcast_ref::<TimestampMillisecondArray>().ok_or_else(|| {
                DataFusionError::Execution("business_date: ts must be a millisecond timestamp".into())
            })?;
            let zones = arrays[1]
                .as_any()
                .downcast_ref::<StringArray>()
                .ok_or_else(|| DataFusionError::Execution("business_date: timezone must be text".into()))?;
            let mut days = Vec::with_capacity(ts.len());
            for i in 0..ts.len() {
                if ts.is_null(i) || zones.is_null(i) {
                    days.push(None);
                    continue;
                }
                let tz = parse_tz(zones.value(i)).map_err(DataFusionError::Execution)?;
                days.push(Some(local_day(ts.value(i), tz)));
            }
            Ok(ColumnarValue::Array(Arc::new(Date32Array::from(days))))
        }),
    )
}
