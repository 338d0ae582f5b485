/**
 * The cluster's membership as data (docs/cluster.md), and the changes an operator or the
 * failure detector makes to it. Pure: no I/O, no clock (times come in as arguments).
 *
 * A view is one epoch of membership. The ring of an epoch is made of its active nodes only, so
 * the owner of every member at every epoch follows from the stored views alone; an ownership
 * fence (epoch, node) therefore names exactly one writer.
 */
import { createRing, type Ring } from '../routing/ring.ts';

/**
 * joining: registered, not in the ring until a rebalance; active: in the ring; draining: out
 * of the ring, its members are moving away, it still forwards; removed: gone (kept for history).
 */
export type NodeState = 'joining' | 'active' | 'draining' | 'removed';

export interface ClusterNode {
  id: string;
  /** Base URL other nodes forward to, e.g. http://127.0.0.1:3001. */
  address: string;
  state: NodeState;
}

export interface ClusterView {
  clusterId: string;
  epoch: number;
  nodes: ClusterNode[];
  /** Why this epoch exists (operator action or failure), for the history. */
  reason: string;
  changedAt: number;
}

/** A change the operator asked for that cannot be made; the message says why. */
export class ClusterChangeError extends Error {
  override name = 'ClusterChangeError';
  constructor(
    readonly code: 'CLUSTER_CHANGE_REFUSED' | 'NODE_NOT_FOUND',
    message: string,
  ) {
    super(message);
  }
}

/** The ids of the nodes that own members at this epoch, sorted (the ring does not depend on order). */
export function ringNodes(view: ClusterView): string[] {
  return view.nodes
    .filter((node) => node.state === 'active')
    .map((node) => node.id)
    .sort();
}

export function ringOf(view: ClusterView, vnodes: number): Ring | null {
  const owners = ringNodes(view);
  return owners.length > 0 ? createRing(owners, { vnodes }) : null;
}

export function firstView(clusterId: string, node: { id: string; address: string }, now: number): ClusterView {
  return { clusterId, epoch: 1, nodes: [{ ...node, state: 'active' }], reason: `bootstrap by ${node.id}`, changedAt: now };
}

function next(view: ClusterView, nodes: ClusterNode[], reason: string, now: number): ClusterView {
  const proposed = { clusterId: view.clusterId, epoch: view.epoch + 1, nodes, reason, changedAt: now };
  if (ringNodes(proposed).length === 0) {
    throw new ClusterChangeError('CLUSTER_CHANGE_REFUSED', `${reason}: that would leave no active node to own the members`);
  }
  return proposed;
}

function find(view: ClusterView, id: string): ClusterNode {
  const node = view.nodes.find((candidate) => candidate.id === id);
  if (!node || node.state === 'removed') throw new ClusterChangeError('NODE_NOT_FOUND', `node ${id} is not in cluster ${view.clusterId}`);
  return node;
}

/**
 * Registers a node as joining (it gets members at the next rebalance). Null when nothing
 * changes: the node is already there at that address (a restart, a repeated join).
 */
export function addNode(view: ClusterView, node: { id: string; address: string }, now: number): ClusterView | null {
  const existing = view.nodes.find((candidate) => candidate.id === node.id);
  if (existing && existing.state !== 'removed' && existing.address === node.address) return null;
  if (existing && existing.state !== 'removed' && existing.state !== 'joining') {
    // Same id, new address (a node restarted on another port): keep its state, move the address.
    return next(
      view,
      view.nodes.map((n) => (n.id === node.id ? { ...n, address: node.address } : n)),
      `node ${node.id} moved to ${node.address}`,
      now,
    );
  }
  const others = view.nodes.filter((candidate) => candidate.id !== node.id);
  return next(view, [...others, { ...node, state: 'joining' }], `node ${node.id} joins`, now);
}

/** Applies the ring the membership asks for: joining nodes become active. */
export function rebalance(view: ClusterView, now: number): ClusterView {
  return next(
    view,
    view.nodes.map((node) => (node.state === 'joining' ? { ...node, state: 'active' as const } : node)),
    'rebalance',
    now,
  );
}

/** Takes a node out of the ring; it keeps forwarding until it is removed. */
export function drainNode(view: ClusterView, id: string, now: number): ClusterView {
  find(view, id);
  return next(
    view,
    view.nodes.map((node) => (node.id === id ? { ...node, state: 'draining' as const } : node)),
    `drain ${id}`,
    now,
  );
}

/** Removes a node (operator, or the failure detector with `reason`). */
export function removeNode(view: ClusterView, id: string, now: number, reason = `remove ${id}`): ClusterView {
  find(view, id);
  return next(
    view,
    view.nodes.map((node) => (node.id === id ? { ...node, state: 'removed' as const } : node)),
    reason,
    now,
  );
}

/**
 * The nodes the failure detector should take out: in the ring or draining, and silent for
 * longer than the timeout. A node never seen beating is measured from the view's change.
 */
export function silentNodes(view: ClusterView, beats: ReadonlyMap<string, number>, now: number, timeoutMs: number): string[] {
  return view.nodes
    .filter((node) => node.state === 'active' || node.state === 'draining')
    .filter((node) => now - Math.max(beats.get(node.id) ?? 0, view.changedAt) > timeoutMs)
    .map((node) => node.id);
}

/** How members move between two rings: per (from, to) pair, the count of the given members. */
export function planMoves(from: Ring | null, to: Ring | null, memberIds: Iterable<string>): Map<string, Map<string, number>> {
  const moves = new Map<string, Map<string, number>>();
  if (!to) return moves;
  for (const memberId of memberIds) {
    const before = from ? from.ownerOf(memberId) : '(none)';
    const after = to.ownerOf(memberId);
    if (before === after) continue;
    const targets = moves.get(before) ?? new Map<string, number>();
    targets.set(after, (targets.get(after) ?? 0) + 1);
    moves.set(before, targets);
  }
  return moves;
}

/**
 * The share of the key space that changes owner between two rings, measured on a fixed
 * sample of keys (the ring is a hash, so a sample of 20,000 is within about 1% of the truth).
 */
export function keyspaceShareMoving(from: Ring | null, to: Ring | null, sample = 20_000): number {
  if (!from || !to) return from === to ? 0 : 1;
  let moved = 0;
  for (let i = 0; i < sample; i++) {
    const key = `sample-member-${i}`;
    if (from.ownerOf(key) !== to.ownerOf(key)) moved += 1;
  }
  return moved / sample;
}
