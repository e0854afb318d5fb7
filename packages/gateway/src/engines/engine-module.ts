import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { EngineFactory } from '@lakegate/engine-api';
import type { ModuleReference } from '../config/config.js';

/** A factory loaded from `engines.<id>.module`, or the one line that says why it could not be. */
export type ModuleLoad =
  | { readonly ok: true; readonly factory: EngineFactory; readonly path: string }
  | { readonly ok: false; readonly problem: string };

/** How messages name a module: `module "./echo.js" (relative to /etc/lakegate)`. */
export function describeModule(module: ModuleReference): string {
  return `module "${module.specifier}" (relative to ${module.baseDir})`;
}

/** The exports an engine module may offer its factory under, in the order they are tried. */
const FACTORY_EXPORTS = ['default', 'engineFactory'] as const;

/**
 * Loads an engine module and finds its factory: the default export, else the export named `engineFactory`.
 * Never throws: whatever goes wrong (not found, fails to import, no factory) comes back as one line, because a
 * start-up error must tell the operator what to fix, not show the gateway's stack.
 */
export async function loadEngineModule(module: ModuleReference): Promise<ModuleLoad> {
  const cannot = (why: string): ModuleLoad => ({ ok: false, problem: `cannot load ${describeModule(module)}: ${why}` });
  const path = resolveModule(module);
  if ('problem' in path) return cannot(path.problem);
  let exports: Record<string, unknown>;
  try {
    exports = (await import(pathToFileURL(path.path).href)) as Record<string, unknown>;
  } catch (error) {
    return cannot(`importing ${path.path} failed: ${firstLine(error)}`);
  }
  const offered = FACTORY_EXPORTS.filter((name) => exports[name] !== undefined);
  if (offered.length === 0) {
    return cannot('it exports no engine factory (export one as the default export or as "engineFactory")');
  }
  for (const name of offered) {
    if (factoryProblems(exports[name]).length === 0) {
      return { ok: true, factory: exports[name] as EngineFactory, path: path.path };
    }
  }
  const [name = 'default'] = offered;
  const what = name === 'default' ? 'its default export' : `its export "${name}"`;
  return cannot(`${what} is not an engine factory: ${factoryProblems(exports[name]).join(', ')}`);
}

/**
 * Finds a module's file the way Node's `require` does: a path relative to the config file's folder, or a package
 * looked up from that folder's `node_modules` and then from the gateway's own, so a package installed beside the
 * config or beside Lakegate is found.
 */
function resolveModule(module: ModuleReference): { readonly path: string } | { readonly problem: string } {
  const { specifier, baseDir } = module;
  const isPath = /^\.\.?(\/|$)/.test(specifier) || specifier.startsWith('/');
  // `createRequire` needs a file to resolve from; the name does not have to exist, only its folder matters.
  const anchors = isPath
    ? [join(baseDir, 'lakegate.config.json')]
    : [join(baseDir, 'lakegate.config.json'), import.meta.url];
  let lastError: unknown;
  for (const anchor of anchors) {
    try {
      return { path: createRequire(anchor).resolve(specifier) };
    } catch (error) {
      lastError = error;
      if (codeOf(error) !== 'MODULE_NOT_FOUND') break;
    }
  }
  switch (codeOf(lastError)) {
    case 'MODULE_NOT_FOUND':
      return {
        problem: isPath
          ? 'not found'
          : 'not found (install the package in a node_modules folder beside the config file or beside Lakegate)',
      };
    case 'ERR_PACKAGE_PATH_NOT_EXPORTED':
      // Lakegate resolves as `require` does, which does not see entries exported only under the "import" condition.
      return {
        problem: 'its package.json "exports" has no entry Lakegate can use (add a "default" condition or "main")',
      };
    default:
      return { problem: firstLine(lastError) };
  }
}

/** What a value lacks to be an engine factory; empty when it has the shape of one. */
export function factoryProblems(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return [`it is ${value === null ? 'null' : typeof value}`];
  const candidate = value as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof candidate.id !== 'string' || candidate.id === '') problems.push('"id" is not a non-empty string');
  for (const method of ['parseConfig', 'create']) {
    if (typeof candidate[method] !== 'function') problems.push(`${method}() is missing`);
  }
  if (candidate.parseTenantConfig !== undefined && typeof candidate.parseTenantConfig !== 'function') {
    problems.push('parseTenantConfig is not a function');
  }
  return problems;
}

/** What a value `create()` returned lacks to be an engine; empty when it has the shape of one. */
export function engineProblems(value: unknown): string[] {
  if (typeof value !== 'object' || value === null) return [`it is ${value === null ? 'null' : typeof value}`];
  const candidate = value as Record<string, unknown>;
  const problems = ['check', 'execute', 'stats', 'close']
    .filter((method) => typeof candidate[method] !== 'function')
    .map((method) => `${method}() is missing`);
  if (typeof candidate.capabilities !== 'object' || candidate.capabilities === null) {
    problems.push('"capabilities" is missing');
  }
  return problems;
}

/** The first line of an error's message: start-up problems are one line each. */
export function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split('\n', 1)[0]?.trim() || 'unknown error';
}

function codeOf(error: unknown): unknown {
  return typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
}
