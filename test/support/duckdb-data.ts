import { DuckDBInstance } from '@duckdb/node-api';

/** Runs SQL on a throw-away, unrestricted DuckDB (to write test data, or to compute expected results). */
export async function withDuckDB<T>(fn: (run: (sql: string) => Promise<unknown[][]>) => Promise<T>): Promise<T> {
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    return await fn(async (sql) => (await connection.runAndReadAll(sql)).getRowsJS() as unknown[][]);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Writes the result of `select` to a Parquet file. */
export async function writeParquet(path: string, select: string): Promise<void> {
  await withDuckDB((run) => run(`COPY (${select}) TO '${path.replaceAll("'", "''")}' (FORMAT parquet)`));
}
