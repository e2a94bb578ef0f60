//! Catalog queries rewritten into what DataFusion plans: clients' queries of `pg_catalog` and
//! `information_schema` that use what DataFusion lacks, read as Postgres would answer them for
//! tillflow's tables.

use datafusion::sql::sqlparser::ast::Statement;

/// A catalog query rewritten into what DataFusion plans, or `None` when `statement` needs no
/// rewriting. Only statements reading `pg_catalog` are touched, so that users' queries mean what
/// they say:
///
/// - psql's `\d+` lists a table's storage options, `array_to_string(c.reloptions || array(SELECT
///   … FROM unnest(tc.reloptions)), ', ')`: a column `pg_class` lacks here and an array
///   constructor DataFusion lacks. tillflow's tables have no storage options, which psql shows
///   as nothing: the expression is read as NULL.
/// - `user` and `current_user` name the client's user.
/// - A scalar subquery reading only catalogs that are empty here (tillflow's tables have no
///   column defaults, sequences, inheritance or triggers) is NULL, as it is in Postgres for
///   such tables; DataFusion cannot plan some of them (correlated inside a `CASE`).
/// - SQLAlchemy's and pgJDBC's column queries hold correlated scalar subqueries that return one
///   row (a column's type, default, collation) without aggregating it, which DataFusion refuses:
///   their one value is read through `max`, the same value when there is at most one row.
pub(super) fn catalog_rewrite(statement: &Statement, user: &str) -> Option<Statement> {
    use datafusion::sql::sqlparser::ast::{Expr, GroupByExpr, SelectItem, SetExpr, Value, visit_expressions_mut};
    // (The statement arrives with `pg_catalog.` qualifiers already stripped from some names.)
    let text = statement.to_string();
    let catalogs = ["pg_catalog", "pg_class", "pg_attribute", "pg_type", "pg_namespace", "information_schema"];
    if !catalogs.iter().any(|t| text.contains(t)) {
        return None;
    }
    let aggregated = |expr: &Expr| {
        let text = expr.to_string().to_ascii_lowercase();
        ["count(", "max(", "min(", "sum(", "avg(", "array_agg(", "string_agg(", "bool_and(", "bool_or("]
            .iter()
            .any(|f| text.starts_with(f) || text.starts_with(&format!("pg_catalog.{f}")))
    };
    let max_of = |expr: &Expr| {
        let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
        datafusion::sql::sqlparser::parser::Parser::new(&dialect)
            .try_with_sql(&format!("max({expr})"))
            .and_then(|mut parser| parser.parse_expr())
            .ok()
    };
    let mut rewritten = statement.clone();
    let mut in_from = ScalarFunctionsInFrom::default();
    let _ = datafusion::sql::sqlparser::ast::VisitMut::visit(&mut rewritten, &mut in_from);
    let mut changed = in_from.changed;
    let _ = visit_expressions_mut(&mut rewritten, |expr| {
        match expr {
            // `user`, `current_user`, `session_user`: the name the client connected as.
            Expr::Identifier(name)
                if ["user", "current_user", "session_user"].contains(&name.value.to_ascii_lowercase().as_str())
                    && name.quote_style.is_none() =>
            {
                *expr = Expr::value(Value::SingleQuotedString(user.to_string()));
                changed = true;
            }
            Expr::Function(function)
                if ["user", "current_user", "session_user"]
                    .contains(&function.name.to_string().to_ascii_lowercase().as_str())
                    && matches!(function.args, datafusion::sql::sqlparser::ast::FunctionArguments::None) =>
            {
                *expr = Expr::value(Value::SingleQuotedString(user.to_string()));
                changed = true;
            }
            Expr::Function(function)
                if function.name.to_string().to_ascii_lowercase().ends_with("array_to_string")
                    && function.args.to_string().contains("reloptions") =>
            {
                *expr = Expr::value(Value::Null);
                changed = true;
            }
            Expr::Subquery(query) if reads_only_empty_catalogs(query) => {
                *expr = null_keeping_parameters(expr);
                changed = true;
            }
            Expr::Subquery(query) => {
                if let SetExpr::Select(select) = query.body.as_mut()
                    && select.projection.len() == 1
                    && matches!(&select.group_by, GroupByExpr::Expressions(by, _) if by.is_empty())
                {
                    let item = &mut select.projection[0];
                    let target = match item {
                        SelectItem::UnnamedExpr(e) => Some(e),
                        SelectItem::ExprWithAlias { expr, .. } => Some(expr),
                        _ => None,
                    };
                    if let Some(target) = target
                        && !aggregated(target)
                        && let Some(max) = max_of(target)
                    {
                        *target = max;
                        changed = true;
                    }
                }
            }
            _ => {}
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    changed.then_some(rewritten)
}

/// DataFusion's `information_schema.columns`, its `data_type` as Postgres names it (quoted, so
/// that the rewrite does not apply to it again).
const INFORMATION_SCHEMA_COLUMNS: &str = "SELECT table_catalog, table_schema, table_name, column_name, \
     ordinal_position, column_default, is_nullable, pg_type_name(data_type) AS data_type, \
     character_maximum_length, character_octet_length, numeric_precision, numeric_precision_radix, \
     numeric_scale, datetime_precision, interval_type FROM information_schema.\"columns\"";

/// Grafana lists tables with `FROM generate_series(…) AS i, string_to_array(current_setting(
/// 'search_path'), ',') s`: a scalar function in `FROM`, which Postgres reads as a table of one
/// row and DataFusion does not. Such a function becomes that table: `(SELECT f(…) AS s) AS s`;
/// and a set-returning function's alias names its column too, as in Postgres.
#[derive(Default)]
struct ScalarFunctionsInFrom {
    changed: bool,
}

impl datafusion::sql::sqlparser::ast::VisitorMut for ScalarFunctionsInFrom {
    type Break = ();

    fn pre_visit_table_factor(
        &mut self,
        factor: &mut datafusion::sql::sqlparser::ast::TableFactor,
    ) -> std::ops::ControlFlow<()> {
        use datafusion::sql::sqlparser::ast::{TableAlias, TableAliasColumnDef, TableFactor};
        // `information_schema.columns` with Postgres's type names (DataFusion's lists Arrow's).
        if let TableFactor::Table { name, alias, args: None, .. } = factor
            && name.to_string().eq_ignore_ascii_case("information_schema.columns")
        {
            let alias = alias.clone().unwrap_or(TableAlias {
                explicit: true,
                name: datafusion::sql::sqlparser::ast::Ident::new("columns"),
                columns: vec![],
                at: None,
            });
            let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
            let parsed = datafusion::sql::sqlparser::parser::Parser::new(&dialect)
                .try_with_sql(INFORMATION_SCHEMA_COLUMNS)
                .and_then(|mut parser| parser.parse_query());
            if let Ok(subquery) = parsed {
                *factor = TableFactor::Derived { lateral: false, subquery, alias: Some(alias), sample: None };
                self.changed = true;
                // Not into the subquery: it reads the table it replaces.
                return std::ops::ControlFlow::Continue(());
            }
        }
        const SCALAR: [&str; 3] = ["string_to_array", "current_setting", "current_schemas"];
        const SET_RETURNING: [&str; 2] = ["generate_series", "unnest"];
        // `FROM generate_series(…) AS i` names the column `i` too, in Postgres.
        if let TableFactor::Table { name, alias: Some(alias), args: Some(_), .. } = factor
            && alias.columns.is_empty()
            && SET_RETURNING.contains(&name.to_string().to_ascii_lowercase().trim_start_matches("pg_catalog."))
        {
            alias.columns = vec![TableAliasColumnDef::from_name(alias.name.value.clone())];
            self.changed = true;
        }
        if let TableFactor::Table { name, alias: Some(alias), args: Some(args), .. } = factor
            && SCALAR.contains(&name.to_string().to_ascii_lowercase().trim_start_matches("pg_catalog."))
        {
            let arguments = args.args.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            let select = format!("SELECT {name}({arguments}) AS {}", alias.name);
            let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
            let parsed = datafusion::sql::sqlparser::parser::Parser::new(&dialect)
                .try_with_sql(&select)
                .and_then(|mut parser| parser.parse_query());
            if let Ok(subquery) = parsed {
                *factor = TableFactor::Derived { lateral: false, subquery, alias: Some(alias.clone()), sample: None };
                self.changed = true;
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// NULL, as an expression that still holds the parameters `expr` holds: the client binds a value
/// to each, and the server types them by where they appear.
fn null_keeping_parameters(expr: &datafusion::sql::sqlparser::ast::Expr) -> datafusion::sql::sqlparser::ast::Expr {
    use datafusion::sql::sqlparser::ast::{Expr, Value, visit_expressions};
    let mut parameters = Vec::new();
    let _ = visit_expressions(expr, |e| {
        match e {
            Expr::Cast { expr: inner, .. } if matches!(inner.as_ref(), Expr::Value(v) if matches!(v.value, Value::Placeholder(_))) => {
                parameters.push(e.to_string())
            }
            Expr::Value(v) if matches!(v.value, Value::Placeholder(_)) => {
                let text = e.to_string();
                if !parameters
                    .iter()
                    .any(|p| p.starts_with(&format!("{text}::")) || p.starts_with(&format!("CAST({text} ")))
                {
                    parameters.push(text)
                }
            }
            _ => {}
        }
        std::ops::ControlFlow::<()>::Continue(())
    });
    if parameters.is_empty() {
        return Expr::value(Value::Null);
    }
    let dialect = datafusion::sql::sqlparser::dialect::PostgreSqlDialect {};
    let text = format!("CASE WHEN FALSE THEN concat({}) END", parameters.join(", "));
    datafusion::sql::sqlparser::parser::Parser::new(&dialect)
        .try_with_sql(&text)
        .and_then(|mut parser| parser.parse_expr())
        .unwrap_or(Expr::value(Value::Null))
}

/// Whether `query` reads nothing but catalogs that are always empty in tillflow.
fn reads_only_empty_catalogs(query: &datafusion::sql::sqlparser::ast::Query) -> bool {
    use datafusion::sql::sqlparser::ast::{SetExpr, TableFactor};
    const EMPTY: [&str; 4] = ["pg_attrdef", "pg_sequence", "pg_inherits", "pg_trigger"];
    let SetExpr::Select(select) = query.body.as_ref() else { return false };
    let empty = |factor: &TableFactor| match factor {
        TableFactor::Table { name, .. } => {
            let name = name.to_string();
            EMPTY.iter().any(|table| name == *table || name == format!("pg_catalog.{table}"))
        }
        _ => false,
    };
    !select.from.is_empty()
        && select.from.iter().all(|from| empty(&from.relation) && from.joins.iter().all(|join| empty(&join.relation)))
}
