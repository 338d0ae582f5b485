// The member inspector: one member's licenses and devices now (the owner's in-memory view), its
// event history as a paged timeline, its state at any instant along that timeline (a slider), and
// "explain" for a device and title at that instant. Every answer comes from the service's
// existing routes; this page adds no power the API does not have.
//
// Every string shown here came from outside (ids, event data, error messages): it is written with
// textContent or as an attribute value, never parsed as HTML. Keys of answers are read with
// Object.entries/Array iteration only, never used to index a plain object.

import uPlot from './vendor/uplot/uPlot.esm.js';

/** Events rendered per page of the timeline (the stream is read only as far as shown). */
export const PAGE_SIZE = 100;
/** A slider that moves fires one state request once it rests this long. */
const SLIDER_REST_MS = 150;

/**
 * Makes an element. `attrs` become attributes (data-*, type, class...; never event handlers),
 * `children` are elements or strings, strings becoming text nodes.
 * @param {string} tag
 * @param {Record<string, string | number | boolean | null | undefined>} [attrs]
 * @param {(Node | string | null | undefined)[]} [children]
 * @returns {HTMLElement}
 */
function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on')) throw new Error(`refusing an event-handler attribute: ${name}`);
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

/** @param {unknown} value */
function text(value) {
  if (value === null || value === undefined) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/** @param {HTMLElement} node @param {string} message @param {...Node} before kept above the message */
function showError(node, message, ...before) {
  node.replaceChildren(...before, el('p', { class: 'error', role: 'alert' }, [message]));
}

/** @param {unknown} error */
function describe(error) {
  if (error instanceof Error) return error.message;
  return text(error);
}

/**
 * A table of rows; `columns` names each column and how to read it from a row.
 * @template T
 * @param {string} testid
 * @param {[string, (row: T) => unknown][]} columns
 * @param {T[]} rows
 * @param {(row: T) => Record<string, string>} [rowAttrs]
 */
function table(testid, columns, rows, rowAttrs = () => ({})) {
  return el('table', { 'data-testid': testid, 'data-count': rows.length }, [
    el('thead', {}, [
      el(
        'tr',
        {},
        columns.map(([name]) => el('th', {}, [name])),
      ),
    ]),
    el(
      'tbody',
      {},
      rows.map((row) =>
        el(
          'tr',
          rowAttrs(row),
          columns.map(([, read]) => el('td', {}, [text(read(row))])),
        ),
      ),
    ),
  ]);
}

/**
 * Lines of an NDJSON body, read only as fast as they are asked for (the service streams the
 * history with backpressure, so an unread tail is never produced).
 * @param {ReadableStreamDefaultReader<Uint8Array>} reader
 */
async function* ndjsonLines(reader) {
  const decoder = new TextDecoder();
  let buffered = '';
  for (;;) {
    const { value, done } = await reader.read();
    buffered += done ? decoder.decode() : decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, cut);
      buffered = buffered.slice(cut + 1);
      if (line.trim() !== '') yield JSON.parse(line);
    }
    if (done) {
      if (buffered.trim() !== '') yield JSON.parse(buffered);
      return;
    }
  }
}

/**
 * Where the history comes from: the NDJSON stream when the caller gives a way to open it
 * (`stream(path)` resolving to a Response, with the token sent as api() sends it), else the
 * JSON document through api(), paged here.
 * @param {{ api: Function, stream?: (path: string) => Promise<Response> }} deps
 * @param {string} path
 * @returns {AsyncGenerator<Record<string, unknown>>}
 */
async function* historySource(deps, path) {
  if (typeof deps.stream === 'function') {
    const response = await deps.stream(path);
    if (response.body === null) return;
    const reader = response.body.getReader();
    try {
      yield* ndjsonLines(reader);
    } finally {
      // Leaving early (another member opened) cancels the read, so the service stops streaming.
      await reader.cancel().catch(() => {});
    }
    return;
  }
  const answer = await deps.api('GET', path);
  const events = answer && Array.isArray(answer.events) ? answer.events : [];
  yield* events;
}

/** One line of the timeline: what happened, in a few words. @param {Record<string, any>} event */
function summary(event) {
  const data = event.data && typeof event.data === 'object' ? event.data : null;
  if (data === null) return event.decodeError ? `undecodable: ${text(event.decodeError)}` : '';
  const parts = [];
  for (const key of ['licenseId', 'deviceId', 'titleId', 'studioId', 'releasedLicenseIds', 'recorded', 'renewals']) {
    if (Object.prototype.hasOwnProperty.call(data, key)) parts.push(`${key}=${text(data[key])}`);
  }
  return parts.join(' ');
}

/**
 * Mounts the inspector into `container`.
 * @param {HTMLElement} container
 * @param {{ api: (method: string, path: string, body?: unknown) => Promise<any>, stream?: (path: string) => Promise<Response> }} deps
 */
export function mountMember(container, deps) {
  const { api } = deps;
  const idInput = el('input', { type: 'text', 'data-testid': 'member-id', placeholder: 'member id', autocomplete: 'off', spellcheck: 'false', maxlength: 128 });
  const openButton = el('button', { type: 'submit', 'data-testid': 'member-open' }, ['Open']);
  const form = el('form', { class: 'member-form' }, [el('label', {}, ['Member ', idInput]), openButton]);

  const nowSection = el('section', { class: 'member-now', 'data-testid': 'member-now' });
  const timelineSection = el('section', { class: 'member-history' });
  const stateSection = el('section', { class: 'member-at' });
  const explainSection = el('section', { class: 'member-explain' });
  container.replaceChildren(el('h2', {}, ['Member']), form, nowSection, timelineSection, stateSection, explainSection);

  /** Each open() gets a number; an answer for an older one is dropped. */
  let generation = 0;
  /**
   * The member open now: its events loaded so far (position order) and the distinct instants they
   * happened at (sorted), which are the slider's steps: the state at an instant folds every event
   * at or before it, so two events at the same instant are one step.
   * @type {{ memberId: string, events: Record<string, any>[], instants: string[], source: AsyncGenerator<Record<string, unknown>> | null, done: boolean } | null}
   */
  let current = null;
  /** The instant the slider rests on (ISO), or null: now. */
  let selectedAt = null;
  let sliderTimer = 0;
  let stateRequest = 0;

  /** A debug route of the member: the id is always encoded (it may hold any character). */
  const debugPath = (memberId, route) => `/v1/debug/members/${encodeURIComponent(memberId)}/${route}`;

  // --- now: the owner's in-memory view -------------------------------------------------------
  async function loadNow(memberId, mine) {
    const heading = () => el('h3', {}, [`Now: member ${memberId}`]);
    nowSection.replaceChildren(heading(), el('p', { class: 'loading' }, ['loading…']));
    let licenses;
    let origin = 'memory';
    try {
      // The edge's read goes through the member's actor (forwarded to its owner in a cluster):
      // what the owner holds in memory, not a replay.
      const answer = await api('GET', `/v1/members/${encodeURIComponent(memberId)}/licenses`);
      licenses = Array.isArray(answer?.licenses) ? answer.licenses : [];
    } catch (error) {
      // With a separate admin port the edge routes are not served here: say so, and show the
      // state rebuilt from the events instead, marked as such.
      if (error && error.code === 'ROUTE_NOT_FOUND') {
        origin = 'events';
        try {
          const state = await api('GET', debugPath(memberId, 'state'));
          licenses = (Array.isArray(state?.licenses) ? state.licenses : []).filter((l) => l && l.releasedAt === null);
        } catch (inner) {
          if (mine === generation) showError(nowSection, describe(inner), heading());
          return;
        }
      } else {
        if (mine === generation) showError(nowSection, describe(error), heading());
        return;
      }
    }
    if (mine !== generation) return;
    /** @type {Map<string, number>} devices holding downloads, by id */
    const devices = new Map();
    for (const l of licenses) devices.set(text(l.deviceId), (devices.get(text(l.deviceId)) ?? 0) + 1);
    const marker =
      origin === 'memory'
        ? el('p', { class: 'origin', 'data-testid': 'member-origin', 'data-origin': 'memory' }, [
            'In memory on the owner: the member actor’s current state (GET /v1/members/…/licenses).',
          ])
        : el('p', { class: 'origin', 'data-testid': 'member-origin', 'data-origin': 'events' }, [
            'Rebuilt from the stored events (this port serves no edge routes, so the owner’s memory cannot be read here).',
          ]);
    nowSection.replaceChildren(
      heading(),
      marker,
      el('h4', {}, [`Active licenses (${licenses.length})`]),
      table(
        'member-licenses',
        [
          ['license', (l) => l.licenseId],
          ['device', (l) => l.deviceId],
          ['title', (l) => l.titleId],
          ['studio', (l) => l.studioId],
          ['acquired', (l) => l.acquiredAt],
          ['expires', (l) => l.expiresAt],
          ['renewals', (l) => l.renewals],
          ['expired', (l) => (l.expired ? 'yes' : 'no')],
        ],
        licenses,
        (l) => ({ 'data-license-id': text(l.licenseId) }),
      ),
      el('h4', {}, [`Devices holding downloads (${devices.size})`]),
      table(
        'member-devices',
        [
          ['device', ([id]) => id],
          ['active licenses', ([, count]) => count],
        ],
        [...devices.entries()],
        ([id]) => ({ 'data-device-id': id }),
      ),
    );
  }

  // --- the timeline -------------------------------------------------------------------------
  const countLine = el('p', { 'data-testid': 'member-event-count' });
  const timelineList = el('ol', { 'data-testid': 'member-timeline', class: 'timeline' });
  const chartBox = el('div', { class: 'chart', 'data-testid': 'member-chart' });
  /** @type {any} the uPlot chart of the loaded history, or null */
  let chart = null;
  const loadMore = el('button', { type: 'button', 'data-testid': 'member-load-more', 'data-page-size': PAGE_SIZE, hidden: true }, ['Load more']);
  const slider = el('input', { type: 'range', min: 0, max: 0, value: 0, step: 1, 'data-testid': 'member-slider', disabled: true, 'aria-label': 'instant' });
  const sliderLabel = el('span', { 'data-testid': 'member-slider-at' });
  const stateOut = el('div', { 'data-testid': 'member-state-at' });

  function renderCount() {
    if (current === null) return;
    const n = current.events.length;
    countLine.textContent = current.done ? `${n} event${n === 1 ? '' : 's'}` : `${n} events shown, more to load`;
    countLine.dataset['count'] = String(n);
    countLine.dataset['complete'] = String(current.done);
    loadMore.hidden = current.done;
  }

  /** @param {Record<string, any>} event */
  function timelineItem(event, index) {
    const at = text(event.at);
    const aggregate = event.aggregate && typeof event.aggregate === 'object' ? `${text(event.aggregate.name)} ${text(event.aggregate.id)}` : '';
    const item = el('li', { 'data-position': text(event.position), 'data-index': index, 'data-at': at }, [
      el('span', { class: 'at' }, [at]),
      ' ',
      el('strong', { class: 'type' }, [text(event.type)]),
      ' ',
      el('span', { class: 'aggregate' }, [aggregate]),
      ' ',
      el('span', { class: 'summary' }, [summary(event)]),
      event.rulesVersion ? el('span', { class: 'rules' }, [` rules ${text(event.rulesVersion)}`]) : null,
    ]);
    if (selectedAt !== null) {
      item.classList.toggle('selected', at === selectedAt);
      item.classList.toggle('applied', at <= selectedAt);
    }
    item.addEventListener('click', () => {
      const step = current === null ? -1 : current.instants.indexOf(at);
      if (step < 0) return;
      slider.value = String(step);
      onSlider(true);
    });
    return item;
  }

  async function loadPage(mine) {
    if (current === null || current.done || current.source === null) return;
    loadMore.disabled = true;
    const page = [];
    try {
      while (page.length < PAGE_SIZE) {
        const next = await current.source.next();
        if (mine !== generation) return;
        if (next.done) {
          current.done = true;
          break;
        }
        const event = next.value;
        // A store failure after the first byte ends the stream with an error line.
        if (event && typeof event === 'object' && 'error' in event && !('position' in event)) {
          current.done = true;
          timelineSection.append(el('p', { class: 'error', role: 'alert' }, [`history cut short: ${text(event.error?.message ?? event.error)}`]));
          break;
        }
        page.push(event);
      }
    } catch (error) {
      if (mine !== generation) return;
      current.done = true;
      timelineSection.append(el('p', { class: 'error', role: 'alert' }, [describe(error)]));
    } finally {
      loadMore.disabled = false;
    }
    const start = current.events.length;
    current.events.push(...page);
    timelineList.append(...page.map((event, i) => timelineItem(event, start + i)));
    addInstants(page);
    renderCount();
  }

  /** Adds the pages' instants to the slider's steps, keeping the instant it rests on. */
  function addInstants(page) {
    if (current === null) return;
    const known = new Set(current.instants);
    for (const event of page) {
      // Only ISO times: a time outside the range is shown as milliseconds and cannot be asked for.
      if (typeof event.at === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(event.at) && !known.has(event.at)) {
        known.add(event.at);
        current.instants.push(event.at);
      }
    }
    // ISO times of one format sort as strings; events are usually in time order already.
    current.instants.sort();
    slider.max = String(Math.max(0, current.instants.length - 1));
    slider.disabled = current.instants.length === 0;
    if (selectedAt !== null) slider.value = String(Math.max(0, current.instants.indexOf(selectedAt)));
    drawChart();
  }

  /**
   * The slider's track drawn as a chart (uPlot): one point per instant, the number of events at or
   * before it (of those loaded), and a line where the slider rests.
   */
  function drawChart() {
    if (current === null || current.instants.length === 0) return;
    const atCount = new Map();
    for (const event of current.events) if (typeof event.at === 'string') atCount.set(event.at, (atCount.get(event.at) ?? 0) + 1);
    let total = 0;
    const xs = [];
    const ys = [];
    for (const at of current.instants) {
      total += atCount.get(at) ?? 0;
      xs.push(Date.parse(at) / 1000);
      ys.push(total);
    }
    chartBox.dataset['points'] = String(xs.length);
    if (chart !== null) {
      chart.setData([xs, ys]);
      return;
    }
    const width = Math.max(320, Math.min(container.clientWidth || 900, 1100));
    chart = new uPlot(
      {
        width,
        height: 140,
        scales: { x: { time: true } },
        legend: { show: false },
        series: [{}, { label: 'events so far', stroke: '#1f6feb', width: 2, paths: uPlot.paths.stepped({ align: 1 }), points: { show: true, size: 6 } }],
        axes: [{}, { label: 'events', size: 50 }],
        hooks: { draw: [markSelected] },
      },
      [xs, ys],
      chartBox,
    );
  }

  /** The slider's instant, as a line across the chart. */
  function markSelected(u) {
    if (selectedAt === null) return;
    const x = u.valToPos(Date.parse(selectedAt) / 1000, 'x', true);
    const { ctx, bbox } = u;
    ctx.save();
    ctx.strokeStyle = '#cf222e';
    ctx.lineWidth = 2;
    ctx.beginPath();
    ctx.moveTo(x, bbox.top);
    ctx.lineTo(x, bbox.top + bbox.height);
    ctx.stroke();
    ctx.restore();
  }

  // A click on the chart moves the slider to the instant under the cursor.
  chartBox.addEventListener('click', () => {
    const index = chart?.cursor?.idx;
    if (typeof index !== 'number' || index < 0) return;
    slider.value = String(index);
    onSlider(true);
  });

  loadMore.addEventListener('click', () => {
    void loadPage(generation);
  });

  // --- state at an instant --------------------------------------------------------------------
  function onSlider(immediate) {
    if (current === null || current.events.length === 0) return;
    const step = Number(slider.value);
    const at = current.instants[step];
    if (at === undefined) return;
    selectedAt = at;
    sliderLabel.textContent = `${at} (instant ${step + 1} of ${current.instants.length}${current.done ? '' : ' loaded so far'})`;
    explainAtLine.textContent = `at ${at}`;
    // The events the state includes: every one at or before the instant.
    for (const li of timelineList.children) {
      const liAt = li.getAttribute('data-at') ?? '';
      li.classList.toggle('selected', liAt === at);
      li.classList.toggle('applied', liAt <= at);
    }
    timelineList.classList.add('at-instant');
    chart?.redraw(false, false);
    window.clearTimeout(sliderTimer);
    const mine = generation;
    sliderTimer = window.setTimeout(() => void loadStateAt(current?.memberId ?? '', selectedAt ?? '', mine), immediate ? 0 : SLIDER_REST_MS);
  }
  slider.addEventListener('input', () => onSlider(false));

  async function loadStateAt(memberId, at, mine) {
    const ask = ++stateRequest;
    stateOut.dataset['state'] = 'loading';
    let state;
    try {
      state = await api('GET', `${debugPath(memberId, 'state')}?at=${encodeURIComponent(at)}`);
    } catch (error) {
      if (ask === stateRequest && mine === generation) {
        stateOut.dataset['state'] = 'error';
        showError(stateOut, describe(error));
      }
      return;
    }
    if (ask !== stateRequest || mine !== generation) return;
    const licenses = Array.isArray(state?.licenses) ? state.licenses : [];
    const active = licenses.filter((l) => l && l.releasedAt === null);
    const devices = Array.isArray(state?.devices) ? state.devices : [];
    stateOut.replaceChildren(
      el('p', {}, [`As of ${text(state?.at)}: ${text(state?.eventsApplied)} events applied, rebuilt from the stored events (never from memory or snapshots).`]),
      el('h4', {}, [`Active licenses then (${active.length})`]),
      table(
        'member-state-licenses',
        [
          ['license', (l) => l.licenseId],
          ['device', (l) => l.deviceId],
          ['title', (l) => l.titleId],
          ['acquired', (l) => l.acquiredAt],
          ['expires', (l) => l.expiresAt],
          ['renewals', (l) => l.renewals],
        ],
        active,
        (l) => ({ 'data-license-id': text(l.licenseId) }),
      ),
      el('h4', {}, [`Devices then (${devices.length})`]),
      table(
        'member-state-devices',
        [
          ['device', (d) => d.deviceId],
          ['status', (d) => d.status],
          ['registered', (d) => d.registeredAt],
          ['deactivations', (d) => (Array.isArray(d.deactivations) ? d.deactivations.length : 0)],
        ],
        devices,
        (d) => ({ 'data-device-id': text(d.deviceId) }),
      ),
    );
    stateOut.dataset['at'] = text(state?.at);
    stateOut.dataset['eventsApplied'] = text(state?.eventsApplied);
    stateOut.dataset['activeLicenses'] = String(active.length);
    stateOut.dataset['state'] = 'ready';
  }

  // --- explain ----------------------------------------------------------------------------------
  const deviceInput = el('input', { type: 'text', 'data-testid': 'explain-device', placeholder: 'device id', autocomplete: 'off', maxlength: 128 });
  const titleInput = el('input', { type: 'text', 'data-testid': 'explain-title', placeholder: 'title id', autocomplete: 'off', maxlength: 128 });
  const explainButton = el('button', { type: 'submit', 'data-testid': 'explain-run' }, ['Explain']);
  const explainAtLine = el('span', { class: 'explain-at' }, ['at now']);
  const explainOut = el('div', { 'data-testid': 'explain-result' });
  const explainForm = el('form', {}, [el('label', {}, ['Device ', deviceInput]), ' ', el('label', {}, ['Title ', titleInput]), ' ', explainAtLine, ' ', explainButton]);

  /** One thing that counts toward a limit, in a line. @param {Record<string, any>} item */
  function countedLine(item) {
    if (!item || typeof item !== 'object') return text(item);
    const parts = [];
    for (const [key, value] of Object.entries(item)) {
      if (key === 'event' || key === 'licenses') continue;
      parts.push(`${key}=${text(value)}`);
    }
    if (Array.isArray(item.licenses)) parts.push(`licenses=[${item.licenses.map((l) => text(l?.licenseId)).join(', ')}]`);
    if (item.event && typeof item.event === 'object') parts.push(`(event ${text(item.event.position)} ${text(item.event.type)} at ${text(item.event.at)})`);
    return parts.join(' ');
  }

  async function runExplain(mine) {
    if (current === null) return;
    const params = new URLSearchParams();
    params.set('deviceId', deviceInput.value);
    params.set('titleId', titleInput.value);
    if (selectedAt !== null) params.set('at', selectedAt);
    explainOut.dataset['state'] = 'loading';
    let answer;
    try {
      answer = await api('GET', `${debugPath(current.memberId, 'explain')}?${params.toString()}`);
    } catch (error) {
      if (mine !== generation) return;
      explainOut.dataset['state'] = 'error';
      showError(explainOut, describe(error));
      return;
    }
    if (mine !== generation) return;
    const limits = answer?.limits && typeof answer.limits === 'object' ? Object.entries(answer.limits) : [];
    const counting = new Map(answer?.counting && typeof answer.counting === 'object' ? Object.entries(answer.counting) : []);
    const verdict = answer?.allowed ? 'allowed' : `refused: ${text(answer?.reason)}`;
    const rows = limits.map(([name, limit]) => {
      const counted = counting.get(name);
      const items = Array.isArray(counted) ? counted : [];
      return el('tr', { 'data-limit': name }, [
        el('th', {}, [name]),
        el('td', { class: 'limit' }, [text(limit)]),
        el('td', { class: 'counted', 'data-count': Array.isArray(counted) ? items.length : '' }, [Array.isArray(counted) ? String(items.length) : '']),
        el('td', {}, [
          el(
            'ul',
            {},
            items.map((item) => el('li', {}, [countedLine(item)])),
          ),
        ]),
      ]);
    });
    explainOut.replaceChildren(
      el('p', { class: answer?.allowed ? 'allowed' : 'refused' }, [
        el('strong', { 'data-testid': 'explain-verdict' }, [verdict]),
        answer?.message ? ` — ${text(answer.message)}` : '',
      ]),
      el('p', {}, [`At ${text(answer?.at)}, rules ${text(answer?.rulesVersion)} (${text(answer?.rulesVersionSource)})`]),
      el('table', { 'data-testid': 'explain-limits' }, [
        el('thead', {}, [el('tr', {}, [el('th', {}, ['limit']), el('th', {}, ['value']), el('th', {}, ['counted']), el('th', {}, ['what counts'])])]),
        el('tbody', {}, rows),
      ]),
    );
    explainOut.dataset['allowed'] = String(Boolean(answer?.allowed));
    explainOut.dataset['reason'] = text(answer?.reason);
    explainOut.dataset['at'] = text(answer?.at);
    explainOut.dataset['state'] = 'ready';
  }

  explainForm.addEventListener('submit', (event) => {
    event.preventDefault();
    void runExplain(generation);
  });

  // --- opening a member -------------------------------------------------------------------------
  async function open(memberId) {
    const mine = ++generation;
    if (current?.source) void current.source.return(undefined);
    selectedAt = null;
    window.clearTimeout(sliderTimer);
    current = { memberId, events: [], instants: [], source: historySource(deps, debugPath(memberId, 'events')), done: false };
    timelineList.replaceChildren();
    timelineList.classList.remove('at-instant');
    chart?.destroy();
    chart = null;
    chartBox.replaceChildren();
    delete chartBox.dataset['points'];
    slider.max = '0';
    slider.value = '0';
    slider.disabled = true;
    sliderLabel.textContent = 'now';
    explainAtLine.textContent = 'at now';
    stateOut.replaceChildren(el('p', {}, ['Move the slider (or click an event) to see the member as of that instant.']));
    delete stateOut.dataset['at'];
    stateOut.dataset['state'] = 'idle';
    explainOut.replaceChildren();
    explainOut.dataset['state'] = 'idle';
    countLine.textContent = 'loading…';
    timelineSection.replaceChildren(el('h3', {}, ['History (stored events, oldest first)']), countLine, timelineList, loadMore);
    stateSection.replaceChildren(el('h3', {}, ['State at an instant']), chartBox, el('p', {}, [slider, ' ', sliderLabel]), stateOut);
    explainSection.replaceChildren(el('h3', {}, ['Explain an acquire']), explainForm, explainOut);
    nowSection.dataset['memberId'] = memberId;
    await Promise.all([loadNow(memberId, mine), loadPage(mine)]);
  }

  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const memberId = idInput.value;
    if (memberId === '') return;
    void open(memberId);
  });

  return {
    open,
    /** Stops any history read in progress (the view is being left). */
    unmount() {
      generation += 1;
      window.clearTimeout(sliderTimer);
      chart?.destroy();
      chart = null;
      if (current?.source) void current.source.return(undefined);
      current = null;
    },
  };
}
