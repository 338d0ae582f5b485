/**
 * For the prototype-key tests: the hostile names (every own property name of Object.prototype
 * and Function.prototype, computed, not a hand-picked subset), and snapshots of the prototypes
 * to show that nothing was added, removed or replaced, in this thread and in every worker
 * thread of this process (read through the inspector, so the service needs no test hook).
 * Not a test file by itself.
 */
import { Session } from 'node:inspector';

/** Taken at import, before any request could have changed a prototype. */
export const PROTOTYPE_NAMES: readonly string[] = [...new Set([...Object.getOwnPropertyNames(Object.prototype), ...Object.getOwnPropertyNames(Function.prototype)])].sort();

/** The id grammar of every id position (src/http/schemas.ts). */
export const ID_GRAMMAR = /^[A-Za-z0-9._:-]{1,128}$/;

/** Names a plain object finds on its prototype chain: what a `{}`-as-map gets wrong. */
export const INHERITED_NAMES: readonly string[] = Object.getOwnPropertyNames(Object.prototype);

type Descriptors = Map<string, PropertyDescriptor>;

export interface PrototypeSnapshot {
  object: Descriptors;
  function: Descriptors;
}

function descriptors(target: object): Descriptors {
  return new Map(Object.getOwnPropertyNames(target).map((name) => [name, Object.getOwnPropertyDescriptor(target, name) as PropertyDescriptor]));
}

export function prototypeSnapshot(): PrototypeSnapshot {
  return { object: descriptors(Object.prototype), function: descriptors(Function.prototype) };
}

function same(a: PropertyDescriptor, b: PropertyDescriptor): boolean {
  return a.value === b.value && a.get === b.get && a.set === b.set && a.writable === b.writable && a.enumerable === b.enumerable && a.configurable === b.configurable;
}

function diff(label: string, before: Descriptors, after: Descriptors): string[] {
  const changes: string[] = [];
  for (const [name, descriptor] of after) {
    const was = before.get(name);
    if (!was) changes.push(`${label}.${name} was added`);
    else if (!same(was, descriptor)) changes.push(`${label}.${name} was replaced`);
  }
  for (const name of before.keys()) if (!after.has(name)) changes.push(`${label}.${name} was removed`);
  return changes;
}

/** What changed on this thread's prototypes since `before` (empty: nothing). */
export function prototypeChanges(before: PrototypeSnapshot): string[] {
  const now = prototypeSnapshot();
  return [...diff('Object.prototype', before.object, now.object), ...diff('Function.prototype', before.function, now.function)];
}

/** One worker thread's prototypes, as own property names (values cannot cross threads). */
export interface WorkerPrototypes {
  /** The inspector's id of the worker thread: a replaced worker has a new one. */
  workerId: string;
  /** Its name (an actor worker's title ends with its id, e.g. "[worker 2] worker-0"). */
  title: string;
  /** Its entry module: the actor workers' is src/actors/worker-entry.mjs. */
  url: string;
  object: string[];
  function: string[];
}

const EXPRESSION = 'JSON.stringify({ object: Object.getOwnPropertyNames(Object.prototype), function: Object.getOwnPropertyNames(Function.prototype) })';

/** The actor workers among a process's threads (the others are module-loader threads). */
export function actorWorkers(threads: readonly WorkerPrototypes[]): WorkerPrototypes[] {
  return threads.filter((thread) => thread.url.endsWith('/src/actors/worker-entry.mjs')).sort((a, b) => a.title.localeCompare(b.title));
}

/**
 * Every worker thread of this process, with its prototypes' own property names, read by
 * evaluating in the thread through the inspector (NodeWorker domain). Bounded by `timeoutMs`.
 */
export async function workerPrototypes(timeoutMs = 10_000): Promise<WorkerPrototypes[]> {
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params: object = {}): Promise<T> =>
    new Promise((resolve, reject) => session.post(method, params, (error, result) => (error ? reject(error) : resolve(result as T))));
  const attached: { sessionId: string; workerInfo: { workerId: string; title: string; url: string } }[] = [];
  type Reply = { id?: number; result?: { result?: { value?: string } }; error?: unknown };
  const pending = new Map<string, (message: Reply) => void>();
  session.on('NodeWorker.attachedToWorker', (message) => attached.push(message.params));
  session.on('NodeWorker.receivedMessageFromWorker', (message) => {
    const { sessionId, message: text } = message.params;
    const parsed = JSON.parse(text) as Reply;
    if (parsed.id !== undefined) pending.get(sessionId)?.(parsed);
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`worker prototypes: no answer within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    const read = async (): Promise<WorkerPrototypes[]> => {
      await post('NodeWorker.enable', { waitForDebuggerOnStart: false });
      // The attach events of running workers arrive right after enable.
      await new Promise((resolve) => setTimeout(resolve, 200));
      return Promise.all(
        attached.map(async ({ sessionId, workerInfo }) => {
          const answer = new Promise<Reply>((resolve) => pending.set(sessionId, resolve));
          await post('NodeWorker.sendMessageToWorker', {
            sessionId,
            message: JSON.stringify({ id: 1, method: 'Runtime.evaluate', params: { expression: EXPRESSION, returnByValue: true } }),
          });
          const reply = await answer;
          const value = reply.result?.result?.value;
          if (typeof value !== 'string') throw new Error(`worker ${workerInfo.workerId} did not evaluate: ${JSON.stringify(reply.error ?? reply)}`);
          const names = JSON.parse(value) as { object: string[]; function: string[] };
          return { workerId: workerInfo.workerId, title: workerInfo.title, url: workerInfo.url, object: names.object.sort(), function: names.function.sort() };
        }),
      );
    };
    return await Promise.race([read(), deadline]);
  } finally {
    clearTimeout(timer);
    await post('NodeWorker.disable').catch(() => {});
    session.disconnect();
  }
}
