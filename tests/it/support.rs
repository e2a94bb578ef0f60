//! Running the tillflow binary as a user would.

pub fn tillflow() -> std::process::Command {
    std::process::Command::new(env!("CARGO_BIN_EXE_tillflow"))
}

/// The key of `Pseudonyms::known()`, in hex: runs whose views a test compares across `--out`
/// folders share it, since each new folder otherwise makes its own key.
pub const KNOWN_KEY: &str = "0707070707070707070707070707070707070707070707070707070707070707";

/// [`run_ok`] with the pseudonyms of [`KNOWN_KEY`].
pub fn run_ok_keyed(args: &[&str]) -> String {
    let output = tillflow().args(args).env("TILLFLOW_PSEUDONYM_KEY", KNOWN_KEY).output().unwrap();
    assert!(output.status.success(), "tillflow {args:?} failed:\n{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

/// Runs the binary; panics with its output unless it succeeds. Returns stdout.
pub fn run_ok(args: &[&str]) -> String {
    let output = tillflow().args(args).output().unwrap();
    assert!(
        output.status.success(),
        "tillflow {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A platform's export read with `--source` beside canonical reference data: store S1 (New
/// York) and SKUs K1 (cost 5.00, list 11.99) and K2 (cost 2.00, list 9.00); `[sources.PLATFORM]`
/// maps `location` (a location, merchant or register id) to S1.
pub struct Backfill {
    dir: tempfile::TempDir,
    platform: &'static str,
}

impl Backfill {
    /// `key` is the config's map of the platform (`locations`, `merchants`, `registers`).
    pub fn new(platform: &'static str, key: &str, location: &str, export: &serde_json::Value) -> Backfill {
        use serde_json::json;
        let backfill = Backfill { dir: tempfile::tempdir().unwrap(), platform };
        let config = format!("[sources.{platform}]\n{key} = {{ \"{location}\" = \"S1\" }}\n");
        std::fs::write(backfill.path("tillflow.toml"), config).unwrap();
        let reference = [
            json!({"type": "store", "store_id": "S1", "name": "S1", "district": "D1", "region": "R", "timezone": "America/New_York"}),
            json!({"type": "product", "sku": "K1", "name": "K1", "category": "c", "department": "d", "unit_cost": "5.00", "list_price": "11.99"}),
            json!({"type": "product", "sku": "K2", "name": "K2", "category": "c", "department": "d", "unit_cost": "2.00", "list_price": "9.00"}),
        ];
        let lines: Vec<String> = reference.iter().map(|r| r.to_string()).collect();
        std::fs::write(backfill.path("reference.ndjson"), lines.join("\n")).unwrap();
        std::fs::write(backfill.path("export.json"), export.to_string()).unwrap();
        backfill
    }

    pub fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    /// `tillflow run` (or `replay`, with `extra` flags) over the reference and the export into
    /// folder `out`; returns its summary.
    pub fn run(&self, command: &str, extra: &[&str], out: &str) -> String {
        let (reference, export, config, out) =
            (self.path("reference.ndjson"), self.path("export.json"), self.path("tillflow.toml"), self.path(out));
        let mut args = vec![command, "--input", &reference, "--input", &export, "--source", self.platform];
        args.extend(["--config", &config, "--out", &out]);
        args.extend(extra);
        run_ok(&args)
    }

    /// A query over the views in folder `out`, as CSV without its trailing newline.
    pub fn sql(&self, out: &str, query: &str) -> String {
        run_ok(&["sql", "--out", &self.path(out), "--format", "csv", query]).trim_end().to_string()
    }

    /// Each SKU's day in `sku_margin`: `sku,business_date,units_sold,units_returned,net_sales`.
    pub fn margins(&self, out: &str) -> String {
        self.sql(out, "SELECT sku, business_date, units_sold, units_returned, net_sales FROM sku_margin ORDER BY 1, 2")
    }
}

/// How many records a run's summary says it dead-lettered.
pub fn dead_lettered(summary: &str) -> u64 {
    let line = summary.lines().find(|l| l.trim_start().starts_with("dead-lettered")).expect("a dead-lettered line");
    line.split_whitespace().last().and_then(|n| n.parse().ok()).expect("a count")
}
