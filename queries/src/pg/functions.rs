//! The functions Postgres clients call that DataFusion lacks or answers differently:
//! `version()`, `current_setting()`, `to_regtype()`, `json_build_object()`, the visibility and
//! sequence functions of catalog queries, and `pg_type_name()`, which the rewritten
//! `information_schema.columns` uses.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, Int32Array, StringArray};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::DataFusionError;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion::prelude::SessionContext;

use super::{SERVER_VERSION, SERVER_VERSION_NUM, version};

/// Registers every function of this module in `ctx`.
pub(super) fn register(ctx: &SessionContext) {
    let version = version();
    ctx.register_udf(create_udf(
        "version",
        vec![],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(version.clone()))))),
    ));
    ctx.register_udf(ScalarUDF::new_from_impl(JsonBuildObject::default()));
    // Every collation is pg_catalog's, on the search path.
    ctx.register_udf(create_udf(
        "pg_collation_is_visible",
        vec![DataType::Int64],
        DataType::Boolean,
        Volatility::Stable,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Boolean(Some(true))))),
    ));
    // No table has a serial column: no sequences.
    ctx.register_udf(create_udf(
        "pg_get_serial_sequence",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|_| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)))),
    ));
    ctx.register_udf(of_text("pg_type_name", DataType::Utf8, |names| {
        Arc::new(names.iter().map(|name| name.map(pg_type_name)).collect::<StringArray>())
    }));
    ctx.register_udf(of_text("to_regtype", DataType::Int32, |names| {
        Arc::new(names.iter().map(|name| name.and_then(type_oid)).collect::<Int32Array>())
    }));
    ctx.register_udf(create_udf(
        "current_setting",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(|args| {
            let name = match &args[0] {
                ColumnarValue::Scalar(ScalarValue::Utf8(Some(name))) => name.clone(),
                _ => return Err(DataFusionError::Plan("current_setting takes the name of a setting".into())),
            };
            match fixed_setting(&name) {
                Some(value) => Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(value)))),
                None => Err(DataFusionError::Plan(format!("unrecognized configuration parameter \"{name}\""))),
            }
        }),
    ));
}

/// A function of one text argument, applied to a column of them by `apply`.
fn of_text(name: &str, returns: DataType, apply: fn(&StringArray) -> ArrayRef) -> ScalarUDF {
    create_udf(
        name,
        vec![DataType::Utf8],
        returns,
        Volatility::Stable,
        Arc::new(move |args| {
            let arrays = ColumnarValue::values_to_arrays(args)?;
            let out = apply(arrays[0].as_string::<i32>());
            Ok(match &args[0] {
                ColumnarValue::Scalar(_) => ColumnarValue::Scalar(ScalarValue::try_from_array(&out, 0)?),
                ColumnarValue::Array(_) => ColumnarValue::Array(out),
            })
        }),
    )
}

/// The settings `SHOW` and `current_setting` answer the same whatever the session set.
pub(super) fn fixed_setting(name: &str) -> Option<String> {
    let value = match name.to_ascii_lowercase().as_str() {
        "server_version" => SERVER_VERSION,
        "server_version_num" => SERVER_VERSION_NUM,
        "server_encoding" | "client_encoding" => "UTF8",
        "standard_conforming_strings" | "integer_datetimes" => "on",
        "transaction_isolation" | "default_transaction_isolation" => "read committed",
        "transaction_read_only" | "default_transaction_read_only" => "on",
        "max_identifier_length" => "63",
        "lc_collate" | "lc_ctype" => "C",
        "search_path" => "public",
        "timezone" => "UTC",
        "datestyle" => "ISO, YMD",
        "is_superuser" => "off",
        _ => return None,
    };
    Some(value.to_string())
}

/// The OID of a built-in type by its name or an alias (`to_regtype`); `None` for a type tillflow
/// does not have (an extension's, such as `hstore`).
fn type_oid(name: &str) -> Option<i32> {
    let name = name.trim().trim_matches('"').to_ascii_lowercase();
    let oid = match name.strip_prefix("pg_catalog.").unwrap_or(&name) {
        "bool" | "boolean" => 16,
        "bytea" => 17,
        "int8" | "bigint" => 20,
        "int2" | "smallint" => 21,
        "int4" | "integer" | "int" => 23,
        "text" => 25,
        "oid" => 26,
        "json" => 114,
        "float4" | "real" => 700,
        "float8" | "double precision" => 701,
        "varchar" | "character varying" => 1043,
        "date" => 1082,
        "time" | "time without time zone" => 1083,
        "timestamp" | "timestamp without time zone" => 1114,
        "timestamptz" | "timestamp with time zone" => 1184,
        "interval" => 1186,
        "numeric" | "decimal" => 1700,
        "uuid" => 2950,
        "jsonb" => 3802,
        _ => return None,
    };
    Some(oid)
}

/// Postgres's name of a type, from Arrow's as `information_schema` of DataFusion writes it.
fn pg_type_name(arrow: &str) -> String {
    let name = match arrow {
        "Utf8" | "LargeUtf8" | "Utf8View" => "text",
        "Int64" | "UInt32" => "bigint",
        "Int32" | "UInt16" => "integer",
        "Int16" | "Int8" | "UInt8" => "smallint",
        "Float64" => "double precision",
        "Float32" | "Float16" => "real",
        "Boolean" => "boolean",
        "Date32" | "Date64" => "date",
        "Binary" | "LargeBinary" | "BinaryView" => "bytea",
        "UInt64" => "numeric",
        decimal if decimal.starts_with("Decimal") => "numeric",
        zoned if zoned.starts_with("Timestamp(") && zoned.contains('"') => "timestamp with time zone",
        local if local.starts_with("Timestamp(") => "timestamp without time zone",
        list if list.starts_with("List(") || list.starts_with("LargeList(") => "ARRAY",
        other => return other.to_ascii_lowercase(),
    };
    name.to_string()
}

/// `json_build_object(key, value, …)`: a JSON object as text, which catalog queries build.
#[derive(Debug, PartialEq, Eq, Hash)]
struct JsonBuildObject(datafusion::logical_expr::Signature);

impl Default for JsonBuildObject {
    fn default() -> Self {
        JsonBuildObject(datafusion::logical_expr::Signature::variadic_any(Volatility::Immutable))
    }
}

impl datafusion::logical_expr::ScalarUDFImpl for JsonBuildObject {
    fn name(&self) -> &str {
        "json_build_object"
    }

    fn signature(&self) -> &datafusion::logical_expr::Signature {
        &self.0
    }

    fn return_type(&self, _: &[DataType]) -> datafusion::error::Result<DataType> {
        Ok(DataType::Utf8)
    }

    fn invoke_with_args(
        &self,
        args: datafusion::logical_expr::ScalarFunctionArgs,
    ) -> datafusion::error::Result<ColumnarValue> {
        use datafusion::arrow::util::display::array_value_to_string;
        let arrays = ColumnarValue::values_to_arrays(&args.args)?;
        let json = |text: &str| format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""));
        let objects: datafusion::arrow::array::StringArray = (0..args.number_rows)
            .map(|row| {
                let pairs = arrays.chunks(2).map(|pair| {
                    let key = array_value_to_string(&pair[0], row)?;
                    let value = match pair.get(1) {
                        Some(value) if value.is_valid(row) => match value.data_type() {
                            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
                                json(&array_value_to_string(value, row)?)
                            }
                            _ => array_value_to_string(value, row)?,
                        },
                        _ => "null".to_string(),
                    };
                    Ok(format!("{}: {value}", json(&key)))
                });
                let pairs = pairs.collect::<datafusion::error::Result<Vec<_>>>()?;
                Ok(Some(format!("{{{}}}", pairs.join(", "))))
            })
            .collect::<datafusion::error::Result<_>>()?;
        Ok(ColumnarValue::Array(Arc::new(objects)))
    }
}
