#!/usr/bin/env node
// The operator CLI (src/cli/main.ts). Plain JavaScript so that it runs as a bin entry; it loads
// the TypeScript through tsx's API, like src/actors/worker-entry.mjs does for workers.
import { tsImport } from 'tsx/esm/api';

await tsImport('../src/cli/main.ts', import.meta.url);
