// Minimal typings for the `hashring` package (ketama consistent hashing), which ships none.
declare module 'hashring' {
  type Servers = string | string[] | Record<string, number | { weight?: number; vnodes?: number }>;
  interface HashRingOptions {
    'vnode count'?: number;
    replicas?: number;
    'max cache size'?: number;
    compatibility?: 'hash_ring';
  }
  class HashRing {
    constructor(servers?: Servers, algorithm?: string, options?: HashRingOptions);
    get(key: string): string;
    range(key: string, size?: number, unique?: boolean): string[];
    add(servers: Servers): this;
    remove(server: string): this;
    has(server: string): boolean;
    reset(): this;
    end(): this;
  }
  export default HashRing;
}
