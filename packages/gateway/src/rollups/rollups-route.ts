import { LakegateError } from '@lakegate/engine-api';
import type { RollupAdmin } from '@lakegate/rollups';
import { Hono } from 'hono';
import { z } from 'zod';
import type { GatewayEnv } from '../app-env.js';
import { readJsonBody, validBody } from '../http/json-body.js';

/** The optional body of a rollup's backfill and audit (also in the OpenAPI document). */
export const rangeSchema = z.strictObject({
  /** ISO 8601 start of the range (inclusive); default: the rollup's first interval. */
  from: z.string().optional(),
  /** ISO 8601 end of the range (exclusive); default: the end of the newest complete interval. */
  to: z.string().optional(),
});

async function readRange(request: Request): Promise<z.output<typeof rangeSchema>> {
  const text = await request.clone().text();
  if (text.trim() === '') return {};
  return validBody(await readJsonBody(request), rangeSchema);
}

/**
 * The caller's rollups: `GET /v1/rollups` (intervals by state, holes, lag, last audit), `GET /v1/rollups/{name}`
 * (every interval), `GET /v1/rollups/{name}/audit` (every audited interval), `POST /v1/rollups/{name}/backfill` and
 * `POST /v1/rollups/{name}/audit` with an optional `{"from", "to"}` range.
 */
export function rollupsRoutes(rollups: RollupAdmin): Hono<GatewayEnv> {
  return new Hono<GatewayEnv>()
    .get('/rollups', async function listRollups(c) {
      return c.json({ rollups: await rollups.describe(c.get('tenant')) });
    })
    .get('/rollups/:name', async function rollupDetail(c) {
      const name = c.req.param('name');
      const [rollup] = await rollups.describe(c.get('tenant'), name);
      if (!rollup) throw new LakegateError('NOT_FOUND', `Rollup "${name}" does not exist.`);
      return c.json({ rollup });
    })
    .post('/rollups/:name/backfill', async function backfillRollup(c) {
      const { from, to } = await readRange(c.req.raw);
      const intervals = await rollups.backfill(c.get('tenant'), c.req.param('name'), from, to);
      return c.json({ rollup: c.req.param('name'), intervals }, 202);
    })
    .get('/rollups/:name/audit', async function rollupAudits(c) {
      const audits = await rollups.audits(c.get('tenant'), c.req.param('name'));
      return c.json({ rollup: c.req.param('name'), audits, mismatches: audits.filter((a) => !a.ok).length });
    })
    .post('/rollups/:name/audit', async function auditRollup(c) {
      const { from, to } = await readRange(c.req.raw);
      const audits = await rollups.audit(c.get('tenant'), c.req.param('name'), from, to);
      return c.json({ rollup: c.req.param('name'), audits, mismatches: audits.filter((a) => !a.ok).length });
    });
}
