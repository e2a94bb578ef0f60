//! `tillflow sql`: SQL over the persisted views, one query or an interactive session.

use std::path::PathBuf;

use arrow::array::RecordBatch;
use datafusion::prelude::SessionContext;
use rustyline::error::ReadlineError;
use url::Url;

use crate::error::Chain;
use crate::{Result, table_names};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
}

/// A session over every view persisted under `root`, with `as_of` over their earlier versions.
pub async fn open(root: &Url) -> Result<SessionContext> {
    let ctx = tillflow_queries::persisted::session(root, &table_names()).await?.0;
    tillflow_queries::as_of::register(&ctx, root, tillflow_queries::as_of::unguarded());
    Ok(ctx)
}

pub async fn query(ctx: &SessionContext, sql: &str) -> Result<Vec<RecordBatch>> {
    Ok(ctx.sql(sql).await?.collect().await?)
}

pub fn render(batches: &[RecordBatch], format: OutputFormat) -> Result<String> {
    match format {
        OutputFormat::Table => Ok(arrow::util::pretty::pretty_format_batches(batches)?.to_string()),
        OutputFormat::Csv => {
            let mut out = Vec::new();
            {
                let mut writer = arrow::csv::WriterBuilder::new().with_header(true).build(&mut out);
                for batch in batches {
                    writer.write(batch)?;
                }
            }
            Ok(String::from_utf8(out)?.trim_end().to_string())
        }
        OutputFormat::Json => {
            let mut writer = arrow::json::LineDelimitedWriter::new(Vec::new());
            for batch in batches {
                writer.write(batch)?;
            }
            writer.finish()?;
            Ok(String::from_utf8(writer.into_inner())?.trim_end().to_string())
        }
    }
}

/// Runs one statement, wherever the views are.
pub type Run<'a> = dyn Fn(&str) -> Result<Vec<RecordBatch>> + 'a;

/// Lists every view's columns, in SQL any surface answers.
pub const DESCRIBE: &str = "SELECT table_name, column_name, data_type FROM information_schema.columns \
                            WHERE table_schema = 'public' ORDER BY table_name, ordinal_position";

/// The interactive session: statements end with `;`, `\d` lists views, `\q` quits.
pub fn repl(run: &Run<'_>, format: OutputFormat) -> Result<()> {
    let mut editor = rustyline::DefaultEditor::new()?;
    let history: Option<PathBuf> = std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".tillflow_history"));
    if let Some(h) = &history {
        let _ = editor.load_history(h);
    }
    println!(
        "tillflow sql — views: {}. End statements with `;`, \\d lists views, \\q quits.",
        table_names().join(", ")
    );
    let mut statement = String::new();
    loop {
        let prompt = if statement.is_empty() { "tillflow> " } else { "     ...> " };
        let line = match editor.readline(prompt) {
            Ok(line) => line,
            Err(ReadlineError::Interrupted) => {
                statement.clear();
                continue;
            }
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        };
        let trimmed = line.trim();
        if statement.is_empty() && trimmed.starts_with('\\') {
            let _ = editor.add_history_entry(trimmed);
            match trimmed {
                "\\q" => break,
                "\\d" => match run(DESCRIBE).and_then(|b| render(&b, format)) {
                    Ok(text) => println!("{text}"),
                    Err(e) => println!("error: {}", Chain(&e)),
                },
                other => println!("unknown command {other}: \\d lists views, \\q quits"),
            }
            continue;
        }
        statement.push_str(&line);
        statement.push('\n');
        if !trimmed.ends_with(';') {
            continue;
        }
        let sql = std::mem::take(&mut statement);
        let _ = editor.add_history_entry(sql.trim());
        match run(&sql).and_then(|b| render(&b, format)) {
            Ok(text) => println!("{text}"),
            Err(e) => println!("error: {}", Chain(&e)),
        }
    }
    if let Some(h) = &history {
        let _ = editor.save_history(h);
    }
    Ok(())
}
