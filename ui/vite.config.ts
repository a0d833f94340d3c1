/// <reference types="vitest/config" />
import { defineConfig } from 'vite';

export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
  "connect-src ipc: http://ipc.localhost; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

export default defineConfig({
  // Tauri serves ui/dist with relative asset URLs; the dev server is on 5173.
  base: './',
  clearScreen: false,
  esbuild: { jsx: 'automatic', jsxImportSource: 'preact' },
  // Tauri's devUrl is http://localhost:5173.
  server: { host: 'localhost', port: 5173, strictPort: true },
  // The preview (used by the Playwright tests) serves the build under the strict CSP the app uses,
  // so a violation (inline script/style element, remote content) fails the tests.
  preview: { host: '127.0.0.1', port: 4173, strictPort: true, headers: { 'Content-Security-Policy': CSP } },
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
