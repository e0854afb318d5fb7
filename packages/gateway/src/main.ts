import { ConfigError, loadConfig } from './config/config.js';
import { DEMO_TENANTS, demoConfig, demoDataDir, ensureDemoData } from './demo/demo-data.js';
import { startGateway } from './gateway.js';
import { createLogger } from './logging/logger.js';

const DEMO_SQL =
  'SELECT api_proxy, count(*) AS requests, round(avg(total_response_ms), 1) AS avg_ms FROM events GROUP BY api_proxy ORDER BY requests DESC LIMIT 5';

async function main(): Promise<void> {
  const env = process.env;
  const cwd = process.cwd();
  const logger = createLogger({ level: env.LAKEGATE_LOG_LEVEL === 'debug' ? 'debug' : 'info' });
  let config = loadConfig(env, cwd);
  const demo = config === undefined;
  if (!config) {
    console.log('No lakegate.config.json here: starting the embedded demo (generating its data on first run)...');
    await ensureDemoData(demoDataDir(cwd));
    config = demoConfig(cwd, env);
  }
  const gateway = await startGateway({ config, logger });
  console.log(`Lakegate is listening on ${gateway.url}`);
  if (gateway.postgresPort !== undefined) {
    console.log(
      `Postgres protocol on port ${gateway.postgresPort} (user: a tenant id, password: its API key, database: lakegate)`,
    );
  }
  if (demo) {
    const [first] = DEMO_TENANTS;
    console.log(`Demo tenants and API keys: ${DEMO_TENANTS.map((t) => `${t.tenant} (${t.apiKey})`).join(', ')}`);
    console.log('Try:');
    console.log(
      `  curl -s ${gateway.url}/v1/query -H 'Authorization: Bearer ${first?.apiKey}' -H 'Content-Type: application/json' -d '${JSON.stringify({ sql: DEMO_SQL })}'`,
    );
    if (gateway.postgresPort !== undefined) {
      const host = config.server.postgres.host;
      console.log(
        `  PGPASSWORD=${first?.apiKey} psql "host=${host} port=${gateway.postgresPort} user=${first?.tenant} dbname=lakegate" -c "${DEMO_SQL}"`,
      );
    }
  }

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info('gateway.stopping', { signal });
    gateway.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error('gateway.stop_failed', { error });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) console.error(error.message);
  else console.error('Lakegate failed to start:', error);
  process.exit(1);
});
