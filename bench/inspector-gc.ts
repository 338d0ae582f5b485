/**
 * A full garbage collection in every worker thread of a service process, through the process's
 * own inspector (started with --inspect=127.0.0.1:0). Why: a worker's `used_heap_size` counts
 * whatever garbage the last collection left, up to the size of the young generation (tens of
 * MiB), which is as large as the cache being measured; after a full collection it is the live
 * heap. Nothing in the service calls gc(), and the inspector reaches worker isolates through
 * its NodeWorker domain without any change to the service.
 */
import { WebSocket } from 'undici';

interface Message {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: unknown;
  error?: { message?: string };
}

const DEBUGGER_LINE = /Debugger listening on (ws:\/\/127\.0\.0\.1:\d+\/[\w-]+)/;

/** The inspector URL in a process's stderr text, or null. Only a loopback URL is accepted. */
export function inspectorUrlIn(text: string): string | null {
  return DEBUGGER_LINE.exec(text)?.[1] ?? null;
}

export class WorkerCollector {
  readonly #socket: WebSocket;
  readonly #pending = new Map<number, { resolve: (message: Message) => void; reject: (error: Error) => void }>();
  /** Inspector session id per worker thread, as each attaches. */
  readonly #sessions = new Map<string, string>();
  #nextId = 1;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.addEventListener('message', (event) => this.#onMessage(String(event.data)));
    socket.addEventListener('close', () => {
      for (const waiter of this.#pending.values()) waiter.reject(new Error('inspector connection closed'));
      this.#pending.clear();
    });
  }

  static async connect(url: string): Promise<WorkerCollector> {
    const socket = new WebSocket(url);
    await new Promise<void>((resolve, reject) => {
      socket.addEventListener('open', () => resolve(), { once: true });
      socket.addEventListener('error', () => reject(new Error(`cannot reach the inspector at ${url}`)), { once: true });
    });
    const collector = new WorkerCollector(socket);
    await collector.#call({ method: 'NodeWorker.enable', params: { waitForDebuggerOnStart: false } });
    return collector;
  }

  /** Worker threads attached so far (each worker attaches once NodeWorker is enabled). */
  get workers(): number {
    return this.#sessions.size;
  }

  /** Collects garbage in every attached worker; resolves when each has finished. */
  async collectAll(): Promise<void> {
    await Promise.all([...this.#sessions.values()].map((sessionId) => this.#inWorker(sessionId, 'HeapProfiler.collectGarbage')));
  }

  close(): void {
    this.#socket.close();
  }

  #onMessage(text: string): void {
    const message = JSON.parse(text) as Message;
    if (message.method === 'NodeWorker.attachedToWorker') {
      const params = message.params as { sessionId: string; workerInfo: { workerId: string } };
      this.#sessions.set(params.workerInfo.workerId, params.sessionId);
    } else if (message.method === 'NodeWorker.detachedFromWorker') {
      const { sessionId } = message.params as { sessionId: string };
      for (const [worker, session] of this.#sessions) if (session === sessionId) this.#sessions.delete(worker);
    } else if (message.method === 'NodeWorker.receivedMessageFromWorker') {
      // A worker's answer comes wrapped; its id is one of ours (the id spaces are shared here).
      this.#settle(JSON.parse((message.params as { message: string }).message) as Message);
    } else if (message.id !== undefined) {
      this.#settle(message);
    }
  }

  #settle(message: Message): void {
    if (message.id === undefined) return;
    const waiter = this.#pending.get(message.id);
    if (!waiter) return;
    this.#pending.delete(message.id);
    if (message.error) waiter.reject(new Error(message.error.message ?? 'inspector error'));
    else waiter.resolve(message);
  }

  #call(message: { method: string; params?: Record<string, unknown> }, id = this.#nextId++): Promise<Message> {
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#socket.send(JSON.stringify({ id, ...message }));
    });
  }

  async #inWorker(sessionId: string, method: string): Promise<void> {
    const inner = this.#nextId++;
    const answered = new Promise<Message>((resolve, reject) => this.#pending.set(inner, { resolve, reject }));
    await this.#call({ method: 'NodeWorker.sendMessageToWorker', params: { sessionId, message: JSON.stringify({ id: inner, method }) } });
    await answered;
  }
}
