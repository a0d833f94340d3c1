import { build } from 'esbuild';
import { HARNESS_JS } from './paths';

export default async function globalSetup() {
  await build({
    entryPoints: [new URL('./harness-entry.ts', import.meta.url).pathname],
    bundle: true,
    format: 'iife',
    target: 'chrome110',
    outfile: HARNESS_JS,
    logLevel: 'warning',
  });
}
