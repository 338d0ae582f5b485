// comlink ships typings for its Node adapter as node-adapter.d.ts, which TypeScript does not
// match to the .mjs path the adapter must be imported by (the package has no exports map).
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  import type { MessagePort, Worker } from 'node:worker_threads';
  export default function nodeEndpoint(endpoint: MessagePort | Worker): Endpoint;
}
