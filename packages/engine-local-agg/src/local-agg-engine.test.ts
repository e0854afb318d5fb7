import { KIT_TENANT, runEngineConformance } from '@lakegate/engine-api/conformance';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { LocalAggEngine } from './local-agg-engine.js';
import { tempFolder, writeCsvDataset } from './test-support.js';

runEngineConformance({ describe, it, beforeAll, afterAll }, 'local-agg', {
  async setup(tables) {
    const folder = await tempFolder('local-agg-kit-');
    const bindings = await Promise.all(
      Object.entries(tables).map(([name, table]) => writeCsvDataset(folder.dir, KIT_TENANT, name, table)),
    );
    const engine = new LocalAggEngine(
      { threads: 2, inlineBytes: 4 * 1024 * 1024, rangeBytes: 16 * 1024 * 1024 },
      { storage: { tenantDirectories: () => [folder.dir] } },
    );
    return { engine, tables: bindings, teardown: folder.remove };
  },
});
