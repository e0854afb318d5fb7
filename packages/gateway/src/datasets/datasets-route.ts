import type { Storage } from '@lakegate/storage';
import { Hono } from 'hono';
import type { GatewayEnv } from '../app-env.js';

/**
 * The caller's datasets and cache: `GET /v1/datasets`, `POST /v1/datasets/{name}/refresh`,
 * `POST /v1/datasets/{name}/warm`, and `GET /v1/cache`. Everything is scoped to the caller's tenant.
 */
export function datasetsRoutes(storage: Storage): Hono<GatewayEnv> {
  return new Hono<GatewayEnv>()
    .get('/datasets', function listDatasets(c) {
      return c.json({ datasets: storage.describe(c.get('tenant')) });
    })
    .get('/warming', function warmingPlan(c) {
      return c.json({ plan: storage.warmingPlan(c.get('tenant')) });
    })
    .post('/datasets/:name/refresh', async function refreshDataset(c) {
      return c.json({ dataset: await storage.refresh(c.get('tenant'), c.req.param('name')) });
    })
    .post('/datasets/:name/warm', async function warmDataset(c) {
      return c.json({ dataset: await storage.warm(c.get('tenant'), c.req.param('name'), c.req.raw.signal) });
    })
    .get('/cache', function cacheMetrics(c) {
      return c.json({ tenant: c.get('tenant'), cache: storage.metrics(c.get('tenant')) });
    });
}
