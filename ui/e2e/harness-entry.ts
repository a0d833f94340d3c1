// Bundled by e2e/global-setup.ts into an init script that runs before the popover's own code.
import { installMockBackend } from '../src/mock/harness';

const w = window as any;
w.__mock = installMockBackend(w.__MOCK_INIT__ ?? {});
