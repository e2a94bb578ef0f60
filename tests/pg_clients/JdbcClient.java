// tillflow's Postgres surface as pgJDBC reaches it (what DBeaver, Metabase and Tableau use):
// DatabaseMetaData's tables and columns, a PreparedStatement with a typed parameter, sku_margin
// equal to `tillflow sql`'s rows, and SQLSTATEs on errors.
//
// Usage: java -cp postgresql.jar JdbcClient.java PORT EXPECTED_CSV
import java.nio.file.Files;
import java.nio.file.Path;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

public class JdbcClient {
    static void fail(String message) {
        System.err.println("pgJDBC: " + message);
        System.exit(1);
    }

    public static void main(String[] args) throws Exception {
        String url = "jdbc:postgresql://127.0.0.1:" + args[0] + "/tillflow?user=tillflow&sslmode=disable";
        List<String> lines = Files.readAllLines(Path.of(args[1]));
        List<String[]> want = new ArrayList<>();
        for (String line : lines.subList(1, lines.size())) want.add(line.split(",", -1));
        try (Connection connection = DriverManager.getConnection(url)) {
            DatabaseMetaData meta = connection.getMetaData();
            if (meta.getDatabaseMajorVersion() != 16) fail("server version " + meta.getDatabaseProductVersion());
            List<String> tables = new ArrayList<>();
            try (ResultSet rs = meta.getTables(null, "public", "%", new String[] {"TABLE"})) {
                while (rs.next()) tables.add(rs.getString("TABLE_NAME"));
            }
            if (!tables.contains("sku_margin") || !tables.contains("exceptions")) fail("getTables lists " + tables);
            Map<String, String> types = new HashMap<>();
            Map<String, String> remarks = new HashMap<>();
            try (ResultSet rs = meta.getColumns(null, "public", "sku_margin", "%")) {
                while (rs.next()) {
                    types.put(rs.getString("COLUMN_NAME"), rs.getString("TYPE_NAME"));
                    remarks.put(rs.getString("COLUMN_NAME"), rs.getString("REMARKS"));
                }
            }
            if (!"numeric".equals(types.get("net_sales")) || !"date".equals(types.get("business_date"))
                    || !"int8".equals(types.get("units_sold")) || !"text".equals(types.get("store_id"))) {
                fail("getColumns types " + types);
            }
            if (!"gross_sales − discounts − refunds".equals(remarks.get("net_sales"))) fail("remarks " + remarks);
            System.out.println("ok: pgJDBC DatabaseMetaData (" + tables.size() + " tables, sku_margin's types and remarks)");

            String store = want.get(0)[0];
            String sql = "SELECT store_id, sku, business_date, units_sold, net_sales, margin_pct FROM sku_margin "
                    + "WHERE store_id = ? ORDER BY store_id, sku, business_date";
            int rows = 0;
            try (PreparedStatement statement = connection.prepareStatement(sql)) {
                statement.setString(1, store);
                try (ResultSet rs = statement.executeQuery()) {
                    List<String[]> expected = new ArrayList<>();
                    for (String[] w : want) if (w[0].equals(store)) expected.add(w);
                    while (rs.next()) {
                        if (rows >= expected.size()) fail("more rows than tillflow sql reads");
                        String[] w = expected.get(rows);
                        String[] got = {rs.getString(1), rs.getString(2), rs.getString(3), rs.getString(4),
                            rs.getBigDecimal(5).toPlainString(), rs.getString(6) == null ? "" : rs.getString(6)};
                        for (int i = 0; i < 6; i++) {
                            boolean close = i == 5 && !got[i].isEmpty() && !w[i].isEmpty()
                                    && Math.abs(Double.parseDouble(got[i]) - Double.parseDouble(w[i])) <= 1e-9;
                            if (!got[i].equals(w[i]) && !close) fail("row " + String.join(",", got) + " differs from " + String.join(",", w));
                        }
                        rows++;
                    }
                    if (rows != expected.size()) fail(rows + " rows, tillflow sql reads " + expected.size());
                }
            }
            System.out.println("ok: pgJDBC PreparedStatement (" + rows + " rows)");

            // A fetch size inside a transaction reads through a portal, 100 rows per Execute.
            connection.setAutoCommit(false);
            try (PreparedStatement statement = connection.prepareStatement(
                    "SELECT store_id, units_sold FROM sku_margin ORDER BY store_id, sku, business_date")) {
                statement.setFetchSize(100);
                int fetched = 0;
                long units = 0;
                try (ResultSet rs = statement.executeQuery()) {
                    while (rs.next()) {
                        fetched++;
                        units += rs.getLong(2);
                    }
                }
                long expectedUnits = 0;
                for (String[] w : want) expectedUnits += Long.parseLong(w[3]);
                if (fetched != want.size() || units != expectedUnits) {
                    fail("fetching 100 at a time read " + fetched + " rows, " + units + " units; expected " + want.size() + ", " + expectedUnits);
                }
                System.out.println("ok: pgJDBC portal with a row limit (" + fetched + " rows, 100 per fetch)");
            }
            connection.commit();
            connection.setAutoCommit(true);
            String[][] errors = {{"SELECT * FROM no_such_view", "42P01"}, {"SELEC 1", "42601"}};
            for (String[] error : errors) {
                try (PreparedStatement statement = connection.prepareStatement(error[0])) {
                    statement.executeQuery();
                    fail(error[0] + " was answered");
                } catch (SQLException e) {
                    if (!error[1].equals(e.getSQLState())) fail(error[0] + ": SQLSTATE " + e.getSQLState() + ": " + e.getMessage());
                }
            }
            System.out.println("ok: pgJDBC errors carry SQLSTATE 42P01 and 42601");
        }
    }
}
