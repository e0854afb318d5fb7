import { LakegateError, type QueryRequest } from '@lakegate/engine-api';
import type { EngineRegistry } from '../engines/engine-registry.js';
import type { ManagedEngine } from '../engines/managed-engine.js';

export interface RouteChoice {
  readonly engine: ManagedEngine;
  /** Why this engine answers: who was asked first, and who declined before it and why. */
  readonly route: string;
}

export interface RouterPreferences {
  /** The engine queries go to when neither the request nor the tenant names one (`query.defaultEngine`). */
  readonly defaultEngine: string;
  /** A tenant's own default (`tenants.<t>.defaultEngine`), if it has one. */
  tenantDefault(tenant: string): string | undefined;
}

/**
 * Chooses the engine that answers a query, by preference and capability only: the engine the request names,
 * else the tenant's default, else the gateway's, then every other engine in configuration order; the first whose
 * `check()` accepts the request answers it. No engine is known here by name.
 */
export class EngineRouter {
  readonly #engines: EngineRegistry;
  readonly #preferences: RouterPreferences;

  constructor(engines: EngineRegistry, preferences: RouterPreferences) {
    this.#engines = engines;
    this.#preferences = preferences;
  }

  /** The engine a tenant's queries go to first when the request names none. */
  preferred(tenant: string): string {
    return this.#preferences.tenantDefault(tenant) ?? this.#preferences.defaultEngine;
  }

  /**
   * The first engine, in order of preference, that accepts `request`. An engine the request names must exist (an
   * unknown name is the client's mistake, not a reason to fall back); `only` restricts the choice to the engines
   * that can read what the query names (a dataset that lives in one engine).
   */
  async route(request: QueryRequest, requested: string | undefined, only?: readonly string[]): Promise<RouteChoice> {
    const engines = this.#engines;
    if (requested !== undefined) engines.get(requested);
    const preferred = requested ?? this.preferred(request.tenant);
    const ids = engines.ids;
    const candidates = [...new Set([preferred, this.#preferences.defaultEngine, ...ids])].filter((id) =>
      ids.includes(id),
    );
    const declined: string[] = [];
    for (const id of candidates) {
      if (only !== undefined && !only.includes(id)) {
        // Only asked when it names the engine: the others are simply not candidates.
        if (id === requested) declined.push(`${id} declined: the query reads datasets that live in ${only.join(', ')}`);
        continue;
      }
      const engine = engines.get(id);
      const check = await engine.check(request);
      if (check.supported) {
        const why =
          requested === id
            ? 'requested'
            : id === this.#preferences.tenantDefault(request.tenant)
              ? 'tenant default'
              : 'default';
        return { engine, route: declined.length > 0 ? `${declined.join('; ')}; answered by ${id}` : why };
      }
      declined.push(`${id} declined: ${check.reason}`);
    }
    const why =
      declined.length > 0
        ? declined.join('; ')
        : `it reads datasets that live in ${only?.join(', ')}, which is not configured`;
    throw new LakegateError('UNSUPPORTED_QUERY', `No engine can run this query (${why}).`);
  }
}
