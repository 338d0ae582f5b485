/**
 * The benchmarks' realistic member history (bench/report.ts, bench/storage-bench.ts): a member who
 * acquires a license, plays it back and releases it, cycling over 3 devices and 50 titles, at a
 * steady rate of `events` events over `days` days ending at `end`. Each command is decided by the
 * domain's decider against the state so far, so the events are exactly what the service would
 * store; the last cycles keep their licenses (active ones to answer checks about), and a few
 * playbacks fill the history to exactly `events` events.
 */
import { randomUUID } from 'node:crypto';
import type { DomainEvent } from '../src/domain/events.ts';
import type { MemberCommand } from '../src/domain/member/commands.ts';
import { decide } from '../src/domain/member/decide.ts';
import { applyEvent, initialMemberState, type EventMetadata } from '../src/domain/member/state.ts';
import { isRefusal } from '../src/domain/refusal.ts';
import type { Rules } from '../src/domain/rules.ts';

const DAY = 86_400_000;

export interface HistoryOptions {
  /** Events in the whole history. */
  events: number;
  /** Days the history spans (364 for a year). */
  days: number;
  /** The time of the last event (ms since epoch). */
  end: number;
  rules: Rules;
  /** A random correlation id per command, as the HTTP path stores (the request's id); none by default. */
  correlationIds?: boolean;
}

/** One command's events and the metadata they are stored with. */
export interface HistoryCommand {
  events: DomainEvent[];
  metadata: EventMetadata;
}

export function memberHistory(memberId: string, options: HistoryOptions): HistoryCommand[] {
  const { events, days, end, rules } = options;
  const state = initialMemberState();
  const step = Math.floor((days * DAY) / events);
  const start = end - days * DAY;
  const commands: HistoryCommand[] = [];
  let total = 0;
  let lastLicense = '';
  const run = (command: MemberCommand): void => {
    const decision = decide(command, state, rules);
    if (isRefusal(decision) || 'requestIdReused' in decision || 'unknownPlan' in decision) throw new Error(`history of ${memberId}: ${JSON.stringify(decision)}`);
    const metadata: EventMetadata = { rulesVersion: rules.version, ...(options.correlationIds ? { correlationId: randomUUID() } : {}) };
    for (const event of decision.events) applyEvent(state, event, metadata);
    commands.push({ events: decision.events, metadata });
    total += decision.events.length;
  };
  for (let cycle = 0; total < events; cycle++) {
    const remaining = events - total;
    const at = (): number => start + total * step;
    if (remaining >= 3) {
      lastLicense = randomUUID();
      const keep = remaining <= 12; // the last cycles keep their licenses
      run({ type: 'AcquireLicense', now: at(), licenseId: lastLicense, deviceId: `device-${cycle % 3}`, titleId: `title-${cycle % 50}` });
      if (total < events) {
        run({ type: 'RecordPlayback', now: at(), licenseId: lastLicense, sessions: [{ sessionId: `s-${cycle}`, startedAt: at() - 3_600_000, durationMs: 1_800_000 }] });
      }
      if (!keep && total < events) run({ type: 'ReleaseLicense', now: at(), licenseId: lastLicense });
    } else {
      run({ type: 'RecordPlayback', now: at(), licenseId: lastLicense, sessions: [{ sessionId: `s-${cycle}`, startedAt: at() - 3_600_000, durationMs: 900_000 }] });
    }
  }
  if (total !== events) throw new Error(`history of ${memberId}: ${total} events instead of ${events}`);
  return commands;
}

/**
 * Whole commands grouped into appends of about `maxEvents` events (commands are added while the
 * append has fewer), each event encoded with its own command's metadata. A seeding shortcut:
 * the rows are the ones one append per command would write, in far fewer Paxos rounds (about 12
 * events stay under Cassandra's 5 KiB batch warning).
 */
export function groupIntoAppends<T>(
  commands: readonly HistoryCommand[],
  encode: (event: DomainEvent, metadata: EventMetadata) => T,
  maxEvents = 12,
): { rows: T[]; commands: HistoryCommand[] }[] {
  const appends: { rows: T[]; commands: HistoryCommand[] }[] = [];
  for (let i = 0; i < commands.length;) {
    const group: { rows: T[]; commands: HistoryCommand[] } = { rows: [], commands: [] };
    while (i < commands.length && group.rows.length < maxEvents) {
      const command = commands[i++] as HistoryCommand;
      group.commands.push(command);
      for (const event of command.events) group.rows.push(encode(event, command.metadata));
    }
    appends.push(group);
  }
  return appends;
}
