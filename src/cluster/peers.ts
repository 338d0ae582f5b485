/**
 * HTTP to the other nodes: one undici Pool (keep-alive) per peer address, for forwarded edge
 * requests and for the nodes' own calls (warm, status, preview, refresh). Every call is
 * bounded by a timeout; a peer that does not answer is an error, never a hang.
 */
import { Pool } from 'undici';

export interface PeerResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export interface PeerRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

export class Peers {
  readonly #pools = new Map<string, Pool>();

  constructor(
    private readonly token: string,
    private readonly connections: number,
  ) {}

  #pool(address: string): Pool {
    let pool = this.#pools.get(address);
    if (!pool) {
      pool = new Pool(address, { connections: this.connections, keepAliveTimeout: 10_000 });
      this.#pools.set(address, pool);
    }
    return pool;
  }

  async request(address: string, request: PeerRequest): Promise<PeerResponse> {
    const signal = AbortSignal.timeout(request.timeoutMs);
    const response = await this.#pool(address).request({
      method: request.method,
      path: request.path,
      headers: request.headers,
      ...(request.body !== undefined ? { body: request.body } : {}),
      signal,
      headersTimeout: request.timeoutMs,
      bodyTimeout: request.timeoutMs,
    });
    const body = Buffer.from(await response.body.arrayBuffer());
    return { status: response.statusCode, headers: response.headers, body };
  }

  /** A node-to-node call: JSON in and out, authenticated with the shared admin token. */
  async call<T>(address: string, method: 'GET' | 'POST', path: string, body: unknown, timeoutMs: number): Promise<T> {
    const response = await this.request(address, {
      method,
      path,
      headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      timeoutMs,
    });
    const text = response.body.toString('utf8');
    if (response.status >= 300) throw new Error(`${method} ${address}${path} answered ${response.status}: ${text.slice(0, 300)}`);
    return JSON.parse(text) as T;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values()].map((pool) => pool.close().catch(() => {})));
    this.#pools.clear();
  }
}
