import { isLakegateError } from '@lakegate/engine-api';
import { ConfigError, loadConfig } from './config/config.js';
import { DEMO_TENANTS, demoConfig, demoDataDir, ensureDemoData } from './demo/demo-data.js';
import { runEngineCommand } from './engines/engine-commands.js';
import { planEngines } from './engines/engine-plan.js';
import { BUILT_IN_ENGINES, startGateway } from './gateway.js';
import { createLogger, type LogLevel } from './logging/logger.js';

const DEMO_SQL =
  'SELECT api_proxy, count(*) AS requests, round(avg(total_response_ms), 1) AS avg_ms FROM events GROUP BY api_proxy ORDER BY requests DESC LIMIT 5';

// Every line the process writes is JSON, one per event, so that log pipelines read all of it.
const LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const logger = createLogger({
  level: LEVELS.find((level) => level === process.env.LAKEGATE_LOG_LEVEL) ?? 'info',
});
/** Start failures go to stderr, still one JSON line: what failed, and each problem an operator can act on. */
const failures = createLogger({ write: (line) => process.stderr.write(`${line}\n`) });

// Node's warnings (a library's deprecation notice, ...) print several lines of text by default: one JSON line here.
process.removeAllListeners('warning');
process.on('warning', (warning) => {
  logger.warn('process.warning', { name: warning.name, message: warning.message.replace(/\s+/g, ' ').trim() });
});

/** `lakegate <command> [args]`: an engine's operator command, printed to stdout (`lakegate clickhouse-users`). */
async function command(name: string, args: readonly string[]): Promise<void> {
  const config = loadConfig(process.env, process.cwd());
  if (!config)
    throw new ConfigError('configuration', ['no lakegate.config.json here (or LAKEGATE_CONFIG): commands read it']);
  const specs = await planEngines({
    engines: config.engines,
    tenants: config.tenants,
    builtIns: BUILT_IN_ENGINES,
    source: config.source,
  });
  process.stdout.write(runEngineCommand(config, specs, name, args));
}

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  if (name !== undefined && !name.startsWith('-')) return command(name, args);
  const env = process.env;
  const cwd = process.cwd();
  let config = loadConfig(env, cwd);
  const demo = config === undefined;
  if (!config) {
    logger.info('gateway.demo_starting', {
      message: 'No lakegate.config.json here: starting the embedded demo (generating its data on first run).',
    });
    await ensureDemoData(demoDataDir(cwd));
    config = demoConfig(cwd, env);
  }
  const gateway = await startGateway({
    config,
    logger,
    loadConfig: () => loadConfig(env, cwd) ?? (demo ? demoConfig(cwd, env) : undefined),
  });
  logger.info('gateway.listening', {
    url: gateway.url,
    ...(gateway.postgresPort !== undefined
      ? { postgres: { host: config.server.postgres.host, port: gateway.postgresPort, database: 'lakegate' } }
      : {}),
  });
  if (demo) {
    const [first] = DEMO_TENANTS;
    logger.info('gateway.demo', {
      tenants: DEMO_TENANTS.map((t) => ({ tenant: t.tenant, apiKey: t.apiKey })),
      try: `curl -s ${gateway.url}/v1/query -H 'Authorization: Bearer ${first?.apiKey}' -H 'Content-Type: application/json' -d '${JSON.stringify({ sql: DEMO_SQL })}'`,
      ...(gateway.postgresPort !== undefined
        ? {
            tryPsql: `PGPASSWORD=${first?.apiKey} psql "host=${config.server.postgres.host} port=${gateway.postgresPort} user=${first?.tenant} dbname=lakegate" -c "${DEMO_SQL}"`,
          }
        : {}),
    });
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
  // SIGHUP reloads the configuration, as daemons do; a refused one is logged and changes nothing.
  process.on('SIGHUP', () => {
    // A refused configuration is logged where it is refused (config.reload_refused); anything else here.
    gateway.reloadFromSource().catch((error: unknown) => {
      if (!isLakegateError(error)) logger.error('config.reload_failed', { error });
    });
  });
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError) {
    failures.error('gateway.start_failed', { message: error.headline, problems: error.problems });
  } else if (process.argv[2] !== undefined && !process.argv[2].startsWith('-')) {
    failures.error('command.failed', {
      command: process.argv[2],
      message: error instanceof Error ? error.message : String(error),
    });
  } else {
    failures.error('gateway.start_failed', { message: 'Lakegate failed to start.', error });
  }
  process.exit(1);
});
