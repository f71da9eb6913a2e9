import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dashboard/**', 'dist/**'],
    // chDB binds one data directory per process: every test file runs in its own fork.
    pool: 'forks',
    isolate: true,
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // The end-to-end and fault tests each start whole processes; two at a time fit two cores.
    maxWorkers: 2,
  },
})
