/** Entry point of `npm run load`; see cli.ts for the flags. */
import { runCli } from './cli.ts';

// exitCode rather than exit(): lets stdout flush the report before the process ends.
process.exitCode = await runCli(process.argv.slice(2));
