// The cluster view: every node (id, address, state, epoch, heartbeat age, members in memory per
// worker, mailbox depth, ring share), requests/s and p99 per operation over the last minutes as
// uPlot charts, and ring changes (rebalance, drain, remove) previewed, confirmed and followed.
// Live: polled every ~2 s while shown. Without cluster mode (GET /v1/admin/cluster is 404) it
// shows the one node this page is served by, from the metrics history.
import uPlot from './vendor/uplot/uPlot.esm.js';
import { age, describeError, el, num, table } from './dom.js';
import { mountChanges } from './cluster-changes.js';

const POLL_MS = 2000;
const HISTORY_SECONDS = 300;
/** Operations charted: the busiest few over the window (a chart of 40 lines says nothing). */
const CHARTED_OPERATIONS = 6;
/**
 * The operations charted are the service's own (the edge API): the dashboard's polling, the
 * nodes' calls to each other and probes would otherwise be most of what is drawn.
 */
const OPERATOR_ROUTES = /^[A-Z]+ (\/v1\/(admin|internal|debug)\/|\/(metrics|docs|readyz|healthz|livez)\b|unmatched$)/;
const COLORS = ['#2b6cb0', '#c05621', '#2f855a', '#6b46c1', '#b83280', '#718096'];

/**
 * @param {HTMLElement} container
 * @param {{ api: (method: string, path: string, body?: unknown) => Promise<any> }} deps
 */
export function mountCluster(container, { api }) {
  const status = el('p', { class: 'status', 'data-testid': 'cluster-status' });
  const summary = el('p', { class: 'cluster-summary' });
  const nodesBox = el('div', { class: 'nodes' });
  const changesBox = el('div', { class: 'changes' });
  const chartsBox = el('div', { class: 'charts' });
  container.replaceChildren(el('h2', {}, ['Cluster']), status, summary, nodesBox, changesBox, el('h3', {}, ['Last minutes']), chartsBox);

  /** The last GET /v1/admin/cluster answer (null without cluster mode). */
  let cluster = null;
  let clusterMode = true;
  /** The latest metrics history per node id (this node's alone without cluster mode). */
  const histories = new Map();
  const changes = mountChanges(changesBox, { api, refresh: () => poll() });
  const charts = mountCharts(chartsBox);

  let timer = 0;
  let visible = false;
  let polling = null;

  async function poll() {
    if (polling) return polling;
    polling = (async () => {
      try {
        await readCluster();
        await readHistories();
        render();
        status.textContent = `live · updated ${new Date().toLocaleTimeString()}`;
        status.classList.remove('error');
      } catch (error) {
        status.textContent = `could not read the cluster: ${describeError(error)}`;
        status.classList.add('error');
      } finally {
        polling = null;
      }
    })();
    return polling;
  }

  async function readCluster() {
    if (!clusterMode) return;
    try {
      cluster = await api('GET', '/v1/admin/cluster');
    } catch (error) {
      // Not a cluster: the route does not exist on a single node.
      if (error && error.status === 404) {
        clusterMode = false;
        cluster = null;
        return;
      }
      throw error;
    }
  }

  async function readHistories() {
    const path = `/v1/admin/metrics/history?seconds=${HISTORY_SECONDS}`;
    if (!clusterMode || !cluster) {
      histories.set('this node', await api('GET', path));
      return;
    }
    // Each node's own history, through the node answering (it asks the others with the token).
    await Promise.all(
      cluster.nodes
        .filter((node) => node.state !== 'removed')
        .map(async (node) => {
          try {
            histories.set(node.id, await api('GET', `/v1/admin/cluster/nodes/${encodeURIComponent(node.id)}/metrics/history?seconds=${HISTORY_SECONDS}`));
          } catch {
            histories.delete(node.id);
          }
        }),
    );
  }

  function render() {
    const nodes = clusterMode && cluster ? cluster.nodes : [singleNode(histories.get('this node'))];
    summary.textContent =
      clusterMode && cluster
        ? `Cluster ${cluster.clusterId} · epoch ${cluster.epoch} · ${cluster.ring.owners.length} in the ring · answered by ${cluster.answeredBy}${cluster.moving ? ' · members moving' : ''}`
        : 'Single node (no cluster mode): this node only.';
    renderNodes(nodes);
    changes.update(cluster, clusterMode);
    charts.update(histories);
  }

  function renderNodes(nodes) {
    const shares = clusterMode && cluster ? cluster.ring.shares : null;
    const rows = nodes.map((node) => {
      const history = histories.get(clusterMode ? node.id : 'this node');
      const workers = latestWorkers(history);
      const mailbox = workers ? workers.reduce((sum, w) => sum + w.mailboxDepth, 0) : null;
      const share = shares && Object.prototype.hasOwnProperty.call(shares, node.id) ? shares[node.id] : null;
      const actions = clusterMode ? changes.nodeActions(node) : null;
      return el('tr', { 'data-testid': 'node-row', 'data-node-id': String(node.id), 'data-state': stateOf(node) }, [
        el('td', {}, [String(node.id)]),
        el('td', {}, [String(node.address)]),
        el('td', {}, [el('span', { class: `pill ${stateClass(node)}` }, [stateOf(node)])]),
        el('td', {}, [num(node.epoch)]),
        el('td', {}, [node.heartbeatAgeMs === undefined ? '–' : age(node.heartbeatAgeMs)]),
        el('td', {}, [
          num(node.membersInMemory),
          workers
            ? el('div', { class: 'sub', title: 'per worker thread, at the last metrics reading (every 5 s)' }, [
                workers.map((w) => `${w.worker}: ${w.membersInMemory}`).join(' · '),
              ])
            : null,
        ]),
        el('td', {}, [num(mailbox)]),
        el('td', {}, [share === null ? '–' : `${(share * 100).toFixed(1)} %`]),
        el('td', {}, [actions]),
      ]);
    });
    nodesBox.replaceChildren(
      table(['Node', 'Address', 'State', 'Epoch', 'Heartbeat', 'Members in memory (per worker)', 'Mailbox depth', 'Ring share', ''], rows, { class: 'node-table' }),
    );
  }

  return {
    show() {
      if (visible) return;
      visible = true;
      const tick = async () => {
        await poll();
        if (visible) timer = window.setTimeout(tick, POLL_MS);
      };
      void tick();
    },
    hide() {
      visible = false;
      window.clearTimeout(timer);
    },
  };
}

/** The single node, described from its own metrics (no cluster mode: no epoch, no heartbeat). */
function singleNode(history) {
  const workers = latestWorkers(history);
  return {
    id: 'this node',
    address: location.origin,
    state: 'serving',
    epoch: null,
    heartbeatAgeMs: undefined,
    membersInMemory: workers ? workers.reduce((sum, w) => sum + w.membersInMemory, 0) : null,
    reachable: true,
  };
}

function latestWorkers(history) {
  const points = history && Array.isArray(history.points) ? history.points : [];
  const last = points[points.length - 1];
  return last ? last.workers : null;
}

/** The words for the states: active is serving, removed has left, a silent node is unreachable. */
function stateOf(node) {
  if (node.state === 'removed') return 'left';
  if (node.reachable === false) return 'unreachable';
  if (node.state === 'active') return 'serving';
  return String(node.state);
}

function stateClass(node) {
  const state = stateOf(node);
  if (state === 'serving') return 'ok';
  if (state === 'unreachable') return 'bad';
  return 'warn';
}

/**
 * The two charts: requests/s and p99 (ms) per operation, over every node's history summed
 * (requests) or at its worst node (p99), for the busiest operations.
 */
function mountCharts(box) {
  const rateBox = el('div', { class: 'chart', 'data-testid': 'chart-rate' });
  const p99Box = el('div', { class: 'chart', 'data-testid': 'chart-p99' });
  const legendNote = el('p', { class: 'sub' });
  box.replaceChildren(el('h4', {}, ['Requests per second']), rateBox, el('h4', {}, ['p99 latency (ms)']), p99Box, legendNote);
  let rateChart = null;
  let p99Chart = null;
  let shape = '';

  function update(histories) {
    const { times, operations, rates, p99s, nodes } = combine(histories);
    legendNote.textContent =
      nodes.length === 0
        ? 'No history yet.'
        : `Edge API operations, from the in-process history of: ${nodes.join(', ')} (one point per sampling interval)${operations.length === 0 ? '; no edge request in the window' : ''}.`;
    const key = operations.join('\n');
    const width = Math.max(320, Math.min(box.clientWidth || 900, 1100));
    if (key !== shape || !rateChart || !p99Chart) {
      rateChart?.destroy();
      p99Chart?.destroy();
      shape = key;
      rateChart = new uPlot(options(width, operations, 'req/s'), [times, ...rates], rateBox);
      p99Chart = new uPlot(options(width, operations, 'ms'), [times, ...p99s], p99Box);
    } else {
      rateChart.setData([times, ...rates]);
      p99Chart.setData([times, ...p99s]);
    }
    rateBox.dataset.points = String(times.length);
    p99Box.dataset.points = String(times.length);
  }
  return { update };
}

function options(width, operations, unit) {
  return {
    width,
    height: 220,
    scales: { x: { time: true } },
    axes: [{}, { label: unit, size: 60 }],
    series: [{}, ...operations.map((operation, i) => ({ label: operation, stroke: COLORS[i % COLORS.length], width: 1.5, spanGaps: true }))],
  };
}

/**
 * Aligns the histories on one time axis: each point is put in the bucket of its sampling
 * interval, rates add up over the nodes, p99 is the worst node's.
 */
function combine(histories) {
  const byTime = new Map();
  const totals = new Map();
  const nodes = [];
  for (const [node, history] of histories) {
    if (!history || !Array.isArray(history.points)) continue;
    nodes.push(node);
    const step = Math.max(1, Math.round((history.intervalMs || 5000) / 1000));
    for (const point of history.points) {
      const t = Math.round(Date.parse(point.at) / 1000 / step) * step;
      let slot = byTime.get(t);
      if (!slot) byTime.set(t, (slot = new Map()));
      for (const op of point.operations) {
        const entry = slot.get(op.operation) ?? { rate: 0, p99: null };
        entry.rate += op.requestsPerSecond;
        if (op.p99Ms !== null) entry.p99 = entry.p99 === null ? op.p99Ms : Math.max(entry.p99, op.p99Ms);
        slot.set(op.operation, entry);
        totals.set(op.operation, (totals.get(op.operation) ?? 0) + op.requestsPerSecond);
      }
    }
  }
  const operations = [...totals]
    .filter(([operation, total]) => total > 0 && !OPERATOR_ROUTES.test(operation))
    .sort((a, b) => b[1] - a[1])
    .slice(0, CHARTED_OPERATIONS)
    .map(([operation]) => operation)
    .sort();
  const times = [...byTime.keys()].sort((a, b) => a - b);
  const rates = operations.map((operation) => times.map((t) => byTime.get(t)?.get(operation)?.rate ?? 0));
  const p99s = operations.map((operation) => times.map((t) => byTime.get(t)?.get(operation)?.p99 ?? null));
  return { times, operations, rates, p99s, nodes };
}
