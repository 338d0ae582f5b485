/**
 * The cluster's admin API (behind the admin token): see and change the membership, with the
 * plan of what each change moves; and the node-to-node calls of a handoff (/v1/internal/...,
 * same token). Registered only in cluster mode.
 */
import type { FastifyInstance } from 'fastify';
import type { ClusterNode, Shipment } from './cluster-node.ts';
import { addNode, drainNode, rebalance, removeNode, ringNodes, ringOf, type ClusterView } from './view.ts';
import type { MembershipStore } from './membership-store.ts';
import type { Peers } from './peers.ts';
import { BODY_CODES, errorAnswers, id } from '../http/schemas.ts';
import { NODE_ID_PATTERN } from '../domain/ids.ts';
import { AppError } from '../errors/catalog.ts';
import { HISTORY_MAX_SECONDS, HISTORY_MIN_SECONDS } from '../dashboard/metrics-history.ts';

export interface ClusterRouteDeps {
  node: ClusterNode;
  store: MembershipStore;
  peers: Peers;
  vnodes: number;
}

const nodeAddress = { type: 'string', pattern: '^https?://[^/]+$', maxLength: 256 } as const;
const nodeId = { type: 'string', pattern: NODE_ID_PATTERN } as const;
const nodeParams = { type: 'object', additionalProperties: false, required: ['id'], properties: { id: nodeId } } as const;
const STATUS_TIMEOUT_MS = 1500;

// Answers are documented with their fields, extra fields allowed: the serializer must never drop
// a field the node reports.
const nodeShown = {
  type: 'object',
  additionalProperties: true,
  required: ['id', 'address', 'state'],
  properties: { id: { type: 'string' }, address: { type: 'string' }, state: { type: 'string', enum: ['joining', 'active', 'draining', 'removed'] } },
} as const;
const viewShown = {
  type: 'object',
  additionalProperties: true,
  required: ['clusterId', 'epoch', 'nodes', 'reason', 'changedAt'],
  properties: {
    clusterId: { type: 'string' },
    epoch: { type: 'integer' },
    nodes: { type: 'array', items: nodeShown },
    reason: { type: 'string' },
    changedAt: { type: 'number', description: 'milliseconds since the epoch' },
  },
} as const;
const planShown = { type: 'object', additionalProperties: true, description: 'What the change moves (members in memory per node pair, key-space share).' } as const;
const changeAnswer = { type: 'object', additionalProperties: true, required: ['plan', 'view'], properties: { plan: planShown, view: viewShown } } as const;
const addAnswer = { type: 'object', additionalProperties: true, required: ['changed', 'view'], properties: { changed: { type: 'boolean' }, view: viewShown } } as const;
const clusterAnswer = {
  type: 'object',
  additionalProperties: true,
  required: ['clusterId', 'epoch', 'reason', 'changedAt', 'answeredBy', 'ring', 'nodes', 'moving'],
  properties: {
    clusterId: { type: 'string' },
    epoch: { type: 'integer' },
    reason: { type: 'string' },
    changedAt: { type: 'string' },
    answeredBy: { type: 'string' },
    ring: { type: 'object', additionalProperties: true },
    nodes: { type: 'array', items: { ...nodeShown, properties: { ...nodeShown.properties, reachable: { type: 'boolean' } } } },
    moving: { type: 'boolean' },
  },
} as const;
const CHANGE_ERRORS = ['VALIDATION_FAILED', 'UNAUTHORIZED', 'CLUSTER_CHANGE_REFUSED'] as const;
const previewQuery = {
  type: 'object',
  additionalProperties: false,
  required: ['change'],
  properties: {
    change: { type: 'string', enum: ['rebalance', 'drain', 'remove'] },
    node: { ...nodeId, description: 'the node to drain or remove (required for those)' },
  },
} as const;
const previewAnswer = {
  type: 'object',
  additionalProperties: true,
  required: ['plan', 'view'],
  properties: { plan: planShown, view: { ...viewShown, description: 'the view the change would make (not made)' } },
} as const;
/** A node's metrics history, read through this node (the dashboard's charts of every node). */
const HISTORY_TIMEOUT_MS = 2000;
const historyQuery = {
  type: 'object',
  additionalProperties: false,
  properties: { seconds: { type: 'string', pattern: '^[0-9]{1,6}$', description: 'passed on to the node (see GET /v1/admin/metrics/history)' } },
} as const;
type ChangeKind = 'rebalance' | 'drain' | 'remove';

/** The view change each ring change makes (the same functions the change routes use). */
function mutationFor(change: ChangeKind, target: string | undefined): (view: ClusterView, now: number) => ClusterView {
  if (change === 'rebalance') return (view, now) => rebalance(view, now);
  if (target === undefined) throw new AppError('VALIDATION_FAILED', `querystring.node is required to preview a ${change}`, { field: 'querystring.node' });
  return change === 'drain' ? (view, now) => drainNode(view, target, now) : (view, now) => removeNode(view, target, now);
}

export function clusterRoutes(app: FastifyInstance, deps: ClusterRouteDeps): void {
  const { node } = deps;

  app.get(
    '/v1/admin/cluster',
    { schema: { tags: ['admin'], summary: 'Nodes, ring, members in memory per node, moves in progress', response: { 200: clusterAnswer, ...errorAnswers('UNAUTHORIZED') } } },
    async () => describeCluster(deps),
  );

  app.post<{ Body: { id: string; address: string } }>(
    '/v1/admin/cluster/nodes',
    {
      schema: {
        tags: ['admin'],
        summary: 'Register a node (joining: it gets members at the next rebalance)',
        body: { type: 'object', additionalProperties: false, required: ['id', 'address'], properties: { id: nodeId, address: nodeAddress } },
        response: { 200: addAnswer, 201: addAnswer, ...errorAnswers(...CHANGE_ERRORS, ...BODY_CODES) },
      },
    },
    async (request, reply) => {
      const { id: newId, address } = request.body;
      const { after, before } = await node.change((view, now) => addNode(view, { id: newId, address }, now));
      return reply.status(after ? 201 : 200).send({ changed: after !== null, view: after ?? before });
    },
  );

  app.post(
    '/v1/admin/cluster/rebalance',
    { schema: { tags: ['admin'], summary: 'Apply the ring the membership asks for; returns the plan', response: { 200: changeAnswer, ...errorAnswers(...CHANGE_ERRORS) } } },
    async () => changeWithPlan(deps, (view, now) => rebalance(view, now)),
  );

  app.post<{ Params: { id: string } }>(
    '/v1/admin/cluster/nodes/:id/drain',
    {
      schema: {
        tags: ['admin'],
        summary: 'Take a node out of the ring (its members move); returns the plan',
        params: nodeParams,
        response: { 200: changeAnswer, ...errorAnswers(...CHANGE_ERRORS, 'NODE_NOT_FOUND') },
      },
    },
    async (request) => changeWithPlan(deps, (view, now) => drainNode(view, request.params.id, now)),
  );

  app.delete<{ Params: { id: string } }>(
    '/v1/admin/cluster/nodes/:id',
    {
      schema: {
        tags: ['admin'],
        summary: 'Remove a node; returns the plan',
        params: nodeParams,
        response: { 200: changeAnswer, ...errorAnswers(...CHANGE_ERRORS, 'NODE_NOT_FOUND') },
      },
    },
    async (request) => changeWithPlan(deps, (view, now) => removeNode(view, request.params.id, now)),
  );

  // Read-only: the plan a change would make, for an operator (the dashboard) to confirm first.
  app.get<{ Querystring: { change: ChangeKind; node?: string } }>(
    '/v1/admin/cluster/preview',
    {
      schema: {
        tags: ['admin'],
        summary: 'What a rebalance, drain or remove would move, without making it',
        description: 'The plan the change route would answer (members in memory per node pair, key-space share) and the view it would make; nothing changes.',
        querystring: previewQuery,
        response: { 200: previewAnswer, ...errorAnswers(...CHANGE_ERRORS, 'NODE_NOT_FOUND') },
      },
    },
    async (request) => {
      const mutate = mutationFor(request.query.change, request.query.node);
      await node.refresh();
      const current = node.view;
      const after = mutate(current, Date.now());
      return { plan: await node.preview(current, after), view: after };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { seconds?: string } }>(
    '/v1/admin/cluster/nodes/:id/metrics/history',
    {
      schema: {
        tags: ['admin'],
        summary: "A node's metrics history (GET /v1/admin/metrics/history), read through this node",
        params: nodeParams,
        querystring: historyQuery,
        response: { 200: { type: 'object', additionalProperties: true }, ...errorAnswers('VALIDATION_FAILED', 'UNAUTHORIZED', 'NODE_NOT_FOUND', 'NODE_UNREACHABLE') },
      },
    },
    async (request) => {
      const { id: target } = request.params;
      const member = node.view.nodes.find((candidate) => candidate.id === target && candidate.state !== 'removed');
      if (!member) throw new AppError('NODE_NOT_FOUND', `node ${target} is not in cluster ${node.view.clusterId}`);
      const seconds = request.query.seconds;
      // Checked here as the node would (same window everywhere): a bad window is the caller's 400, not the node's silence.
      if (seconds !== undefined && (Number(seconds) < HISTORY_MIN_SECONDS || Number(seconds) > HISTORY_MAX_SECONDS)) {
        const field = 'querystring.seconds';
        throw new AppError('VALIDATION_FAILED', `${field} must be from ${HISTORY_MIN_SECONDS} to ${HISTORY_MAX_SECONDS}`, { field });
      }
      const path = `/v1/admin/metrics/history${seconds === undefined ? '' : `?seconds=${seconds}`}`;
      try {
        return await deps.peers.call<Record<string, unknown>>(member.address, 'GET', path, undefined, HISTORY_TIMEOUT_MS);
      } catch {
        throw new AppError('NODE_UNREACHABLE', `node ${target} did not answer its metrics history`);
      }
    },
  );

  // Node to node. Same token; not part of the public API.
  app.post('/v1/internal/cluster/refresh', { schema: { hide: true } }, async () => {
    await node.refresh();
    return { epoch: node.view.epoch };
  });
  app.get('/v1/internal/cluster/status', { schema: { hide: true } }, async () => node.status());
  app.post<{ Body: { owners: string[] } }>(
    '/v1/internal/cluster/preview',
    {
      schema: {
        hide: true,
        body: { type: 'object', additionalProperties: false, required: ['owners'], properties: { owners: { type: 'array', maxItems: 1024, items: nodeId } } },
      },
    },
    async (request) => node.previewLocal(request.body.owners),
  );
  // A batch of member ids at an epoch: a handoff's warm-up, or a live migration's announcement.
  const memberBatchBody = {
    type: 'object',
    additionalProperties: false,
    required: ['epoch', 'members'],
    properties: { epoch: { type: 'integer', minimum: 1 }, members: { type: 'array', maxItems: 10000, items: id } },
  } as const;
  app.post<{ Body: { epoch: number; members: string[] } }>(
    '/v1/internal/cluster/warm',
    {
      schema: {
        hide: true,
        body: memberBatchBody,
      },
    },
    async (request) => node.warm(request.body.epoch, request.body.members),
  );
  // Live migration (docs/cluster.md): the old owner announces a batch, then ships its state.
  app.post<{ Body: { epoch: number; members: string[] } }>(
    '/v1/internal/cluster/incoming',
    {
      schema: {
        hide: true,
        body: memberBatchBody,
      },
    },
    async (request) => node.incoming(request.body.epoch, request.body.members),
  );
  app.post<{ Body: { epoch: number; members: Shipment[] } }>(
    '/v1/internal/cluster/install',
    {
      // Members' states: bigger than an edge request may be (the sender splits at 4 MiB).
      bodyLimit: 16 * 1024 * 1024,
      schema: {
        hide: true,
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['epoch', 'members'],
          properties: { epoch: { type: 'integer', minimum: 1 }, members: { type: 'array', maxItems: 10000, items: shipment } },
        },
      },
    },
    async (request) => node.install(request.body.epoch, request.body.members),
  );
}

const fenceShipped = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['epoch', 'node'],
  properties: { epoch: { type: 'integer', minimum: 0 }, node: nodeId },
} as const;
const shippedMember = {
  type: ['object', 'null'],
  additionalProperties: false,
  required: ['memberId', 'schemaVersion', 'state', 'head', 'eventsSinceSnapshot', 'owner'],
  properties: {
    memberId: id,
    schemaVersion: { type: 'integer', minimum: 1 },
    state: { type: 'string' },
    head: {
      type: 'object',
      additionalProperties: false,
      required: ['generation', 'position'],
      properties: { generation: { type: 'integer', minimum: 0 }, position: { type: 'integer', minimum: 0 } },
    },
    eventsSinceSnapshot: { type: 'integer', minimum: 0 },
    owner: fenceShipped,
  },
} as const;
const shipment = {
  type: 'object',
  additionalProperties: false,
  required: ['memberId', 'member'],
  properties: { memberId: id, member: shippedMember },
} as const;

/** Computes what the change would move (asking every node), then makes it. */
async function changeWithPlan(deps: ClusterRouteDeps, mutate: (view: ClusterView, now: number) => ClusterView) {
  await deps.node.refresh();
  const current = deps.node.view;
  const plan = await deps.node.preview(current, mutate(current, Date.now()));
  const { after, before } = await deps.node.change(mutate);
  return { plan, view: after ?? before };
}

/** What a ring change answers (rebalance, drain, remove): the plan and the view it made. */
export type ClusterChange = Awaited<ReturnType<typeof changeWithPlan>>;
/** What GET /v1/admin/cluster answers. */
export type ClusterDescription = Awaited<ReturnType<typeof describeCluster>>;

/**
 * Each owner's share of the key space, sampled (10,000 ring lookups, tens of milliseconds of this
 * node's event loop): once per view, not on every GET, which operators and benchmarks poll.
 */
const sharesByView = new WeakMap<ClusterView, Record<string, number>>();
function sharesOf(view: ClusterView, vnodes: number): Record<string, number> {
  const known = sharesByView.get(view);
  if (known) return { ...known };
  const owners = ringNodes(view);
  const ring = ringOf(view, vnodes);
  const shares: Record<string, number> = Object.fromEntries(owners.map((owner) => [owner, 0]));
  if (ring) {
    const sample = 10_000;
    for (let i = 0; i < sample; i++) {
      const owner = ring.ownerOf(`sample-member-${i}`);
      shares[owner] = (shares[owner] ?? 0) + 1 / sample;
    }
  }
  for (const owner of owners) shares[owner] = Math.round((shares[owner] ?? 0) * 10_000) / 10_000;
  sharesByView.set(view, shares);
  return { ...shares };
}

async function describeCluster(deps: ClusterRouteDeps) {
  const { node, store, peers, vnodes } = deps;
  await node.refresh();
  const view = node.view;
  const beats = await store.beats(view.clusterId).catch(() => new Map<string, number>());
  const now = Date.now();
  const nodes = await Promise.all(
    view.nodes.map(async (member) => {
      let status = null;
      if (member.state !== 'removed') {
        status =
          member.id === node.nodeId
            ? await node.status()
            : await peers.call<Awaited<ReturnType<ClusterNode['status']>>>(member.address, 'GET', '/v1/internal/cluster/status', undefined, STATUS_TIMEOUT_MS).catch(() => null);
      }
      const beat = beats.get(member.id);
      return {
        ...member,
        heartbeatAgeMs: beat === undefined ? null : now - beat,
        reachable: status !== null,
        epoch: status?.epoch ?? null,
        membersInMemory: status?.membersInMemory ?? null,
        moves: status?.moves ?? null,
        received: status?.received ?? null,
      };
    }),
  );
  const owners = ringNodes(view);
  const shares = sharesOf(view, vnodes);
  const inProgress = nodes.filter((n) => n.moves && n.moves.finishedAt === null && !n.moves.superseded);
  return {
    clusterId: view.clusterId,
    epoch: view.epoch,
    reason: view.reason,
    changedAt: new Date(view.changedAt).toISOString(),
    answeredBy: node.nodeId,
    ring: { owners, vnodes, shares },
    nodes,
    moving: inProgress.length > 0,
  };
}
