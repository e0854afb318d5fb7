import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './services.js';

/** The path of `clickhouse-server`, or undefined when it is not installed. */
export function findClickHouseServer(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v clickhouse-server'], { encoding: 'utf8' });
  const path = found.stdout.trim();
  return found.status === 0 && path ? path : undefined;
}

/** A tenant's ClickHouse user, as the harness creates it (its profile is read-only, as `clickhouse-users` writes). */
export interface ClickHouseTenantUser {
  readonly user: string;
  readonly password: string;
  readonly database: string;
  /** Profile settings beyond readonly=1 (max_execution_time, max_memory_usage, ...). */
  readonly settings?: Readonly<Record<string, number>>;
}

export interface ClickHouseShard {
  readonly httpPort: number;
  readonly tcpPort: number;
  readonly url: string;
  /** Runs SQL as the administrator on this shard; resolves with the response text (rejects on an error status). */
  admin(sql: string, database?: string): Promise<string>;
  /** Stops the shard's process (SIGSTOP with `freeze`, so that it keeps its connections and answers nothing). */
  stop(freeze?: boolean): Promise<void>;
  /** Starts it again after stop. */
  resume(): Promise<void>;
}

export interface ClickHouseCluster {
  readonly shards: readonly ClickHouseShard[];
  /** The HTTP interface of the first shard, which the gateway's engine talks to. */
  readonly url: string;
  /** The cluster's name in `remote_servers`. */
  readonly cluster: string;
  stop(): Promise<void>;
}

const xml = (text: string): string => text.replaceAll('&', '&amp;').replaceAll('<', '&lt;');

function usersXml(tenants: readonly ClickHouseTenantUser[]): string {
  const profiles = tenants.map(
    (t) =>
      `<lakegate_${t.user}><readonly>1</readonly><log_queries>1</log_queries><prefer_localhost_replica>0</prefer_localhost_replica>${Object.entries(
        t.settings ?? {},
      )
        .map(([k, v]) => `<${k}>${v}</${k}>`)
        .join('')}</lakegate_${t.user}>`,
  );
  const users = tenants.map(
    (t) =>
      `<${t.user}><password>${xml(t.password)}</password><networks><ip>127.0.0.1</ip></networks><profile>lakegate_${t.user}</profile><quota>default</quota><allow_databases><database>${t.database}</database></allow_databases></${t.user}>`,
  );
  return `<?xml version="1.0"?>
<yandex>
  <profiles>
    <default><log_queries>1</log_queries><prefer_localhost_replica>0</prefer_localhost_replica></default>
    ${profiles.join('\n    ')}
  </profiles>
  <users>
    <default><password></password><networks><ip>127.0.0.1</ip></networks><profile>default</profile><quota>default</quota></default>
    ${users.join('\n    ')}
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
`;
}

function configXml(
  dir: string,
  ports: { http: number; tcp: number; interserver: number },
  shards: readonly number[],
): string {
  return `<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>${dir}/server.log</log><errorlog>${dir}/error.log</errorlog></logger>
  <http_port>${ports.http}</http_port>
  <tcp_port>${ports.tcp}</tcp_port>
  <interserver_http_port>${ports.interserver}</interserver_http_port>
  <listen_host>127.0.0.1</listen_host>
  <path>${dir}/data/</path>
  <tmp_path>${dir}/tmp/</tmp_path>
  <user_files_path>${dir}/user_files/</user_files_path>
  <format_schema_path>${dir}/format_schemas/</format_schema_path>
  <users_config>${dir}/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mark_cache_size>67108864</mark_cache_size>
  <uncompressed_cache_size>67108864</uncompressed_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <remote_servers>
    <lakegate>
${shards.map((tcp) => `      <shard><replica><host>127.0.0.1</host><port>${tcp}</port></replica></shard>`).join('\n')}
    </lakegate>
  </remote_servers>
  <query_log><database>system</database><table>query_log</table><flush_interval_milliseconds>300</flush_interval_milliseconds></query_log>
</yandex>
`;
}

async function waitForPing(url: string, deadline: number, child: ChildProcess, dir: string): Promise<void> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`clickhouse-server exited with ${child.exitCode} (logs in ${dir})`);
    try {
      if ((await fetch(`${url}/ping`)).ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`clickhouse-server did not answer at ${url} (logs in ${dir})`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Starts a two-shard ClickHouse cluster on loopback ports: two `clickhouse-server` processes, each with the
 * cluster `lakegate` in `remote_servers` (one replica per shard), the tenants' users with read-only profiles and
 * access to their own database only, and `prefer_localhost_replica=0` so that each shard's part of a distributed
 * query shows in that shard's own query log.
 */
export async function startClickHouseCluster(
  tenants: readonly ClickHouseTenantUser[],
  binary = findClickHouseServer(),
): Promise<ClickHouseCluster> {
  if (!binary) throw new Error('clickhouse-server is not installed (Debian: apt-get install -y clickhouse-server)');
  const root = await mkdtemp(join(tmpdir(), 'lakegate-clickhouse-'));
  const ports = await Promise.all(
    [0, 1].map(async () => ({ http: await freePort(), tcp: await freePort(), interserver: await freePort() })),
  );
  const shards: ClickHouseShard[] = [];
  const children: ChildProcess[] = [];
  for (const [i, port] of ports.entries()) {
    const dir = join(root, `shard-${i + 1}`);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'users.xml'), usersXml(tenants));
    await writeFile(
      join(dir, 'config.xml'),
      configXml(
        dir,
        port,
        ports.map((p) => p.tcp),
      ),
    );
    const url = `http://127.0.0.1:${port.http}`;
    let child = spawn(binary, [`--config-file=${join(dir, 'config.xml')}`], { stdio: 'ignore' });
    children.push(child);
    const admin = async (sql: string, database = 'default'): Promise<string> => {
      const response = await fetch(`${url}/?user=default&database=${database}`, { method: 'POST', body: sql });
      const text = await response.text();
      if (!response.ok) throw new Error(`ClickHouse shard ${i + 1}: ${text}`);
      return text;
    };
    shards.push({
      httpPort: port.http,
      tcpPort: port.tcp,
      url,
      admin,
      async stop(freeze = false) {
        if (freeze) {
          child.kill('SIGSTOP');
          return;
        }
        await new Promise<void>((resolve) => {
          if (child.exitCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        });
      },
      async resume() {
        if (child.exitCode === null && child.signalCode === null) {
          child.kill('SIGCONT');
          return;
        }
        child = spawn(binary, [`--config-file=${join(dir, 'config.xml')}`], { stdio: 'ignore' });
        children.push(child);
        await waitForPing(url, Date.now() + 30_000, child, dir);
      },
    });
    await waitForPing(url, Date.now() + 30_000, child, dir);
  }
  return {
    shards,
    url: shards[0]?.url as string,
    cluster: 'lakegate',
    async stop() {
      await Promise.all(
        children.map(
          (child) =>
            new Promise<void>((resolve) => {
              if (child.exitCode !== null || child.signalCode === 'SIGKILL') return resolve();
              child.once('exit', () => resolve());
              child.kill('SIGCONT');
              child.kill('SIGKILL');
            }),
        ),
      );
      await rm(root, { recursive: true, force: true });
    },
  };
}
