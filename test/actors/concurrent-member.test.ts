/**
 * 200 concurrent acquires for one member, through the actor pool (2 workers): the member's
 * mailbox runs them one at a time, so no limit is ever exceeded, refusals are 409s with a
 * reason, and the stored events hold exactly the acknowledged licenses. On both stores.
 */
import t, { type Test } from 'tap';
import { testRules } from '../support/fixtures.ts';
import type { Rules } from '../../src/domain/rules.ts';
import { activeLicenses } from '../../src/domain/member/state.ts';
import { MemberRepository } from '../../src/service/member-repository.ts';
import { acquire, countBy, listedLicenseIds, memberIds, sameSet, startActorServer, STORE_KINDS, storedEvents, within, type Json, type StoreKind } from './support.ts';

const COMMANDS = 200;
const DEVICES = 10;
const DEVICE_LIMIT = 4; // plan premium
const PER_DEVICE_LIMIT = 5;
const STUDIO_LIMIT = 3;
const STUDIOS = ['s0', 's1', 's2', 's3'];

/**
 * Title i goes to device i % 10 and belongs to studio s(k % 5) with k = floor(i / 10), or to no
 * studio when k % 5 === 4: every device asks for titles of every studio, so all three limits
 * (devices per plan, downloads per device, downloads per studio) must refuse some.
 */
function studioOfTitle(i: number): string | null {
  const k = Math.floor(i / DEVICES) % 5;
  return k === 4 ? null : (STUDIOS[k] ?? null);
}

function rules(): Rules {
  const titles: Rules['titles'] = {};
  for (let i = 0; i < COMMANDS; i++) {
    const studio = studioOfTitle(i);
    if (studio) titles[`title-${i}`] = { studio };
  }
  return testRules({
    version: 'actors-concurrent-1',
    maxActiveDownloadsPerDevice: PER_DEVICE_LIMIT,
    studios: Object.fromEntries(STUDIOS.map((s) => [s, { maxActiveDownloadsPerStudio: STUDIO_LIMIT, yearlyTitleLimit: null }])),
    titles,
  });
}

async function scenario(t: Test, kind: StoreKind): Promise<void> {
  const server = await startActorServer(t, kind, {
    rules: rules(),
    actors: { workers: 2, maxQueuedPerMember: 256, maxPendingPerWorker: 10_000, groupCommit: true },
    // Snapshot every 10 events: the burst spans several generations, all of which are read back.
    snapshot: { eventCount: 10 },
  });
  const [memberId] = memberIds('concurrent', 1) as [string];
  t.comment(`${kind}: member ${memberId} lives on ${server.pool.workerOf(memberId)}`);

  const requests = Array.from({ length: COMMANDS }, (_, i) => ({
    deviceId: `device-${i % DEVICES}`,
    titleId: `title-${i}`,
    plan: 'premium',
  }));
  const answers = await within(Promise.all(requests.map((body) => acquire(server, memberId, body))), 45_000, '200 concurrent acquires');

  const statuses = countBy(answers, (a) => String(a.status));
  t.comment(`${kind}: answers by status ${JSON.stringify(Object.fromEntries(statuses))}`);
  t.same(
    [...statuses.keys()].filter((s) => s !== '201' && s !== '409'),
    [],
    'every answer is 201 or 409 (none overloaded, none failed)',
  );

  const acknowledged: (Json & { request: (typeof requests)[number] | undefined })[] = answers.flatMap((a, i) => (a.status === 201 ? [{ ...a.body, request: requests[i] }] : []));
  const refused = answers.filter((a) => a.status === 409);
  t.ok(acknowledged.length > 0, `some acquires succeed (${acknowledged.length})`);
  t.ok(refused.length > 0, `some acquires are refused (${refused.length})`);
  t.same(
    acknowledged.filter((l) => l['deviceId'] !== l.request?.deviceId || l['titleId'] !== l.request?.titleId || l['memberId'] !== memberId),
    [],
    'every 201 answers its own request (member, device, title)',
  );
  const refusalReasons = countBy(refused, (a) => String(a.body['reason']));
  t.comment(`${kind}: refusals by reason ${JSON.stringify(Object.fromEntries(refusalReasons))}`);
  t.same(
    refused.filter((a) => a.body['code'] !== 'LICENSE_REFUSED' || !['DEVICE_LIMIT', 'DEVICE_DOWNLOAD_LIMIT', 'STUDIO_LIMIT'].includes(String(a.body['reason']))),
    [],
    'every refusal is LICENSE_REFUSED naming the limit it hit',
  );

  // No limit is ever exceeded by what was acknowledged (nothing is released, so all are active).
  const byDevice = countBy(acknowledged, (l) => String(l['deviceId']));
  t.ok(byDevice.size <= DEVICE_LIMIT, `at most ${DEVICE_LIMIT} devices hold downloads (${byDevice.size})`);
  t.equal(byDevice.size, DEVICE_LIMIT, 'the device limit was reached, not undershot');
  t.ok(
    [...byDevice.values()].every((n) => n <= PER_DEVICE_LIMIT),
    `no device holds more than ${PER_DEVICE_LIMIT} (${JSON.stringify(Object.fromEntries(byDevice))})`,
  );
  const byStudio = countBy(
    acknowledged.filter((l) => l['studioId'] !== null),
    (l) => String(l['studioId']),
  );
  t.ok(
    [...byStudio.values()].every((n) => n <= STUDIO_LIMIT),
    `no studio has more than ${STUDIO_LIMIT} active (${JSON.stringify(Object.fromEntries(byStudio))})`,
  );
  t.ok(
    [...byStudio.values()].some((n) => n === STUDIO_LIMIT),
    'a studio limit was reached',
  );
  t.ok(refusalReasons.has('DEVICE_LIMIT'), 'the device limit refused some');
  t.ok(refusalReasons.has('STUDIO_LIMIT'), 'the studio limit refused some');
  t.ok(refusalReasons.has('DEVICE_DOWNLOAD_LIMIT'), 'the per-device limit refused some');
  t.same(
    acknowledged.filter((l) => l['studioId'] !== studioOfTitle(Number(String(l['titleId']).slice('title-'.length)))),
    [],
    "every answer names its title's studio",
  );

  // The stored events replay to exactly the acknowledged answers.
  const ackIds = acknowledged.map((l) => String(l['licenseId']));
  t.equal(new Set(ackIds).size, ackIds.length, 'acknowledged license ids are distinct');
  const events = await storedEvents(server.store, memberId);
  const storedAcquired = events.flatMap((e) => (e.type === 'LicenseAcquired' ? [e] : []));
  t.equal(storedAcquired.length, ackIds.length, `as many LicenseAcquired events as 201 answers (${storedAcquired.length})`);
  t.ok(
    sameSet(
      storedAcquired.map((e) => e.licenseId),
      ackIds,
    ),
    'the stored LicenseAcquired events are exactly the acknowledged licenses',
  );
  const byId = new Map(acknowledged.map((l) => [String(l['licenseId']), l]));
  t.same(
    storedAcquired.filter((e) => e.deviceId !== byId.get(e.licenseId)?.['deviceId'] || e.titleId !== byId.get(e.licenseId)?.['titleId']),
    [],
    'each stored license has the device and title of its answer',
  );
  t.equal(events.filter((e) => e.type === 'TitleDownloaded').length, ackIds.length, 'one TitleDownloaded per acknowledged license');
  t.equal(events.filter((e) => e.type === 'DeviceRegistered').length, byDevice.size, 'one DeviceRegistered per device that holds downloads');
  t.equal(events.filter((e) => e.type === 'LicenseReleased').length, 0, 'nothing was released');

  // Replayed from the store (snapshot + newer events, as a worker loads it), the member holds
  // exactly the acknowledged licenses.
  const head = await server.store.readHead(memberId);
  t.ok(head.generation > 0, `the burst was snapshotted along the way (generation ${head.generation})`);
  const replayed = await new MemberRepository(server.store, { eventCount: Number.MAX_SAFE_INTEGER, replayMs: Number.MAX_SAFE_INTEGER }).load(memberId);
  t.ok(
    sameSet(
      activeLicenses(replayed.state).map((l) => l.licenseId),
      ackIds,
    ) && activeLicenses(replayed.state).length === ackIds.length,
    'the stored history replays to exactly the acknowledged licenses',
  );

  // The actor's memory agrees with the store.
  t.ok(sameSet(await listedLicenseIds(server, memberId), ackIds), 'the listed active licenses are the acknowledged ones');
}

for (const kind of STORE_KINDS) {
  t.test(`200 concurrent acquires for one member (${kind})`, { timeout: 60_000 }, (t) => scenario(t, kind));
}
