// tillflow's Postgres surface as node-postgres (npm `pg`) reaches it: the catalog a schema browser
// reads, a parameterised query (extended protocol), sku_margin equal to `tillflow sql`'s rows,
// and SQLSTATEs on errors.
//
// Usage: node node_client.js PORT EXPECTED_CSV   (with `pg` installed where node finds it)
const fs = require("fs");
const { Client } = require("pg");

const [port, expectedCsv] = process.argv.slice(2);
const QUERY =
  "SELECT store_id, sku, business_date, units_sold, net_sales, margin_pct FROM sku_margin " +
  "WHERE store_id = $1 ORDER BY store_id, sku, business_date";

function fail(message) {
  console.error(`node-postgres: ${message}`);
  process.exit(1);
}

async function main() {
  const want = fs.readFileSync(expectedCsv, "utf8").trim().split("\n").slice(1).map((l) => l.split(","));
  const client = new Client({ host: "127.0.0.1", port: Number(port), user: "tillflow", database: "tillflow" });
  // Dates and numerics as the text the server sent, as `tillflow sql` prints them.
  client.setTypeParser(1082, (v) => v);
  await client.connect();

  const version = (await client.query("SELECT version()")).rows[0].version;
  if (!/^PostgreSQL 16\./.test(version)) fail(`version() is ${version}`);
  const columns = await client.query(
    "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'sku_margin' ORDER BY ordinal_position"
  );
  if (!columns.rows.some((r) => r.column_name === "net_sales")) fail("information_schema lists no sku_margin.net_sales");
  const oids = await client.query("SELECT * FROM sku_margin LIMIT 1");
  const oid = Object.fromEntries(oids.fields.map((f) => [f.name, f.dataTypeID]));
  for (const [name, expected] of [["net_sales", 1700], ["business_date", 1082], ["units_sold", 20], ["store_id", 25], ["margin_pct", 701]]) {
    if (oid[name] !== expected) fail(`${name} has type OID ${oid[name]}, not ${expected}`);
  }

  const store = want[0][0];
  const got = (await client.query(QUERY, [store])).rows.map((r) => [
    r.store_id, r.sku, r.business_date, String(r.units_sold), r.net_sales, r.margin_pct === null ? "" : String(r.margin_pct),
  ]);
  const expected = want.filter((w) => w[0] === store);
  if (got.length !== expected.length) fail(`${got.length} rows, tillflow sql reads ${expected.length}`);
  got.forEach((row, i) => {
    row.forEach((value, j) => {
      const other = expected[i][j];
      const close = value !== "" && other !== "" && Math.abs(Number(value) - Number(other)) <= 1e-9 * Math.max(1, Math.abs(Number(other)));
      if (value !== other && !(j === 5 && close)) fail(`row ${row} differs from ${expected[i]}`);
    });
  });
  console.log(`ok: node-postgres, a parameterised query (${got.length} rows) and the type OIDs`);

  for (const [sql, code] of [["SELECT * FROM no_such_view", "42P01"], ["SELEC 1", "42601"]]) {
    try {
      await client.query(sql);
      fail(`${sql} was answered`);
    } catch (e) {
      if (e.code !== code) fail(`${sql}: SQLSTATE ${e.code}, not ${code}`);
    }
  }
  console.log("ok: node-postgres errors carry SQLSTATE 42P01 and 42601");
  await client.end();
}

main().catch((e) => fail(e.stack || String(e)));
