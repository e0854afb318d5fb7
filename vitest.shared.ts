import { defineConfig } from 'vitest/config';

/** Tests run against the packages' TypeScript sources (the `@lakegate/source` export condition), no build needed. */
export default defineConfig({
  resolve: { conditions: ['@lakegate/source'] },
  ssr: { resolve: { conditions: ['@lakegate/source'] } },
  test: { testTimeout: 20_000, hookTimeout: 60_000 },
});
