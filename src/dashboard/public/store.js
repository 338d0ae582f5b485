// The store view: the event store as the service sees it (GET /v1/admin/store): its kind, the
// Cassandra hosts the driver knows, up or down, the consistency levels in force; the tiers when
// the store has them; and the snapshot and event-store counts this node has measured since it
// started (GET /v1/admin/metrics/history's totals). Refreshed every few seconds while shown.
import { age, describeError, el, num, table } from './dom.js';

const REFRESH_MS = 5000;

/**
 * @param {HTMLElement} container
 * @param {{ api: (method: string, path: string, body?: unknown) => Promise<any> }} deps
 */
export function mountStore(container, { api }) {
  const summary = el('div', { class: 'store-summary' });
  const hosts = el('div', { 'data-testid': 'store-hosts', class: 'store-hosts' });
  const tiers = el('div', { class: 'store-tiers' });
  const counts = el('div', { class: 'store-counts' });
  const status = el('p', { class: 'status' });
  container.replaceChildren(el('h2', {}, ['Store']), status, summary, el('h3', {}, ['Hosts']), hosts, tiers, el('h3', {}, ['Counts on this node since it started']), counts);

  let timer = 0;
  let visible = false;

  async function refresh() {
    try {
      const store = await api('GET', '/v1/admin/store');
      render(store);
      status.textContent = `updated ${new Date().toLocaleTimeString()}`;
      status.classList.remove('error');
    } catch (error) {
      status.textContent = `could not read the store: ${describeError(error)}`;
      status.classList.add('error');
    }
    try {
      renderCounts(await api('GET', '/v1/admin/metrics/history?seconds=10'));
    } catch (error) {
      counts.replaceChildren(el('p', { class: 'error' }, [`no counts: ${describeError(error)}`]));
    }
  }

  function render(store) {
    const rows = [['Kind', String(store.kind)]];
    if (store.keyspace !== undefined) rows.push(['Keyspace', String(store.keyspace)]);
    if (store.localDataCenter !== undefined) rows.push(['Local data center', String(store.localDataCenter)]);
    if (store.consistency) {
      rows.push(
        ['Read consistency', String(store.consistency.read)],
        ['Write consistency', String(store.consistency.write)],
        ['Serial consistency', String(store.consistency.serial)],
      );
    }
    summary.replaceChildren(table(['', ''], rows, { class: 'keyvalue' }));

    const list = Array.isArray(store.hosts) ? store.hosts : [];
    hosts.dataset.count = String(list.length);
    hosts.dataset.up = String(list.filter((h) => h.up === true).length);
    if (list.length === 0) {
      hosts.replaceChildren(el('p', {}, [`No hosts: the ${String(store.kind)} store has none (Cassandra lists the hosts its driver sees).`]));
    } else {
      const up = list.filter((h) => h.up === true).length;
      const body = list.map((h) =>
        el('tr', { 'data-host': String(h.address), 'data-up': String(h.up === true) }, [
          el('td', {}, [String(h.address)]),
          el('td', {}, [el('span', { class: h.up === true ? 'pill ok' : 'pill bad' }, [h.up === true ? 'up' : 'down'])]),
          el('td', {}, [String(h.datacenter)]),
          el('td', {}, [String(h.rack)]),
          el('td', {}, [String(h.cassandraVersion)]),
        ]),
      );
      hosts.replaceChildren(el('p', {}, [`${up} of ${list.length} up`]), table(['Address', 'State', 'Data center', 'Rack', 'Version'], body));
    }

    // Tiers, once the store describes them (the two-tier Cassandra store: hot and cold).
    renderTiers(store.tiers);
  }

  function renderTiers(described) {
    if (!described || typeof described !== 'object') {
      tiers.replaceChildren();
      return;
    }
    const hot = described.hot ?? {};
    const cold = described.cold ?? {};
    const coldHosts = Array.isArray(cold.hosts) ? cold.hosts : [];
    const coldState =
      cold.connected === true ? `connected, ${coldHosts.filter((h) => h.up === true).length} of ${coldHosts.length} hosts up` : 'not reached yet (the store retries)';
    const background = described.background && typeof described.background === 'object' ? Object.entries(described.background) : [];
    tiers.replaceChildren(
      el('h3', {}, ['Tiers']),
      table(
        ['Tier', 'Keyspace', 'State'],
        [
          el('tr', { 'data-tier': 'hot' }, [el('td', {}, ['hot']), el('td', {}, [String(hot.keyspace ?? '–')]), el('td', {}, ['the hosts above'])]),
          el('tr', { 'data-tier': 'cold', 'data-connected': String(cold.connected === true) }, [
            el('td', {}, ['cold']),
            el('td', {}, [String(cold.keyspace ?? '–')]),
            el('td', {}, [coldState]),
          ]),
        ],
        { 'data-testid': 'store-tiers' },
      ),
      background.length > 0
        ? table(
            ['Background work since start', 'Count'],
            background.map(([work, count]) => [String(work), num(count)]),
            { class: 'keyvalue' },
          )
        : null,
    );
  }

  function renderCounts(history) {
    const totals = history && history.totals;
    if (!totals) {
      counts.replaceChildren(el('p', {}, ['No counts yet (the first readings are a few seconds away).']));
      return;
    }
    const rows = [['Snapshots written', num(totals.snapshotsTaken)]];
    for (const op of Array.isArray(totals.storeOperations) ? totals.storeOperations : []) {
      rows.push([`Event store ${String(op.operation)}`, num(op.count)]);
    }
    const since = typeof totals.at === 'string' ? ` (as of ${age(Date.now() - Date.parse(totals.at))} ago)` : '';
    counts.replaceChildren(table(['What', `Count${since}`], rows, { class: 'keyvalue' }));
  }

  return {
    show() {
      if (visible) return;
      visible = true;
      const tick = async () => {
        await refresh();
        if (visible) timer = window.setTimeout(tick, REFRESH_MS);
      };
      void tick();
    },
    hide() {
      visible = false;
      window.clearTimeout(timer);
    },
  };
}
