import { fileURLToPath } from 'node:url';
import { defaultClientConditions, defaultServerConditions } from 'vite';
import { defineConfig } from 'vitest/config';

// Workspace packages (@tripwire/wire) from their TypeScript source, like every package's tests:
// Vite compiles them into the bundle, so the dev server and the tests need no build of them.
const SOURCE = '@tripwire/source';

// Preact's JSX through Oxc's automatic runtime (Vite 8 transforms with Oxc, not esbuild): no
// framework plugin needed.
export default defineConfig({
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  resolve: { conditions: [SOURCE, ...defaultClientConditions] },
  ssr: { resolve: { conditions: [SOURCE, ...defaultServerConditions] } },
  build: {
    target: 'es2022',
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: true,
    // Two pages: the app (/) and the API reference (/docs, docs/index.html).
    rollupOptions: {
      input: {
        app: fileURLToPath(new URL('index.html', import.meta.url)),
        docs: fileURLToPath(new URL('docs/index.html', import.meta.url)),
      },
    },
  },
  server: {
    // `pnpm --filter @tripwire/dashboard dev` against a fan-out service on :8080.
    proxy: {
      '/api': 'http://127.0.0.1:8080',
      '/ws': { target: 'ws://127.0.0.1:8080', ws: true },
    },
  },
  test: { environment: 'node' },
});
