/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

export default defineConfig({
  // Tauri serves ui/dist with relative asset URLs; the dev server is on 5173.
  base: './',
  clearScreen: false,
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  server: { host: '127.0.0.1', port: 5173, strictPort: true },
  preview: { host: '127.0.0.1', port: 4173, strictPort: true },
  build: {
    outDir: 'dist',
    target: ['safari15', 'chrome105'],
    sourcemap: false,
    // No inline module preload polyfill: keeps the page free of inline scripts (strict CSP).
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
  },
  test: {
    environment: 'node',
    include: ['tests/**/*.test.{ts,tsx}'],
    pool: 'threads',
    poolOptions: { threads: { maxThreads: 1, minThreads: 1 } },
  },
});
