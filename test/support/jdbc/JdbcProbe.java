import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.Properties;

/**
 * Drives Lakegate's Postgres protocol with pgjdbc, one scenario per run, printing one line per fact for the
 * integration test to compare: `key=value`.
 */
public final class JdbcProbe {
  private JdbcProbe() {}

  public static void main(String[] args) throws Exception {
    String url = args[0];
    Properties props = new Properties();
    props.setProperty("user", args[1]);
    props.setProperty("password", args[2]);
    String scenario = args[3];
    try (Connection connection = DriverManager.getConnection(url, props)) {
      switch (scenario) {
        case "prepared" -> prepared(connection);
        case "fetch" -> fetch(connection);
        case "cancel" -> cancel(connection);
        case "error" -> error(connection);
        case "metadata" -> metadata(connection);
        default -> throw new IllegalArgumentException(scenario);
      }
    }
  }

  /** Parameters bound as values, and the same statement run often enough to switch to binary transfer. */
  private static void prepared(Connection connection) throws SQLException {
    try (PreparedStatement statement = connection.prepareStatement(
        "SELECT id, name, score, even, day, ts, amount, small FROM events WHERE id = ? OR name = ? ORDER BY id")) {
      for (int run = 0; run < 6; run++) {
        statement.setLong(1, 7 + run);
        statement.setString(2, "x' OR '1'='1");
        try (ResultSet rows = statement.executeQuery()) {
          ResultSetMetaData meta = rows.getMetaData();
          if (run == 0) {
            StringBuilder types = new StringBuilder();
            for (int i = 1; i <= meta.getColumnCount(); i++) types.append(i > 1 ? "," : "").append(meta.getColumnTypeName(i));
            System.out.println("types=" + types);
          }
          while (rows.next()) {
            System.out.println("row" + run + "=" + rows.getLong("id") + "|" + rows.getString("name") + "|"
                + rows.getBigDecimal("score") + "|" + rows.getBoolean("even") + "|" + rows.getDate("day") + "|"
                + rows.getTimestamp("ts") + "|" + rows.getBigDecimal("amount") + "|" + rows.getInt("small"));
          }
        }
      }
    }
  }

  /** Autocommit off and a fetch size: the result comes in pieces (Execute with a row limit, PortalSuspended). */
  private static void fetch(Connection connection) throws SQLException {
    connection.setAutoCommit(false);
    try (Statement statement = connection.createStatement()) {
      statement.setFetchSize(1000);
      long rows = 0;
      long sum = 0;
      try (ResultSet result = statement.executeQuery("SELECT id FROM events")) {
        while (result.next()) {
          rows++;
          sum += result.getLong(1);
        }
      }
      System.out.println("rows=" + rows);
      System.out.println("sum=" + sum);
    }
    connection.commit();
  }

  /** Statement.cancel from another thread stops a long query with SQLState 57014. */
  private static void cancel(Connection connection) throws Exception {
    try (Statement statement = connection.createStatement()) {
      Thread canceller = new Thread(() -> {
        try {
          Thread.sleep(500);
          statement.cancel();
        } catch (Exception ignored) {
          // the test sees the query finish instead
        }
      });
      canceller.start();
      long started = System.currentTimeMillis();
      try {
        statement.executeQuery("SELECT count(*) FROM range(20000000000) a(x) WHERE x % 7 = 3");
        System.out.println("state=finished");
      } catch (SQLException e) {
        System.out.println("state=" + e.getSQLState());
      }
      System.out.println("ms=" + (System.currentTimeMillis() - started));
      canceller.join();
      try (ResultSet after = statement.executeQuery("SELECT 1")) {
        after.next();
        System.out.println("after=" + after.getInt(1));
      }
    }
  }

  private static void error(Connection connection) {
    try (Statement statement = connection.createStatement()) {
      statement.executeQuery("SELECT * FROM nope");
    } catch (SQLException e) {
      System.out.println("state=" + e.getSQLState());
      System.out.println("message=" + e.getMessage().split("\n")[0]);
    }
  }

  private static void metadata(Connection connection) throws SQLException {
    DatabaseMetaData meta = connection.getMetaData();
    System.out.println("product=" + meta.getDatabaseProductName() + " " + meta.getDatabaseMajorVersion());
    try (ResultSet tables = meta.getTables(null, null, "%", new String[] {"TABLE"})) {
      while (tables.next()) System.out.println("table=" + tables.getString("TABLE_SCHEM") + "." + tables.getString("TABLE_NAME"));
    }
    try (ResultSet columns = meta.getColumns(null, null, "events", "%")) {
      while (columns.next()) System.out.println("column=" + columns.getString("COLUMN_NAME") + ":" + columns.getString("TYPE_NAME"));
    }
  }
}
