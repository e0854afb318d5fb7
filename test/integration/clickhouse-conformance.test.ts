import { runEngineConformance } from '@lakegate/engine-api/conformance';
import { ClickHouseEngine, parseClickHouseConfig } from '@lakegate/engine-clickhouse';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { findClickHouseServer, startClickHouseCluster } from '../harness/clickhouse.js';

const KIT = { user: 'kit', password: 'kit-ch-password', database: 'kit' };

/**
 * The engine conformance kit against a real ClickHouse server (the first shard of the test cluster), with the
 * kit's tables as MergeTree tables of the kit tenant's database. ClickHouse 18.16 has no boolean type: the engine
 * declares it, and the kit expects 1 and 0.
 */
describe.skipIf(!findClickHouseServer())('ClickHouse conformance', () => {
  runEngineConformance({ describe, it, beforeAll, afterAll }, 'clickhouse', {
    async setup(tables) {
      // Small blocks, so that the slow query's per-block sleep lets a cancel through quickly.
      const cluster = await startClickHouseCluster([{ ...KIT, settings: { max_block_size: 8192 } }]);
      const shard = cluster.shards[0];
      if (!shard) throw new Error('no shard');
      await shard.admin('CREATE DATABASE kit');
      await shard.admin(
        'CREATE TABLE kit.kit_people (id Int64, name Nullable(String), score Float64, active UInt8, joined Date) ENGINE = MergeTree ORDER BY id',
      );
      const values = tables.kit_people.rows
        .map(([id, name, score, active, joined]) => {
          const day = new Date(Number(joined) * 86_400_000).toISOString().slice(0, 10);
          return `(${id}, ${name === null ? 'NULL' : `'${name}'`}, ${score}, ${active ? 1 : 0}, '${day}')`;
        })
        .join(', ');
      await shard.admin(`INSERT INTO kit.kit_people VALUES ${values}`);
      await shard.admin('CREATE TABLE kit.kit_series (n Int64) ENGINE = MergeTree ORDER BY n');
      await shard.admin(`INSERT INTO kit.kit_series SELECT number FROM numbers(${tables.kit_series.rows.length})`);
      const parsed = parseClickHouseConfig({ url: shard.url });
      if (!parsed.ok) throw new Error(parsed.problems.join('; '));
      const engine = new ClickHouseEngine('clickhouse', parsed.config, {
        storage: { tenantDirectories: () => [] },
        tenantConfigs: new Map([['kit_tenant', KIT]]),
      });
      return {
        engine,
        tables: ['kit_people', 'kit_series'].map((name) => ({ name, table: name })),
        slowQuery: 'SELECT sum(sleepEachRow(0.00004)) FROM kit_series',
        teardown: () => cluster.stop(),
      };
    },
  });
});
