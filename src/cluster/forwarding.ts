/**
 * Routing at the edge of a cluster node: a request for a member this node does not own is
 * forwarded to the owner (one hop at most) and its answer relayed as is; every answer says
 * which node served it (X-Served-By). Runs as a preHandler, after validation, so a bad request
 * is refused where it arrives and only valid ones cross the network.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../errors/catalog.ts';
import { bearerChecker } from '../http/admin-auth.ts';
import type { ClusterNode } from './cluster-node.ts';
import type { PeerResponse, Peers } from './peers.ts';

/** Set on a forwarded request: the id of the node that forwarded it (one hop, never two). */
export const HOP_HEADER = 'x-cluster-hop';
/** The forwarding node's epoch: a receiver behind it refreshes before judging ownership. */
export const EPOCH_HEADER = 'x-cluster-epoch';
/** The shared token, proving the hop comes from a node (the edge cannot fake a hop). */
export const AUTH_HEADER = 'x-cluster-auth';
export const SERVED_BY_HEADER = 'x-served-by';

/** Routes whose `memberId` parameter decides which node serves them. */
const MEMBER_ROUTES = ['/v1/members/', '/v1/admin/members/'];

/** Headers relayed from the owner's answer (the rest are per-connection). */
const RELAYED = ['content-type', 'retry-after', SERVED_BY_HEADER, 'www-authenticate', 'x-license-degraded', 'idempotent-replayed'];

export interface ForwardingDeps {
  node: ClusterNode;
  peers: Peers;
  token: string;
  timeoutMs: number;
}

/** True for a request another node forwarded here (and authenticated as a node). */
export function peerForwardedChecker(token: string): (request: FastifyRequest) => boolean {
  const check = bearerChecker(token);
  return (request) => request.headers[HOP_HEADER] !== undefined && check(headerValue(request, AUTH_HEADER));
}

function headerValue(request: FastifyRequest, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

export function installForwarding(app: FastifyInstance, deps: ForwardingDeps): void {
  const { node } = deps;
  const fromPeer = peerForwardedChecker(deps.token);
  app.addHook('onSend', async (_request, reply) => {
    if (!reply.hasHeader(SERVED_BY_HEADER)) reply.header(SERVED_BY_HEADER, node.nodeId);
  });
  // A write refused by a newer owner's fence means this node's view is behind: catch up before
  // answering, so the client's retry is routed to the new owner.
  app.addHook('onError', async (_request, _reply, error) => {
    if ((error as { code?: unknown }).code === 'OWNERSHIP_MOVED') await node.catchUpAfterRefusal();
  });
  app.addHook('preHandler', async (request, reply) => {
    const route = request.routeOptions.url ?? '';
    if (!MEMBER_ROUTES.some((prefix) => route.startsWith(prefix))) return;
    const memberId = (request.params as { memberId?: unknown } | undefined)?.memberId;
    if (typeof memberId !== 'string') return;
    if (!node.started) throw new AppError('NOT_READY', 'this node has not joined its cluster yet; retry');
    // A node that was paused or cut off past half the failure timeout reads the view again
    // before it answers from memory, or answers 503 (docs/cluster.md, "How stale a check can be").
    await node.ensureFresh();
    let owner = node.ownerOf(memberId);
    if (owner?.id === node.nodeId) return node.reloadIfJumped(memberId);
    if (fromPeer(request)) {
      // The forwarder's view may be newer than ours (a change we have not seen yet).
      if (Number(headerValue(request, EPOCH_HEADER)) > node.view.epoch) {
        await node.refresh();
        owner = node.ownerOf(memberId);
        if (owner?.id === node.nodeId) return node.reloadIfJumped(memberId);
      }
      throw new AppError(
        'MISROUTED',
        `node ${node.nodeId} (epoch ${node.view.epoch}) does not own member ${memberId} and the request was already forwarded once (by ${headerValue(request, HOP_HEADER) ?? '?'}); retry`,
      );
    }
    if (!owner) throw new AppError('NOT_READY', 'the cluster has no active node to own members; retry');
    const answer = await forward(request, deps, owner);
    if (answer.status === 503 && isMisrouted(answer.body)) {
      // The owner we picked says it is not the owner: our view is the old one. Catch up and
      // route again (still one hop: the request leaves this node once more, never onward).
      await node.refresh();
      const current = node.ownerOf(memberId);
      if (current?.id === node.nodeId) return node.reloadIfJumped(memberId); // ours now: the route runs here
      if (current && current.id !== owner.id) return relay(reply, await forward(request, deps, current));
    }
    return relay(reply, answer);
  });
}

function isMisrouted(body: Buffer): boolean {
  try {
    return (JSON.parse(body.toString('utf8')) as { code?: unknown }).code === 'MISROUTED';
  } catch {
    return false;
  }
}

function relay(reply: FastifyReply, response: PeerResponse): FastifyReply {
  reply.status(response.status);
  for (const name of RELAYED) {
    const value = response.headers[name];
    if (value !== undefined) reply.header(name, value);
  }
  return reply.send(response.body);
}

async function forward(request: FastifyRequest, deps: ForwardingDeps, owner: { id: string; address: string }): Promise<PeerResponse> {
  const headers: Record<string, string> = {
    [HOP_HEADER]: deps.node.nodeId,
    [EPOCH_HEADER]: String(deps.node.view.epoch),
    [AUTH_HEADER]: `Bearer ${deps.token}`,
    'x-request-id': request.id,
  };
  const authorization = headerValue(request, 'authorization');
  if (authorization) headers['authorization'] = authorization; // admin routes (snapshot now)
  const hasBody = request.method !== 'GET' && request.method !== 'HEAD' && request.body !== undefined;
  if (hasBody) headers['content-type'] = 'application/json';
  try {
    return await deps.peers.request(owner.address, {
      method: request.method,
      path: request.url,
      headers,
      ...(hasBody ? { body: JSON.stringify(request.body) } : {}),
      timeoutMs: deps.timeoutMs,
    });
  } catch (error) {
    throw new AppError(
      'OWNER_UNREACHABLE',
      `node ${owner.id} (${owner.address}), which owns member ${(request.params as { memberId: string }).memberId}, did not answer: ${(error as Error).message}; retry`,
    );
  }
}
