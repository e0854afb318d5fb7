import { ApiError, api, type Identity } from './api.js';
import { type Child, formatBytes, formatMs, h, show, table } from './dom.js';
import { quickChart, type Result, resultGrid, toCsv } from './results.js';
import { highlight } from './sql-highlight.js';

/** What a page gets: where to draw, who is signed in, and how to go to another page. */
export interface PageContext {
  readonly main: HTMLElement;
  readonly who: Identity;
  readonly go: (hash: string) => void;
  /** Aborted when the page is left: its requests and timers stop. */
  readonly signal: AbortSignal;
}

const call = <T>(context: PageContext, path: string, init: RequestInit = {}) =>
  api<T>(context.who.key, path, { signal: context.signal, ...init });

const errorText = (error: unknown): string =>
  error instanceof ApiError
    ? `${error.code}: ${error.message}`
    : error instanceof Error
      ? error.message
      : String(error);

/** The SQL the Query page opens with (History's "Run again" sets it). */
let nextSql = 'SELECT 1 AS one';

export function openQuery(sql: string): void {
  nextSql = sql;
}

export async function queryPage(context: PageContext): Promise<void> {
  const { main } = context;
  if (context.who.admin) {
    show(
      main,
      h('h1', {}, 'Query'),
      h('p', { className: 'muted' }, 'Queries run as a tenant: sign in with a tenant key to run them.'),
    );
    return;
  }
  const textarea = h('textarea', { id: 'sql', 'aria-label': 'SQL', spellcheck: 'false', rows: 8 });
  textarea.value = nextSql;
  const pre = h('pre', { 'aria-hidden': 'true' });
  const paint = (): void => {
    pre.replaceChildren(...highlight(textarea.value));
    pre.scrollTop = textarea.scrollTop;
  };
  textarea.addEventListener('input', paint);
  textarea.addEventListener('scroll', () => {
    pre.scrollTop = textarea.scrollTop;
  });
  paint();
  const engine = h('select', { id: 'engine', 'aria-label': 'Engine' }, h('option', { value: '' }, 'Default engine'));
  const maxRows = h('input', {
    id: 'max-rows',
    type: 'number',
    min: 0,
    value: 100000,
    'aria-label': 'Rows at most',
    style: 'width:8rem',
  });
  const run = h('button', { id: 'run', type: 'button', className: 'primary' }, 'Run (Ctrl+Enter)');
  const cancel = h('button', { id: 'cancel', type: 'button', disabled: true }, 'Cancel');
  const status = h('div', { id: 'status', role: 'status', className: 'muted' });
  const output = h('div', { id: 'output' });
  show(
    main,
    h('h1', {}, 'Query'),
    h('div', { className: 'editor' }, pre, textarea),
    h('div', { className: 'row' }, run, cancel, engine, h('label', {}, 'Rows at most ', maxRows)),
    status,
    output,
  );
  fetch('/readyz', { signal: context.signal })
    .then((r) => r.json() as Promise<{ engines?: Record<string, string> }>)
    .then((ready) => {
      for (const id of Object.keys(ready.engines ?? {})) engine.append(h('option', { value: id }, id));
    })
    .catch(() => undefined);
  let running: AbortController | undefined;
  const execute = async (): Promise<void> => {
    if (running) return;
    running = new AbortController();
    context.signal.addEventListener('abort', () => running?.abort(), { once: true });
    run.disabled = true;
    cancel.disabled = false;
    show(status, 'Running…');
    const started = performance.now();
    try {
      const result = await api<Result>(context.who.key, '/v1/query', {
        method: 'POST',
        body: JSON.stringify({
          sql: textarea.value,
          ...(engine.value ? { engine: engine.value } : {}),
          maxRows: Number(maxRows.value) || 0,
        }),
        signal: running.signal,
      });
      const stats = result.stats ?? {};
      show(
        status,
        h(
          'div',
          { className: 'stats', id: 'stats' },
          h('span', {}, `${result.rowCount} rows${result.truncated ? ' (truncated)' : ''}`),
          h('span', {}, `${Math.round(performance.now() - started)} ms in the browser`),
          h('span', {}, `engine ${String(stats.engine ?? '')}`),
          h('span', {}, `route: ${String(stats.route ?? '')}`),
          stats.cache ? h('span', {}, `cache ${String(stats.cache)}`) : null,
          stats.elapsedMs !== undefined ? h('span', {}, `gateway ${formatMs(Number(stats.elapsedMs))}`) : null,
          stats.admissionWaitMs !== undefined
            ? h('span', {}, `admission wait ${formatMs(Number(stats.admissionWaitMs))}`)
            : null,
          stats.bytes !== undefined ? h('span', {}, formatBytes(Number(stats.bytes))) : null,
        ),
      );
      const chartBox = h('div', { className: 'chart' });
      const drawChart = (kind: 'bar' | 'line'): void => {
        const chart = quickChart(result, kind);
        show(chartBox, chart ?? h('p', { className: 'muted' }, 'No numeric column to chart.'));
      };
      const download = h('button', { id: 'download', type: 'button' }, 'Download CSV');
      download.addEventListener('click', () => {
        const url = URL.createObjectURL(new Blob([toCsv(result)], { type: 'text/csv' }));
        const link = h('a', { href: url, download: 'result.csv' });
        link.click();
        setTimeout(() => URL.revokeObjectURL(url), 1000);
      });
      show(
        output,
        h(
          'div',
          { className: 'row' },
          download,
          h('button', { type: 'button', onclick: () => drawChart('bar') }, 'Bar chart'),
          h('button', { type: 'button', onclick: () => drawChart('line') }, 'Line chart'),
        ),
        chartBox,
        resultGrid(result),
      );
    } catch (error) {
      show(status, h('p', { className: 'error', role: 'alert' }, errorText(error)));
    } finally {
      running = undefined;
      run.disabled = false;
      cancel.disabled = true;
    }
  };
  run.addEventListener('click', () => void execute());
  cancel.addEventListener('click', () => running?.abort());
  textarea.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      void execute();
    }
  });
  textarea.focus();
}

interface HistoryEntry {
  readonly id: string;
  readonly tenant: string;
  readonly at: number;
  readonly sql: string;
  readonly protocol: string;
  readonly client?: string;
  readonly engine: string;
  readonly route?: string;
  readonly rows: number;
  readonly durationMs: number;
  readonly waitMs?: number;
  readonly outcome: string;
  readonly code?: string;
}

export async function historyPage(context: PageContext): Promise<void> {
  const { main } = context;
  const search = h('input', {
    id: 'history-search',
    type: 'search',
    placeholder: 'Search SQL, engine, outcome, code',
    'aria-label': 'Search history',
    style: 'min-width:18rem',
  });
  const tenant = h('input', { id: 'history-tenant', type: 'search', placeholder: 'Tenant', 'aria-label': 'Tenant' });
  const list = h('div', { className: 'card', id: 'history' });
  const load = async (): Promise<void> => {
    const query = new URLSearchParams({ limit: '200' });
    if (search.value) query.set('q', search.value);
    if (context.who.admin && tenant.value) query.set('tenant', tenant.value);
    try {
      const { queries } = await call<{ queries: HistoryEntry[] }>(context, `/v1/history?${query}`);
      show(
        list,
        queries.length === 0
          ? h('p', { className: 'muted' }, 'No queries yet.')
          : table(
              [
                ...(context.who.admin ? ['Tenant'] : []),
                'When',
                'SQL',
                'Protocol',
                'Engine',
                'Rows',
                'Duration',
                'Wait',
                'Outcome',
                '',
              ],
              queries.map((q) => [
                ...(context.who.admin ? [q.tenant] : []),
                new Date(q.at).toLocaleTimeString(),
                q.sql,
                `${q.protocol}${q.client ? ` (${q.client})` : ''}`,
                q.engine,
                String(q.rows),
                formatMs(q.durationMs),
                formatMs(q.waitMs),
                q.code ? `${q.outcome} ${q.code}` : q.outcome,
                context.who.admin
                  ? ''
                  : h(
                      'button',
                      {
                        type: 'button',
                        className: 'rerun',
                        onclick: () => {
                          openQuery(q.sql);
                          context.go('#/query');
                        },
                      },
                      'Run again',
                    ),
              ]),
            ),
      );
    } catch (error) {
      show(list, h('p', { className: 'error', role: 'alert' }, errorText(error)));
    }
  };
  search.addEventListener('input', () => void load());
  tenant.addEventListener('input', () => void load());
  show(main, h('h1', {}, 'History'), h('div', { className: 'row' }, search, context.who.admin ? tenant : null), list);
  await load();
}

interface Session {
  readonly id: number;
  readonly state: string;
  readonly kind: string;
}
interface Statement {
  readonly id: number;
  readonly code: string;
  readonly state: string;
  readonly progress: number;
}

export async function sessionsPage(context: PageContext): Promise<void> {
  const { main } = context;
  const list = h('div', { id: 'sessions' });
  show(main, h('h1', {}, 'Sessions'), list);
  if (context.who.admin) {
    // An operator sees every tenant's sessions and may close any.
    const loadAll = async (): Promise<void> => {
      const { sessions } = await call<{ sessions: (Session & { tenant: string })[] }>(context, '/v1/admin/sessions');
      show(
        list,
        sessions.length === 0
          ? h('p', { className: 'muted' }, 'No sessions.')
          : h(
              'div',
              { className: 'card' },
              table(
                ['Tenant', 'Session', 'Kind', 'State', ''],
                sessions.map((s) => [
                  s.tenant,
                  String(s.id),
                  s.kind,
                  s.state,
                  h(
                    'button',
                    {
                      type: 'button',
                      className: 'delete-session',
                      onclick: () =>
                        void call(context, `/v1/admin/sessions/${encodeURIComponent(s.tenant)}/${s.id}`, {
                          method: 'DELETE',
                        }).then(loadAll),
                    },
                    'Delete',
                  ),
                ]),
              ),
            ),
      );
    };
    await loadAll();
    return;
  }
  const load = async (): Promise<void> => {
    try {
      const { sessions } = await call<{ sessions: Session[] }>(context, '/sessions');
      const cards = await Promise.all(
        sessions.map(async (session) => {
          const { statements } = await call<{ statements: Statement[] }>(context, `/sessions/${session.id}/statements`);
          return h(
            'div',
            { className: 'card', 'data-session': session.id },
            h(
              'div',
              { className: 'row' },
              h('strong', {}, `Session ${session.id}`),
              h('span', { className: 'muted' }, `${session.kind}, ${session.state}`),
              h(
                'button',
                {
                  type: 'button',
                  onclick: () => void call(context, `/sessions/${session.id}`, { method: 'DELETE' }).then(load),
                },
                'Delete session',
              ),
            ),
            table(
              ['Statement', 'SQL', 'State', 'Progress', ''],
              statements.map((s) => [
                String(s.id),
                s.code,
                h('span', { className: 'statement-state' }, s.state),
                `${Math.round(s.progress * 100)}%`,
                ['waiting', 'running'].includes(s.state)
                  ? h(
                      'button',
                      {
                        type: 'button',
                        className: 'cancel-statement',
                        onclick: () =>
                          void call(context, `/sessions/${session.id}/statements/${s.id}/cancel`, {
                            method: 'POST',
                          }).then(load),
                      },
                      'Cancel',
                    )
                  : s.state === 'available'
                    ? h('a', { href: `#/result/${session.id}/${s.id}` }, 'Result')
                    : '',
              ]),
            ),
          );
        }),
      );
      show(list, ...(cards.length > 0 ? cards : [h('p', { className: 'muted' }, 'No sessions.')]));
    } catch (error) {
      show(list, h('p', { className: 'error', role: 'alert' }, errorText(error)));
    }
  };
  await load();
  const timer = setInterval(() => void load(), 2000);
  context.signal.addEventListener('abort', () => clearInterval(timer));
}

export async function statementResultPage(context: PageContext, sessionId: string, statementId: string): Promise<void> {
  const page = await call<{ columns?: { name: string; type: string }[]; rows: unknown[][] }>(
    context,
    `/sessions/${sessionId}/statements/${statementId}/result?limit=100000`,
  );
  const columns = page.columns ?? (page.rows[0] ?? []).map((_, i) => ({ name: `c${i + 1}`, type: '' }));
  show(
    context.main,
    h('h1', {}, `Statement ${statementId} of session ${sessionId}`),
    resultGrid({ columns, rows: page.rows, rowCount: page.rows.length, truncated: false }),
  );
}

interface Dataset {
  readonly name: string;
  readonly version?: string;
  readonly files?: number;
  readonly bytes?: number;
  readonly bytesCached?: number;
  readonly lastRefresh?: string;
  readonly available?: boolean;
  readonly lastError?: string;
}

export async function datasetsPage(context: PageContext): Promise<void> {
  const { main } = context;
  const list = h('div', { className: 'card', id: 'datasets' });
  const cache = h('div', { className: 'kpis', id: 'cache' });
  const warming = h('div', { className: 'card', id: 'warming' });
  const trend = h('div', { className: 'card', id: 'cache-trend' });
  show(
    main,
    h('h1', {}, 'Datasets and cache'),
    cache,
    h('p', { className: 'muted' }, 'Hit ratio per minute, last hour'),
    trend,
    list,
    h('h1', {}, 'Warming plan'),
    warming,
  );
  if (context.who.admin) {
    show(list, h('p', { className: 'muted' }, 'Datasets belong to tenants: sign in with a tenant key to see them.'));
    return;
  }
  const load = async (): Promise<void> => {
    try {
      const [{ datasets }, figures, { plan }, { minutes }] = await Promise.all([
        call<{ datasets: Dataset[] }>(context, '/v1/datasets'),
        call<Record<string, number>>(context, '/v1/cache'),
        call<{ plan: { dataset: string; likelihood: number; decision: string; reason: string }[] }>(
          context,
          '/v1/warming',
        ),
        call<{ minutes: { minute: number; hitRatio: number | null; hits: number; misses: number }[] }>(
          context,
          '/v1/cache/trend',
        ),
      ]);
      show(
        trend,
        minutes.length === 0
          ? h('p', { className: 'muted' }, 'No cache use in the last hour.')
          : h(
              'div',
              { className: 'trend', role: 'img', 'aria-label': 'Hit ratio per minute over the last hour' },
              ...minutes.map((m) =>
                h('span', {
                  title: `${new Date(m.minute).toLocaleTimeString()}: ${Math.round((m.hitRatio ?? 0) * 100)}% (${m.hits} hits, ${m.misses} misses)`,
                  style: `height:${Math.max(2, Math.round((m.hitRatio ?? 0) * 40))}px`,
                }),
              ),
            ),
      );
      show(
        warming,
        table(
          ['Dataset', 'Likely soon', 'Decision', 'Why'],
          plan.map((p) => [p.dataset, `${Math.round(p.likelihood * 100)}%`, p.decision, p.reason]),
        ),
      );
      const hits = Number(figures.hits ?? 0);
      const misses = Number(figures.misses ?? 0);
      show(
        cache,
        ...[
          ['Hit ratio', hits + misses > 0 ? `${Math.round((hits / (hits + misses)) * 100)}%` : '—'],
          ['Hits', String(hits)],
          ['Misses', String(misses)],
          ['From origin', formatBytes(Number(figures.originBytes ?? 0))],
          ['Evictions', String(figures.evictions ?? 0)],
        ].map(([label, value]) => h('div', { className: 'kpi' }, label, h('b', {}, value))),
      );
      show(
        list,
        table(
          ['Dataset', 'Version', 'Files', 'Size', 'Cached', 'Last refresh', 'State', ''],
          datasets.map((d) => [
            d.name,
            h('code', { className: 'version', 'data-dataset': d.name }, d.version ?? ''),
            String(d.files ?? ''),
            formatBytes(d.bytes),
            d.bytes ? `${Math.round(((d.bytesCached ?? 0) / d.bytes) * 100)}%` : '',
            d.lastRefresh ? new Date(d.lastRefresh).toLocaleString() : '',
            d.available === false ? h('span', { className: 'error' }, d.lastError ?? 'unavailable') : 'available',
            h(
              'span',
              { className: 'row' },
              h(
                'button',
                {
                  type: 'button',
                  className: 'refresh',
                  'data-dataset': d.name,
                  onclick: () =>
                    void call(context, `/v1/datasets/${encodeURIComponent(d.name)}/refresh`, { method: 'POST' }).then(
                      load,
                    ),
                },
                'Refresh',
              ),
              h(
                'button',
                {
                  type: 'button',
                  onclick: () =>
                    void call(context, `/v1/datasets/${encodeURIComponent(d.name)}/warm`, { method: 'POST' }).then(
                      load,
                    ),
                },
                'Warm',
              ),
            ),
          ]),
        ),
      );
    } catch (error) {
      show(list, h('p', { className: 'error', role: 'alert' }, errorText(error)));
    }
  };
  await load();
}

interface IntervalAudit {
  readonly at: string;
  readonly rawRows: number;
  readonly rollupRows: number;
  readonly ok: boolean;
}

interface Rollup {
  readonly name: string;
  readonly intervals: Record<string, number>;
  readonly lagSeconds?: number;
  readonly lastAudit?: { readonly outcome?: string; readonly at?: string } | null;
  readonly backfill?: {
    readonly done: number;
    readonly total: number;
    readonly percent: number;
    readonly intervalsPerMinute: number;
    readonly etaSeconds: number | null;
  };
  readonly detail?: { readonly start: string; readonly state?: string; readonly audit?: IntervalAudit }[];
}

/** Backfill progress: a bar, intervals done of all, the pace and the time left at that pace. */
function backfillProgress(rollup: Rollup): Child[] {
  const b = rollup.backfill;
  if (!b) return [];
  const left =
    b.done === b.total
      ? 'complete'
      : b.etaSeconds === null
        ? 'no interval finished in the last 10 minutes'
        : `${b.intervalsPerMinute.toFixed(1)} per minute, about ${Math.ceil(b.etaSeconds / 60)} min left`;
  return [
    h('progress', { max: b.total, value: b.done, 'aria-label': `Backfill of ${rollup.name}` }),
    h(
      'p',
      { className: 'muted backfill' },
      `Backfill: ${b.done} of ${b.total} intervals done (${b.percent}%), ${left}`,
    ),
  ];
}

/** The newest audited intervals and their outcome. */
function auditTable(detail: Rollup['detail']): Child {
  const audited = (detail ?? []).filter((d) => d.audit).slice(0, 10);
  if (audited.length === 0) return h('p', { className: 'muted' }, 'No interval audited yet.');
  return table(
    ['Interval', 'Audited', 'Raw rows', 'Rollup rows', 'Outcome'],
    audited.map((d) => {
      const a = d.audit as IntervalAudit;
      return [d.start, a.at, String(a.rawRows), String(a.rollupRows), a.ok ? 'ok' : 'MISMATCH'];
    }),
  );
}

export async function rollupsPage(context: PageContext): Promise<void> {
  const { main } = context;
  const list = h('div', { id: 'rollups' });
  show(main, h('h1', {}, 'Rollups'), list);
  if (context.who.admin) {
    show(list, h('p', { className: 'muted' }, 'Rollups belong to tenants: sign in with a tenant key to see them.'));
    return;
  }
  try {
    const { rollups } = await call<{ rollups: Rollup[] }>(context, '/v1/rollups');
    const cards = await Promise.all(
      rollups.map(async (r) => {
        const { rollup } = await call<{ rollup: Rollup }>(context, `/v1/rollups/${encodeURIComponent(r.name)}`);
        const cells = (rollup.detail ?? []).slice(0, 600).reverse();
        return h(
          'div',
          { className: 'card' },
          h('strong', {}, r.name),
          h(
            'p',
            { className: 'muted' },
            Object.entries(r.intervals)
              .map(([state, n]) => `${state} ${n}`)
              .join(', '),
            r.lagSeconds !== undefined ? `; lag ${Math.round(r.lagSeconds)} s` : '',
          ),
          ...backfillProgress(rollup),
          h(
            'div',
            { className: 'intervals', 'aria-label': `Intervals of ${r.name}` },
            ...cells.map((c) =>
              h('span', { className: c.state ?? 'missing', title: `${c.start}: ${c.state ?? 'missing'}` }),
            ),
          ),
          h('div', { className: 'audits' }, auditTable(rollup.detail)),
        );
      }),
    );
    show(list, ...(cards.length > 0 ? cards : [h('p', { className: 'muted' }, 'No rollups.')]));
  } catch (error) {
    show(list, h('p', { className: 'error', role: 'alert' }, errorText(error)));
  }
}

interface Minute {
  readonly minute: number;
  readonly queries: number;
  readonly errors: Record<string, number>;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly refused: number;
  readonly queued: number;
}

interface RunningQuery {
  readonly tenant: string;
  readonly queryId: string;
  readonly sql: string;
  readonly protocol: string;
  readonly startedAt: number;
  readonly replica: string;
}

interface Replica {
  readonly id: string;
  readonly startedAt: number;
  readonly beatAt: number;
  readonly configVersion: string;
  readonly draining: boolean;
  readonly statements: { readonly running: number; readonly waiting: number };
  readonly activeQueries: number;
}

function age(ms: number): string {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 120) return `${seconds} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

/** Every replica alive, as each last told (admin only). */
async function loadReplicas(context: PageContext, target: Element): Promise<void> {
  const { self, replicas } = await call<{ self: string; replicas: Replica[] }>(context, '/v1/admin/replicas');
  show(
    target,
    table(
      ['Replica', 'State', 'Up for', 'Queries running', 'Statements running / waiting', 'Config', 'Last heartbeat'],
      replicas.map((r) => [
        r.id === self ? `${r.id} (this one)` : r.id,
        r.draining ? 'draining' : 'serving',
        age(Date.now() - r.startedAt),
        String(r.activeQueries),
        `${r.statements.running} / ${r.statements.waiting}`,
        r.configVersion,
        `${age(Date.now() - r.beatAt)} ago`,
      ]),
    ),
  );
}

export async function overviewPage(context: PageContext): Promise<void> {
  const { main } = context;
  const body = h('div', { id: 'overview' });
  const running = h('div', { className: 'card', id: 'running' });
  const replicas = h('div', { className: 'card', id: 'replicas' });
  show(
    main,
    ...(context.who.admin ? [h('h1', {}, 'Replicas'), replicas] : []),
    h('h1', {}, 'Running now'),
    running,
    h('h1', {}, 'Overview (last hour)'),
    body,
  );
  const loadRunning = async (): Promise<void> => {
    const { queries } = await call<{ queries: RunningQuery[] }>(context, '/v1/running');
    show(
      running,
      queries.length === 0
        ? h('p', { className: 'muted' }, 'No query is running on any replica.')
        : table(
            ['Tenant', 'SQL', 'Protocol', 'Replica', 'Running for', ''],
            queries.map((q) => [
              q.tenant,
              q.sql,
              q.protocol,
              q.replica,
              age(Date.now() - q.startedAt),
              h(
                'button',
                {
                  type: 'button',
                  className: 'cancel-query',
                  onclick: () =>
                    void call(context, `/v1/running/${encodeURIComponent(q.queryId)}/cancel`, { method: 'POST' }).then(
                      loadRunning,
                    ),
                },
                'Cancel',
              ),
            ]),
          ),
    );
  };
  await loadRunning().catch((error: unknown) =>
    show(running, h('p', { className: 'error', role: 'alert' }, errorText(error))),
  );
  const refreshReplicas = (): Promise<void> =>
    context.who.admin
      ? loadReplicas(context, replicas).catch((error: unknown) =>
          show(replicas, h('p', { className: 'error', role: 'alert' }, errorText(error))),
        )
      : Promise.resolve();
  await refreshReplicas();
  const timer = setInterval(() => {
    void loadRunning().catch(() => undefined);
    void refreshReplicas();
  }, 2000);
  context.signal.addEventListener('abort', () => clearInterval(timer));
  try {
    const { tenants } = await call<{ tenants: Record<string, Minute[]> }>(context, '/v1/overview');
    const cards = Object.entries(tenants).map(([tenant, minutes]) => {
      const total = minutes.reduce((n, m) => n + m.queries, 0);
      const errors: Record<string, number> = {};
      for (const m of minutes) for (const [code, n] of Object.entries(m.errors)) errors[code] = (errors[code] ?? 0) + n;
      const last = minutes.at(-1);
      const max = Math.max(1, ...minutes.map((m) => m.queries));
      const bars = minutes
        .map((m) => `${String.fromCharCode(0x2581 + Math.min(7, Math.floor((m.queries / max) * 7)))}`)
        .join('');
      return h(
        'div',
        { className: 'card', 'data-tenant': tenant },
        h('strong', {}, tenant),
        h(
          'div',
          { className: 'kpis' },
          h('div', { className: 'kpi' }, 'Queries, last hour', h('b', {}, String(total))),
          h(
            'div',
            { className: 'kpi' },
            'p50 / p99, last minute',
            h('b', {}, last ? `${last.p50Ms} / ${last.p99Ms} ms` : '—'),
          ),
          h(
            'div',
            { className: 'kpi' },
            'Refused (429/503)',
            h('b', {}, String(minutes.reduce((n, m) => n + m.refused, 0))),
          ),
          h('div', { className: 'kpi' }, 'Queued now', h('b', {}, String(last?.queued ?? 0))),
        ),
        h('p', { 'aria-label': 'Queries per minute', className: 'muted' }, bars || '—'),
        Object.keys(errors).length > 0
          ? table(
              ['Error', 'Count'],
              Object.entries(errors).map(([code, n]) => [code, String(n)]),
            )
          : h('p', { className: 'muted' }, 'No errors.'),
      );
    });
    show(body, ...(cards.length > 0 ? cards : [h('p', { className: 'muted' }, 'No queries in the last hour.')]));
  } catch (error) {
    show(body, h('p', { className: 'error', role: 'alert' }, errorText(error)));
  }
}

export async function apiPage(context: PageContext): Promise<void> {
  type Operation = {
    summary?: string;
    parameters?: { name: string; in: string; description?: string }[];
    requestBody?: { content?: Record<string, { schema?: unknown }> };
  };
  const spec = (await (await fetch('/openapi.json', { signal: context.signal })).json()) as {
    info: { title: string; version: string };
    paths: Record<string, Record<string, Operation>>;
  };
  const details = (operation: Operation): Node | string => {
    const body = operation.requestBody?.content?.['application/json']?.schema;
    const parameters = operation.parameters ?? [];
    if (!body && parameters.length === 0) return '';
    return h(
      'details',
      {},
      h('summary', {}, body ? 'Body and parameters' : 'Parameters'),
      parameters.length > 0
        ? h('ul', {}, ...parameters.map((p) => h('li', {}, h('code', {}, p.name), ` (${p.in}) ${p.description ?? ''}`)))
        : null,
      body ? h('pre', { className: 'schema' }, JSON.stringify(body, null, 2)) : null,
    );
  };
  show(
    context.main,
    h('h1', {}, `${spec.info.title} ${spec.info.version}`),
    h('p', { className: 'muted' }, 'The OpenAPI 3.1 document: ', h('a', { href: '/openapi.json' }, '/openapi.json')),
    h(
      'div',
      { className: 'card' },
      table(
        ['Method', 'Path', 'What it does'],
        Object.entries(spec.paths).flatMap(([path, methods]) =>
          Object.entries(methods).map(([method, operation]) => [
            method.toUpperCase(),
            h('code', {}, path),
            h('div', {}, operation.summary ?? '', details(operation)),
          ]),
        ),
      ),
    ),
  );
}
