import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadEngineModule } from './engine-module.js';

/** A factory that needs nothing from the gateway: enough for the loader, which never calls it. */
const FACTORY = `{ id: 'stub', parseConfig: (raw) => ({ ok: true, config: raw }), create: async () => ({}) }`;

describe('loading an engine module', () => {
  let root: string;
  const load = (specifier: string, baseDir = join(root, 'etc')) => loadEngineModule({ specifier, baseDir });
  const problemOf = async (specifier: string, baseDir?: string) => {
    const loaded = await load(specifier, baseDir);
    return loaded.ok ? 'loaded' : loaded.problem;
  };

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'lakegate-engine-module-'));
    const files: Record<string, string> = {
      'etc/default.js': `export default ${FACTORY};`,
      'etc/named.mjs': `export const engineFactory = ${FACTORY};`,
      'etc/common.cjs': `module.exports = { engineFactory: ${FACTORY} };`,
      'etc/nothing.js': 'export const other = 1;',
      'etc/not-a-factory.js': "export default { id: 'x' };",
      'etc/throws.js': "throw new Error('engine module broke\\nat line two');",
      'etc/engines/folder/package.json': JSON.stringify({ name: 'folder', type: 'module', main: 'main.js' }),
      'etc/engines/folder/main.js': `export default ${FACTORY};`,
      'etc/node_modules/lakegate-stub-engine/package.json': JSON.stringify({
        name: 'lakegate-stub-engine',
        type: 'module',
        exports: './index.js',
      }),
      'etc/node_modules/lakegate-stub-engine/index.js': `export default ${FACTORY};`,
      'etc/node_modules/import-only/package.json': JSON.stringify({
        name: 'import-only',
        type: 'module',
        exports: { '.': { import: './index.js' } },
      }),
      'etc/node_modules/import-only/index.js': `export default ${FACTORY};`,
    };
    for (const [path, text] of Object.entries(files)) {
      await mkdir(join(root, path, '..'), { recursive: true });
      await writeFile(join(root, path), text);
    }
  });
  afterAll(() => rm(root, { recursive: true, force: true }));

  it('loads a path relative to the config folder: the default export, else "engineFactory"', async () => {
    for (const specifier of [
      './default.js',
      './named.mjs',
      './common.cjs',
      './engines/folder',
      join(root, 'etc/default.js'),
    ]) {
      const loaded = await load(specifier);
      expect(loaded.ok, specifier).toBe(true);
      if (loaded.ok) expect(loaded.factory.id).toBe('stub');
    }
  });

  it('finds a package in node_modules beside the config, also from a folder below it', async () => {
    const loaded = await load('lakegate-stub-engine', join(root, 'etc', 'engines'));
    expect(loaded.ok).toBe(true);
    if (loaded.ok) expect(loaded.path).toBe(join(root, 'etc/node_modules/lakegate-stub-engine/index.js'));
  });

  it("falls back to the gateway's own packages", async () => {
    // engine-api is installed beside the gateway, not beside this config: found, but it exports no factory.
    expect(await problemOf('@lakegate/engine-api')).toMatch(
      /^cannot load module "@lakegate\/engine-api" .*exports no engine factory/,
    );
  });

  it('says in one line what is wrong, naming the module and the folder it is relative to', async () => {
    const etc = join(root, 'etc');
    expect(await problemOf('./nope.js')).toBe(`cannot load module "./nope.js" (relative to ${etc}): not found`);
    expect(await problemOf('no-such-engine-package')).toMatch(
      /^cannot load module "no-such-engine-package" .*: not found \(install the package in a node_modules folder/,
    );
    expect(await problemOf('./nothing.js')).toMatch(
      /exports no engine factory \(export one as the default export or as "engineFactory"\)$/,
    );
    expect(await problemOf('./not-a-factory.js')).toMatch(
      /its default export is not an engine factory: parseConfig\(\) is missing, create\(\) is missing$/,
    );
    expect(await problemOf('./throws.js')).toMatch(/importing .*throws\.js failed: engine module broke$/);
    expect(await problemOf('import-only')).toMatch(
      /"exports" has no entry Lakegate can use \(add a "default" condition/,
    );
    for (const specifier of ['./nope.js', './throws.js', 'import-only']) {
      expect(await problemOf(specifier)).not.toContain('\n');
    }
  });
});
