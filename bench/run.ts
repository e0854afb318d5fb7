/**
 * Runs the benchmarks named on the command line (all when none is named), one after another.
 *   npm run bench                          every benchmark
 *   npm run bench -w @lakegate/bench -- query-overhead
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

const all = readdirSync(import.meta.dirname)
  .filter((f) => f.endsWith('.ts') && !['run.ts', 'support.ts'].includes(f) && !f.endsWith('.d.ts'))
  .map((f) => f.slice(0, -3))
  .sort();
const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : all;
for (const name of chosen) {
  if (!all.includes(name)) throw new Error(`Unknown benchmark "${name}". Known: ${all.join(', ')}`);
  console.log(`\n=== ${name} ===`);
  await import(join(import.meta.dirname, `${name}.ts`));
}
