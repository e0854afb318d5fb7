/**
 * Every Redis key and channel of the gateway's state, under one prefix. These names are stored data: a gateway
 * reads what an earlier version wrote, so a name here changes only with a migration.
 */
export function redisKeys(prefix: string) {
  const p = prefix;
  return {
    /** The last session id handed out by versions that numbered sessions from 1; read once, to go on from it. */
    sessionSeq: `${p}seq:session`,
    /** The last session id handed out (ids start at 0, as Livy's do). */
    sessionId: `${p}seq:session-id`,
    session: (id: number) => `${p}session:${id}`,
    tenantSessions: (tenant: string) => `${p}sessions:${tenant}`,
    deadlines: `${p}sessions:deadline`,
    statementSeq: (sid: number) => `${p}stmt-seq:${sid}`,
    statement: (sid: number, id: number) => `${p}stmt:${sid}:${id}`,
    statements: (sid: number) => `${p}stmts:${sid}`,
    unfinished: `${p}unfinished`,
    running: (sid: number) => `${p}running:${sid}`,
    log: (sid: number) => `${p}log:${sid}`,
    result: (sid: number, id: number) => `${p}result:${sid}:${id}`,
    /** A replica's liveness, with the status it last told (JSON), under a TTL. */
    replica: (id: string) => `${p}replica:${id}`,
    /** Replicas by when their liveness lapses (epoch ms), to list them without scanning keys. */
    replicas: `${p}replicas`,
    cancel: `${p}cancel`,
    /** Cancels of running queries, for whichever replica runs each. */
    queryCancel: `${p}cancel-query`,
    rollup: (rollup: string) => `${p}rollup:${rollup}`,
    /** How many puts the rollup's records have had: a reader that saw it unchanged knows none changed. */
    rollupVersion: (rollup: string) => `${p}rollup-version:${rollup}`,
    /** The intervals of the rollup's last puts, scored by the version of each one's last put. */
    rollupChanges: (rollup: string) => `${p}rollup-changes:${rollup}`,
    rollupClaim: (rollup: string, start: number) => `${p}rollup-claim:${rollup}:${start}`,
    /** A tenant's query history, newest first. */
    history: (tenant: string) => `${p}history:${tenant}`,
    /** Each replica's figures of a tenant for one minute (epoch ms of its start), for the console's Overview. */
    overview: (tenant: string, minute: number) => `${p}overview:${tenant}:${minute}`,
  } as const;
}

export type RedisKeys = ReturnType<typeof redisKeys>;
