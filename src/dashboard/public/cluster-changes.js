// Ring changes from the page: rebalance, drain a node, remove a node. Each is previewed first
// (GET /v1/admin/cluster/preview: the plan, who moves where and how many, nothing changed), then
// confirmed (the same admin API call an operator would make with curl), then followed: a
// progress bar per node from GET /v1/admin/cluster's `moves`, with moved and failed counts.
import { describeError, el, num, table } from './dom.js';

/** The admin call that makes each change. */
const CHANGES = {
  rebalance: { label: 'Rebalance', call: () => ['POST', '/v1/admin/cluster/rebalance'] },
  drain: { label: 'Drain', call: (node) => ['POST', `/v1/admin/cluster/nodes/${encodeURIComponent(node)}/drain`] },
  remove: { label: 'Remove', call: (node) => ['DELETE', `/v1/admin/cluster/nodes/${encodeURIComponent(node)}`] },
};

/**
 * @param {HTMLElement} box
 * @param {{ api: Function, refresh: () => Promise<void> }} deps
 */
export function mountChanges(box, { api, refresh }) {
  const previewButton = el('button', { type: 'button', 'data-testid': 'rebalance-preview' }, ['Preview a rebalance']);
  const planBox = el('div', { class: 'plan', 'data-testid': 'rebalance-plan' });
  const progressBox = el('div', { class: 'progress', 'data-testid': 'rebalance-progress', 'data-state': 'idle' });
  const message = el('p', { class: 'status' });
  box.replaceChildren(el('h3', {}, ['Ring changes']), el('p', {}, [previewButton]), message, planBox, progressBox);

  /** The change being previewed: { kind, node, plan }. */
  let pending = null;
  /** The change being followed: { kind, node, epoch, startedAt }. */
  let following = null;
  let busy = false;
  /** Each node's buttons, by id and state. */
  const actionsByNode = new Map();

  async function preview(kind, node) {
    if (busy) return;
    busy = true;
    message.textContent = 'computing the plan…';
    message.classList.remove('error');
    try {
      const query = new URLSearchParams({ change: kind });
      if (node !== null) query.set('node', node);
      const answer = await api('GET', `/v1/admin/cluster/preview?${query.toString()}`);
      pending = { kind, node, plan: answer.plan };
      message.textContent = '';
      renderPlan();
    } catch (error) {
      pending = null;
      planBox.replaceChildren();
      message.textContent = `no plan: ${describeError(error)}`;
      message.classList.add('error');
    } finally {
      busy = false;
    }
  }

  function renderPlan() {
    if (!pending) {
      planBox.replaceChildren();
      return;
    }
    const { kind, node, plan } = pending;
    const title = node === null ? `${CHANGES[kind].label}: plan` : `${CHANGES[kind].label} ${node}: plan`;
    const moves = Array.isArray(plan.moves) ? plan.moves : [];
    const confirm = el('button', { type: 'button', class: 'danger', 'data-testid': 'rebalance-confirm' }, [`Confirm: ${CHANGES[kind].label.toLowerCase()}`]);
    const cancel = el('button', { type: 'button', class: 'quiet', 'data-testid': 'rebalance-cancel' }, ['Cancel']);
    confirm.addEventListener('click', () => void apply());
    cancel.addEventListener('click', () => {
      pending = null;
      renderPlan();
    });
    planBox.replaceChildren(
      el('h4', {}, [title]),
      el('p', {}, [
        `Epoch ${num(plan.fromEpoch)} → ${num(plan.toEpoch)} · ${num(plan.membersMoving)} of ${num(plan.membersInMemory)} members in memory move · `,
        `${(Number(plan.keyspaceShareMoving) * 100).toFixed(1)} % of the key space changes owner (the least possible: ${(Number(plan.idealShare) * 100).toFixed(1)} %)`,
      ]),
      moves.length > 0
        ? table(
            ['From', 'To', 'Members'],
            moves.map((m) => [String(m.from), String(m.to), num(m.members)]),
            { 'data-testid': 'plan-moves' },
          )
        : el('p', {}, ['No member in memory moves.']),
      Array.isArray(plan.unreachable) && plan.unreachable.length > 0 ? el('p', { class: 'error' }, [`Did not answer (not counted): ${plan.unreachable.join(', ')}`]) : null,
      el('p', {}, [confirm, ' ', cancel]),
    );
  }

  async function apply() {
    if (!pending || busy) return;
    busy = true;
    const { kind, node } = pending;
    const [method, path] = CHANGES[kind].call(node);
    message.textContent = `${CHANGES[kind].label.toLowerCase()} in progress…`;
    message.classList.remove('error');
    try {
      const answer = await api(method, path);
      following = { kind, node, epoch: answer.view.epoch, planned: answer.plan };
      pending = null;
      renderPlan();
      message.textContent = `${CHANGES[kind].label} applied: epoch ${num(answer.view.epoch)}. Members move now.`;
      progressBox.dataset.state = 'running';
      progressBox.dataset.epoch = String(answer.view.epoch);
      await refresh();
    } catch (error) {
      message.textContent = `${CHANGES[kind].label} refused: ${describeError(error)}`;
      message.classList.add('error');
    } finally {
      busy = false;
    }
  }

  /** The progress of the change being followed, from the cluster answer. */
  function renderProgress(cluster) {
    if (!following || !cluster) return;
    const nodes = cluster.nodes.filter((n) => n.state !== 'removed' || (n.moves && n.moves.epoch >= following.epoch));
    const rows = [];
    let allDone = cluster.epoch >= following.epoch;
    let moved = 0;
    let failed = 0;
    for (const node of nodes) {
      const moves = node.moves && node.moves.epoch >= following.epoch ? node.moves : null;
      // A node that has nothing to hand off for this epoch (none planned) is done with it.
      const caughtUp = node.reachable === false || (typeof node.epoch === 'number' && node.epoch >= following.epoch);
      const finished = moves ? moves.finishedAt !== null || moves.superseded : caughtUp;
      if (!finished) allDone = false;
      const planned = moves ? moves.planned : 0;
      const released = moves ? moves.released : 0;
      const nodeFailed = moves ? moves.failed : 0;
      moved += released;
      failed += nodeFailed;
      const fraction = finished ? 1 : planned > 0 ? Math.min(1, released / planned) : 0;
      const bar = el('progress', { max: '100', value: String(Math.round(fraction * 100)), 'data-node-id': String(node.id) });
      rows.push([
        String(node.id),
        bar,
        `${num(released)} of ${num(planned)} moved`,
        `${num(moves ? moves.installed : 0)} installed · ${num(moves ? moves.warmed : 0)} warmed`,
        `${num(nodeFailed)} failed`,
        node.reachable === false ? 'unreachable (not waited for)' : finished ? 'done' : 'moving',
      ]);
    }
    const done = allDone && !cluster.moving;
    progressBox.dataset.state = done ? 'done' : 'running';
    progressBox.dataset.moved = String(moved);
    progressBox.dataset.failed = String(failed);
    const heading =
      following.node === null ? `${CHANGES[following.kind].label} to epoch ${following.epoch}` : `${CHANGES[following.kind].label} ${following.node} (epoch ${following.epoch})`;
    progressBox.replaceChildren(
      el('h4', {}, [heading, ': ', done ? 'done' : 'in progress']),
      el('p', {}, [`${num(moved)} moved, ${num(failed)} failed`]),
      table(['Node', 'Progress', 'Moved', 'At the new owner', 'Failed', 'State'], rows),
    );
  }

  previewButton.addEventListener('click', () => void preview('rebalance', null));

  return {
    /** Called after every poll of the cluster (null and false without cluster mode). */
    update(cluster, clusterMode) {
      box.hidden = !clusterMode;
      renderProgress(cluster);
    },
    /**
     * The drain and remove buttons of a node's row: the same elements from one poll to the next
     * (the rows are rebuilt every 2 s; a click must not fall between two renderings).
     */
    nodeActions(node) {
      if (node.state === 'removed') return null;
      const key = `${String(node.id)}\n${String(node.state)}`;
      let actions = actionsByNode.get(key);
      if (!actions) actionsByNode.set(key, (actions = makeActions(node)));
      return actions;
    },
  };

  function makeActions(node) {
    const drain = el('button', { type: 'button', class: 'small', 'data-testid': 'node-drain', 'data-node-id': String(node.id) }, ['Drain…']);
    const remove = el('button', { type: 'button', class: 'small', 'data-testid': 'node-remove', 'data-node-id': String(node.id) }, ['Remove…']);
    drain.addEventListener('click', () => void preview('drain', String(node.id)));
    remove.addEventListener('click', () => void preview('remove', String(node.id)));
    return el('span', { class: 'actions' }, [node.state === 'draining' ? null : drain, ' ', remove]);
  }
}
