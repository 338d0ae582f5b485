/**
 * What to send next. Members are drawn with Zipf skew and operations by the mix weights; the
 * generator remembers, per member, the licenses its own acquires obtained, so renew, release
 * and playback name real license ids (a load of 404s would measure the wrong path). A member
 * with nothing to act on gets an acquire instead, counted as a fallback.
 */
import { OPERATIONS, type Operation, type Scenario } from './scenario.ts';
import { randomInt, WeightedPicker, ZipfSampler, type Random } from './random.ts';

export interface KnownLicense {
  licenseId: string;
  deviceId: string;
}

/** The part of an answer the workload learns from. */
export interface Answer {
  /** HTTP status; 0 when no answer came (transport error, timeout). */
  status: number;
  body: unknown;
}

export interface PlannedRequest {
  op: Operation;
  /** The operation the mix asked for, when a fallback replaced it. */
  fallbackFrom?: Operation;
  method: 'GET' | 'POST';
  path: string;
  body?: string;
  /** Updates the client-side knowledge from the answer. */
  settle(answer: Answer): void;
}

// Enough for any realistic rules (the default caps a device at 100 active downloads); a
// bound keeps memory flat if a target's rules have no limits at all.
const MAX_KNOWN_PER_MEMBER = 256;
// Playback sessions last up to two hours.
const MAX_SESSION_MS = 2 * 3_600_000;

export class Workload {
  private readonly members: ZipfSampler;
  private readonly mix: WeightedPicker<Operation>;
  private readonly known = new Map<number, KnownLicense[]>();
  private sequence = 0;

  constructor(
    private readonly scenario: Scenario,
    private readonly random: Random,
    /** Unique per run, even with a fixed seed: request ids must not replay an earlier run's answers. */
    private readonly runId: string,
  ) {
    this.members = new ZipfSampler(scenario.members.count, scenario.members.zipf);
    this.mix = new WeightedPicker<Operation>(Object.fromEntries(OPERATIONS.map((op) => [op, scenario.mix[op] ?? 0])));
  }

  /** Licenses currently believed active, over all members (reported at the end). */
  knownLicenses(): number {
    let total = 0;
    for (const list of this.known.values()) total += list.length;
    return total;
  }

  memberId(rank: number): string {
    return `${this.scenario.members.idPrefix}-${rank}`;
  }

  next(): PlannedRequest {
    const wanted = this.mix.pick(this.random);
    const rank = this.members.sample(this.random);
    const licenses = this.known.get(rank) ?? [];
    switch (wanted) {
      case 'check':
        return this.check(rank);
      case 'acquire':
        return this.acquire(rank);
      case 'renew':
      case 'release':
      case 'playback':
        if (licenses.length === 0) return { ...this.acquire(rank), fallbackFrom: wanted };
        return this.onLicense(wanted, rank, licenses);
      case 'deactivate':
        // Deactivating a device the member never used is a 404, not the path worth measuring.
        if (licenses.length === 0) return { ...this.acquire(rank), fallbackFrom: wanted };
        return this.deactivate(rank, licenses);
    }
  }

  private requestId(): string {
    this.sequence += 1;
    return `${this.runId}-${this.sequence.toString(36)}`;
  }

  private device(): string {
    return `d${randomInt(this.random, this.scenario.members.devicesPerMember)}`;
  }

  private title(): string {
    return this.scenario.titles[randomInt(this.random, this.scenario.titles.length)] as string;
  }

  private check(rank: number): PlannedRequest {
    const query = new URLSearchParams({ deviceId: this.device(), titleId: this.title() });
    if (this.scenario.plan !== undefined) query.set('plan', this.scenario.plan);
    return { op: 'check', method: 'GET', path: `/v1/members/${this.memberId(rank)}/check?${query.toString()}`, settle: () => {} };
  }

  private acquire(rank: number): PlannedRequest {
    const deviceId = this.device();
    const body: Record<string, unknown> = { deviceId, titleId: this.title(), requestId: this.requestId() };
    if (this.scenario.plan !== undefined) body['plan'] = this.scenario.plan;
    return {
      op: 'acquire',
      method: 'POST',
      path: `/v1/members/${this.memberId(rank)}/licenses`,
      body: JSON.stringify(body),
      settle: (answer) => {
        const licenseId = (answer.body as { licenseId?: unknown } | null)?.licenseId;
        if (answer.status === 201 && typeof licenseId === 'string') this.remember(rank, { licenseId, deviceId });
      },
    };
  }

  private onLicense(op: 'renew' | 'release' | 'playback', rank: number, licenses: KnownLicense[]): PlannedRequest {
    const index = randomInt(this.random, licenses.length);
    const license = licenses[index] as KnownLicense;
    // A release is taken out of the knowledge as it is sent, so concurrent requests stop
    // picking a license that is on its way out; a refusal puts it back.
    if (op === 'release') this.forget(rank, (known) => known === license);
    const body: Record<string, unknown> = { requestId: this.requestId(), deviceId: license.deviceId };
    if (op === 'playback') body['events'] = this.sessions();
    return {
      op,
      method: 'POST',
      path: `/v1/members/${this.memberId(rank)}/licenses/${license.licenseId}/${op}`,
      body: JSON.stringify(body),
      settle: (answer) => {
        if (answer.status === 404) this.forget(rank, (known) => known.licenseId === license.licenseId);
        else if (op === 'release' && answer.status === 409) this.remember(rank, license);
      },
    };
  }

  private deactivate(rank: number, licenses: KnownLicense[]): PlannedRequest {
    const deviceId = (licenses[randomInt(this.random, licenses.length)] as KnownLicense).deviceId;
    const onDevice = this.forget(rank, (known) => known.deviceId === deviceId);
    return {
      op: 'deactivate',
      method: 'POST',
      path: `/v1/members/${this.memberId(rank)}/devices/${deviceId}/deactivate`,
      body: JSON.stringify({ requestId: this.requestId() }),
      settle: (answer) => {
        // Refused (the yearly deactivation limit): the licenses are still active.
        if (answer.status === 409) for (const license of onDevice) this.remember(rank, license);
      },
    };
  }

  private sessions(): { sessionId: string; startedAt: string; durationMs: number }[] {
    const now = Date.now();
    return Array.from({ length: this.scenario.playbackEventsPerRequest }, (_, index) => {
      const durationMs = randomInt(this.random, MAX_SESSION_MS);
      return {
        sessionId: `${this.runId}-s${this.sequence.toString(36)}-${index}`,
        startedAt: new Date(now - durationMs - randomInt(this.random, 3_600_000)).toISOString(),
        durationMs,
      };
    });
  }

  private remember(rank: number, license: KnownLicense): void {
    let list = this.known.get(rank);
    if (!list) this.known.set(rank, (list = []));
    if (list.some((known) => known.licenseId === license.licenseId)) return;
    list.push(license);
    if (list.length > MAX_KNOWN_PER_MEMBER) list.shift();
  }

  /** Removes the matching licenses and returns them. */
  private forget(rank: number, matches: (license: KnownLicense) => boolean): KnownLicense[] {
    const list = this.known.get(rank);
    if (!list) return [];
    const removed = list.filter(matches);
    const kept = list.filter((license) => !matches(license));
    if (kept.length === 0) this.known.delete(rank);
    else this.known.set(rank, kept);
    return removed;
  }
}
