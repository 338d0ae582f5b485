/**
 * HTTP to the other nodes: undici Pools (keep-alive) per peer address, one for forwarded edge
 * requests and one for the nodes' own calls (warm, ship, status, preview, refresh). Every call is
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

/** Connections per peer for the nodes' own calls (a handoff's batches in flight, status, refresh). */
const INTERNAL_CONNECTIONS = 8;

/** A node-to-node call the peer answered with an error status (the status says whether to retry). */
export class PeerCallError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
    this.name = 'PeerCallError';
  }
}

export class Peers {
  readonly #pools = new Map<string, Pool>();
  /**
   * The nodes' own calls have connections of their own: forwarded requests for a member being
   * shipped wait on its new owner until the install call arrives, and must never hold every
   * connection that call needs.
   */
  readonly #internalPools = new Map<string, Pool>();

  constructor(
    private readonly token: string,
    private readonly connections: number,
  ) {}

  #pool(address: string, internal = false): Pool {
    const pools = internal ? this.#internalPools : this.#pools;
    let pool = pools.get(address);
    if (!pool) {
      pool = new Pool(address, { connections: internal ? INTERNAL_CONNECTIONS : this.connections, keepAliveTimeout: 10_000 });
      pools.set(address, pool);
    }
    return pool;
  }

  request(address: string, request: PeerRequest): Promise<PeerResponse> {
    return this.#send(this.#pool(address), request);
  }

  async #send(pool: Pool, request: PeerRequest): Promise<PeerResponse> {
    const signal = AbortSignal.timeout(request.timeoutMs);
    const response = await pool.request({
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
    const response = await this.#send(this.#pool(address, true), {
      method,
      path,
      headers: { authorization: `Bearer ${this.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      timeoutMs,
    });
    const text = response.body.toString('utf8');
    if (response.status >= 300) throw new PeerCallError(`${method} ${address}${path} answered ${response.status}: ${text.slice(0, 300)}`, response.status);
    return JSON.parse(text) as T;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#pools.values(), ...this.#internalPools.values()].map((pool) => pool.close().catch(() => {})));
    this.#pools.clear();
    this.#internalPools.clear();
  }
}
