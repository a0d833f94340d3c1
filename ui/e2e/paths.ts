import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
export const HARNESS_JS = `${root}node_modules/.cache/moshibar-e2e/harness.js`;
export const SCREENSHOTS = `${root}test-results/screenshots`;
