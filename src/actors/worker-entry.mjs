// Worker threads start as plain JavaScript: Node 20 does not apply a loader given with
// --import in a worker's execArgv. This entry loads the TypeScript worker through tsx's API.
import { tsImport } from 'tsx/esm/api';

await tsImport('./worker.ts', import.meta.url);
