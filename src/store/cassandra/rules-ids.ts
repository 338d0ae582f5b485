/**
 * Small integer ids for rules versions, so an event row stores 4 bytes instead of the version's
 * text. Two tables: `rules_version_names` (id -> version; what a reader needs) and
 * `rules_version_ids` (version -> id; what a writer needs). Allocation is lock-free: a writer
 * claims the first free id with INSERT ... IF NOT EXISTS on the names table, then publishes it
 * with INSERT ... IF NOT EXISTS on the ids table; of two writers allocating the same new version
 * the first publication wins and the other's id stays an alias of the same version (harmless:
 * every id ever claimed names exactly one version, and the name is written before any row uses
 * the id). Both directions are cached for the life of the store: a version never changes id.
 */
import type cassandra from 'cassandra-driver';

type Execute = (query: string, params: unknown[], what: string, serial?: boolean) => Promise<cassandra.types.ResultSet>;

const CQL = {
  idOf: 'SELECT id FROM rules_version_ids WHERE version = ?',
  nameOf: 'SELECT version FROM rules_version_names WHERE id = ?',
  allNames: 'SELECT id FROM rules_version_names',
  claimName: 'INSERT INTO rules_version_names (id, version) VALUES (?, ?) IF NOT EXISTS',
  publishId: 'INSERT INTO rules_version_ids (version, id) VALUES (?, ?) IF NOT EXISTS',
} as const;

export class RulesIds {
  readonly #execute: Execute;
  readonly #ids = new Map<string, number>();
  readonly #names = new Map<number, string>();
  /** One allocation per version at a time within this process. */
  readonly #pending = new Map<string, Promise<number>>();

  constructor(execute: Execute) {
    this.#execute = execute;
  }

  async idOf(version: string): Promise<number> {
    const known = this.#ids.get(version);
    if (known !== undefined) return known;
    let pending = this.#pending.get(version);
    if (!pending) {
      pending = this.#lookUpOrAllocate(version).finally(() => this.#pending.delete(version));
      this.#pending.set(version, pending);
    }
    return pending;
  }

  /** The version an id names; throws for an id no writer ever claimed (a damaged row). */
  async versionOf(id: number): Promise<string> {
    const known = this.#names.get(id);
    if (known !== undefined) return known;
    const row = (await this.#execute(CQL.nameOf, [id], 'rules version read')).first();
    const version: unknown = row?.['version'];
    if (typeof version !== 'string') throw new Error(`rules version id ${id} names no rules version`);
    this.#remember(version, id, false);
    return version;
  }

  #remember(version: string, id: number, canonical: boolean): void {
    this.#names.set(id, version);
    if (canonical) this.#ids.set(version, id);
  }

  async #lookUpOrAllocate(version: string): Promise<number> {
    const found = (await this.#execute(CQL.idOf, [version], 'rules version id read')).first();
    if (found) return this.#published(version, found['id'] as number);
    const taken = new Set<number>();
    for (const row of (await this.#execute(CQL.allNames, [], 'rules version ids read')).rows) taken.add(row['id'] as number);
    // Bounded: each refused claim means another writer took that id meanwhile.
    for (let candidate = 1, attempts = 0; attempts < 1000; candidate++) {
      if (taken.has(candidate)) continue;
      attempts += 1;
      const claim = await this.#execute(CQL.claimName, [candidate, version], 'rules version id claim', true);
      const holder: unknown = claim.first()?.['version'];
      if (!claim.wasApplied() && holder !== version) continue;
      const publish = await this.#execute(CQL.publishId, [version, candidate], 'rules version id write', true);
      if (publish.wasApplied()) return this.#published(version, candidate);
      this.#remember(version, candidate, false);
      return this.#published(version, publish.first()?.['id'] as number);
    }
    throw new Error(`could not allocate an id for rules version ${version}`);
  }

  #published(version: string, id: number): number {
    this.#remember(version, id, true);
    return id;
  }
}
