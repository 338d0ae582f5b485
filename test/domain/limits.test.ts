/**
 * The list of limit rules (src/domain/limits/index.ts) is the one source of what the README's
 * Refusals table, the rules schema and the OpenAPI `reason` enum say: this fails when one of
 * them disagrees with it. Each limit's behaviour has its own spec (acquire, renew, deactivate,
 * title-download-limit).
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import type { DomainEvent } from '../../src/domain/events.ts';
import { countDeactivation, countDownload, countLicense, countRenewal, eventKey, type Counted } from '../../src/domain/limits/counting.ts';
import { LIMIT_RULES, REFUSAL_REASONS } from '../../src/domain/limits/index.ts';
import type { MemberCommand } from '../../src/domain/member/commands.ts';
import { LIFECYCLE_REFUSALS } from '../../src/domain/refusal.ts';
import { rulesSchema } from '../../src/domain/rules.ts';
import { REPO_ROOT } from '../support/process.ts';

const COMMAND_NAMES: Record<MemberCommand['type'], string> = {
  AcquireLicense: 'acquire',
  RenewLicense: 'renew',
  ReleaseLicense: 'release',
  RecordPlayback: 'playback',
  DeactivateDevice: 'deactivate',
};

interface Row {
  reason: string;
  commands: readonly MemberCommand['type'][];
  readme: { counts: string; setBy: string };
}

/** A rule's row in the README's Refusals table, exactly. */
function row({ reason, commands, readme }: Row): string {
  return `| \`${reason}\` | ${commands.map((c) => COMMAND_NAMES[c]).join(', ')} | ${readme.counts} | ${readme.setBy === '' ? '(the lifecycle; no setting)' : readme.setBy} |`;
}

t.test("the README's Refusals table has one row per refusal reason, in the rules' order, as the rules declare it", async (t) => {
  const readme = readFileSync(`${REPO_ROOT}README.md`, 'utf8');
  const start = readme.indexOf('<!-- refusals:start -->');
  const end = readme.indexOf('<!-- refusals:end -->');
  t.ok(start >= 0 && end > start, 'the table sits between <!-- refusals:start --> and <!-- refusals:end -->');
  const documented = readme
    .slice(start, end)
    .split('\n')
    .filter((line) => /^\| `[A-Z_]+` \|/.test(line));
  const expected = [...LIMIT_RULES, ...LIFECYCLE_REFUSALS].map(row);
  t.same(documented, expected, `the rows, to paste if a rule changed:\n${expected.join('\n')}`);
});

t.test('each rule declares what it is: a unique name and reason, the commands it refuses, its README text', async (t) => {
  t.equal(new Set(LIMIT_RULES.map((r) => r.name)).size, LIMIT_RULES.length, 'names are unique');
  t.equal(new Set(REFUSAL_REASONS).size, REFUSAL_REASONS.length, 'reasons are unique');
  for (const rule of LIMIT_RULES) {
    t.ok(rule.commands.length > 0, `${rule.name} refuses some command`);
    t.ok(rule.readme.counts.length > 0, `${rule.name}: its README row says what counts`);
    t.ok(rule.readme.setBy.includes(rule.name), `${rule.name}: its README row names its key`);
  }
});

t.test("the rules schema holds each rule's keys where the rule says, and no other limit", async (t) => {
  const p = rulesSchema.properties;
  const places = {
    member: { properties: p as Record<string, unknown>, required: rulesSchema.required as readonly string[] },
    plan: { properties: p.plans.additionalProperties.properties as Record<string, unknown>, required: p.plans.additionalProperties.required as readonly string[] },
    title: { properties: p.defaults.properties as Record<string, unknown>, required: p.defaults.required as readonly string[] },
  };
  const studio = p.studios.additionalProperties.properties as Record<string, unknown>;
  const declared = new Map<string, Set<string>>([
    ['member', new Set()],
    ['plan', new Set()],
    ['title', new Set()],
  ]);
  for (const rule of LIMIT_RULES) {
    for (const scope of ['member', 'plan', 'title'] as const) {
      for (const [key, schema] of Object.entries(rule.keys[scope] ?? {})) {
        declared.get(scope)?.add(key);
        t.same(places[scope].properties[key], schema, `${rule.name}: ${scope} key ${key}`);
        if (scope === 'title') t.same(studio[key], schema, `${rule.name}: a studio may override ${key}`);
        t.equal(places[scope].required.includes(key), (rule.keys.required ?? []).includes(key), `${rule.name}: ${key} is required exactly when the rule says so`);
      }
    }
  }
  const base = { member: ['version', 'defaults', 'plans', 'studios', 'titles'], plan: [], title: ['plan', 'licenseWindowDays'] };
  for (const scope of ['member', 'plan', 'title'] as const) {
    const unclaimed = Object.keys(places[scope].properties).filter((key) => !declared.get(scope)?.has(key) && !(base[scope] as string[]).includes(key));
    t.same(unclaimed, [], `every ${scope} key of the schema belongs to a rule (or to the rules' own shape)`);
  }
});

t.test('the OpenAPI document lists exactly the refusal reasons wherever it shows a reason', async (t) => {
  const document = readFileSync(`${REPO_ROOT}openapi.json`, 'utf8');
  const enums: unknown[] = [];
  JSON.parse(document, (key, value: unknown) => {
    if (key === 'reason' && typeof value === 'object' && value !== null && 'enum' in value) enums.push(value.enum);
    return value;
  });
  t.ok(enums.length >= 3, 'the refusal answers, the check and the explanation');
  for (const listed of enums) t.same(listed, REFUSAL_REASONS);
});

t.test('each count names its event by the key the event itself gives', async (t) => {
  const license = {
    licenseId: 'L1',
    deviceId: 'd1',
    titleId: 't1',
    studioId: null,
    acquiredAt: 5,
    expiresAt: 9,
    renewals: 2,
    releasedAt: null,
    releaseCause: null,
    playbackSessions: 0,
    playbackMs: 0,
  };
  const pairs: [Counted, DomainEvent][] = [
    [countLicense(license), { type: 'LicenseAcquired', at: 5, licenseId: 'L1', deviceId: 'd1', titleId: 't1', studioId: null, expiresAt: 9 }],
    [countDownload('t1', { at: 5, licenseId: 'L1', via: 'acquire' }), { type: 'TitleDownloaded', at: 5, titleId: 't1', licenseId: 'L1', deviceId: 'd1', via: 'acquire' }],
    [countRenewal('L1', 2), { type: 'LicenseRenewed', at: 7, licenseId: 'L1', expiresAt: 11, renewals: 2 }],
    [countDeactivation('d1', 8), { type: 'DeviceDeactivated', at: 8, deviceId: 'd1', releasedLicenseIds: [] }],
  ];
  for (const [counted, event] of pairs) t.equal('event' in counted ? counted.event : null, eventKey(event), event.type);
  t.equal(eventKey({ type: 'DeviceRegistered', at: 1, deviceId: 'd1' }), null, 'an event that counts toward no limit has no key');
});
