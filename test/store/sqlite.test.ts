import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteEventStore } from '../../src/store/sqlite/sqlite-event-store.ts';
import { eventStoreContract } from './contract.ts';

const dir = mkdtempSync(join(tmpdir(), 'license-sqlite-'));
t.teardown(() => rmSync(dir, { recursive: true, force: true }));
const path = join(dir, 'events.db');

eventStoreContract(t, {
  async open() {
    return new SqliteEventStore(path);
  },
  async reopen(store) {
    await store.close();
    return new SqliteEventStore(path);
  },
});
