import { stat } from 'node:fs/promises';
import type { Storage } from '@lakegate/storage';
import { ConfigError, type GatewayConfig } from '../config/config.js';
import type { Logger } from '../logging/logger.js';

/**
 * Checks each local dataset folder at start, so that a mistake shows then and not at a tenant's first query:
 * a location that is a file is a configuration error; a folder that does not exist or cannot be read is a warning
 * (a pipeline may create it later), and the dataset is listed as `available: false` with the reason until it can
 * be read. A gateway without tenants starts, with a warning: it can answer nobody.
 */
export async function checkLocations(config: GatewayConfig, storage: Storage, logger: Logger): Promise<void> {
  if (Object.keys(config.tenants).length === 0) {
    logger.warn('gateway.no_tenants', { message: 'No tenant is configured: every request will be refused.' });
  }
  const problems: string[] = [];
  const unavailable: { tenant: string; dataset: string }[] = [];
  for (const [tenant, { datasets, rollups }] of Object.entries(config.tenants)) {
    for (const [dataset, { location }] of Object.entries(datasets)) {
      // A rollup's folder is the gateway's own, created before this check.
      if (location.kind !== 'file' || dataset in rollups) continue;
      const where = `tenants.${tenant}.datasets.${dataset}.location`;
      const found = await stat(location.path).then(
        (s) => (s.isDirectory() ? 'folder' : 'file'),
        (error: NodeJS.ErrnoException) => error.code ?? 'unreadable',
      );
      if (found === 'folder') continue;
      if (found === 'file') {
        problems.push(`${where}: ${location.path} is a file; a location is the folder that holds the dataset's files`);
        continue;
      }
      const reason = found === 'ENOENT' ? 'does not exist' : `cannot be read (${found})`;
      logger.warn('dataset.unavailable', { tenant, dataset, location: location.path, reason });
      unavailable.push({ tenant, dataset });
    }
  }
  if (problems.length > 0) throw new ConfigError(config.source, problems);
  // Reading each once records why it failed, which GET /v1/datasets then shows.
  await Promise.all(unavailable.map(({ tenant, dataset }) => storage.refresh(tenant, dataset).catch(() => undefined)));
}
