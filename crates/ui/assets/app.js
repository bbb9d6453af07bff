// Temper's Web UI: one script, no framework, no build step. It renders the page that
// `location.pathname` names (Temporal's UI paths) from Temporal's HTTP API on the same port
// (`/api/v1/...`, always with `noPayloadShorthand` so every payload arrives in one form and
// is decoded here), and sends the UI's actions through the same API.
'use strict';

const main = document.getElementById('main');
const switcher = document.getElementById('namespace-switcher');
const IDENTITY = 'temper-ui';
// Each navigation bumps this; slow loads for an older page then draw nothing.
let generation = 0;
let refreshTimer = null;

// ---- DOM -------------------------------------------------------------------------------

function h(tag, props, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else if (key === 'class') el.className = value;
    else if (key === 'value') el.value = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/** Draws `nodes` as the page, unless the user has navigated away meanwhile. */
function mount(gen, ...nodes) {
  if (gen !== generation) return false;
  main.replaceChildren(...nodes);
  return true;
}

function errorBox(error) {
  return h('div', {class: 'error', role: 'alert'}, error instanceof Error ? error.message : String(error));
}

function table(headers, rows, empty = 'Nothing to show.') {
  if (!rows.length) return h('p', {class: 'muted'}, empty);
  return h('div', {class: 'table-wrap'}, h('table', {},
    h('thead', {}, h('tr', {}, headers.map((title) => h('th', {}, title)))),
    h('tbody', {}, rows)));
}

function field(label, ...value) {
  return h('div', {}, h('span', {}, label), h('span', {}, ...value));
}

// ---- the HTTP API ----------------------------------------------------------------------

class ApiError extends Error {
  constructor(status, body) {
    super(body.message || `HTTP ${status}`);
    this.status = status;
    this.code = body.code;
  }
}

// Where the bearer token the user gave is kept (this tab only).
const TOKEN_KEY = 'temper-token';

/** Asks for a bearer token (a JWT); whether one was given. */
function askForToken() {
  const token = window.prompt('This server needs an access token (a JWT). Paste it to continue:');
  if (!token) return false;
  sessionStorage.setItem(TOKEN_KEY, token.trim().replace(/^Bearer\s+/i, ''));
  return true;
}

async function api(path, {method = 'GET', body, query} = {}) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') params.set(key, value);
  }
  params.set('noPayloadShorthand', 'true');
  const send = () => {
    const headers = body ? {'Content-Type': 'application/json'} : {};
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = `Bearer ${token}`;
    return fetch(`/api/v1${path}?${params}`, {
      method,
      headers,
      body: body ? JSON.stringify(body) : undefined,
    });
  };
  const used = sessionStorage.getItem(TOKEN_KEY);
  let response = await send();
  // A server that authorizes by token (--auth-jwks-path) answers 401 without one: ask for it
  // (unless another request already got a new one), keep it for this tab, and try again.
  if (response.status === 401 && (sessionStorage.getItem(TOKEN_KEY) !== used || askForToken())) {
    response = await send();
  }
  const text = await response.text();
  let json;
  try {
    json = text ? JSON.parse(text) : {};
  } catch {
    json = {message: text};
  }
  if (!response.ok) throw new ApiError(response.status, json);
  return json;
}

const seg = encodeURIComponent;
const nsPath = (ns) => `/namespaces/${seg(ns)}`;
const workflowApi = (ns, id) => `${nsPath(ns)}/workflows/${seg(id)}`;
const workflowUrl = (ns, id, run, tab = 'history') =>
  `${nsPath(ns)}/workflows/${seg(id)}/${seg(run)}/${tab}`;
const requestId = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random()}`);

// ---- payloads --------------------------------------------------------------------------

const utf8 = new TextEncoder();

function base64Of(text) {
  let binary = '';
  utf8.encode(text).forEach((byte) => { binary += String.fromCharCode(byte); });
  return btoa(binary);
}

function bytesOf(base64) {
  const binary = atob(base64 || '');
  return Uint8Array.from(binary, (c) => c.charCodeAt(0));
}

function textOf(base64, fatal = false) {
  return new TextDecoder('utf-8', {fatal}).decode(bytesOf(base64));
}

/** A JSON value as a `json/plain` payload in full form. */
function jsonPayload(value) {
  return {metadata: {encoding: base64Of('json/plain')}, data: base64Of(JSON.stringify(value))};
}

/** `{encoding, value}` for the encodings the UI reads, `{encoding, base64}` for the rest. */
function decodePayload(payload) {
  const metadata = (payload && payload.metadata) || {};
  let encoding = '';
  try {
    encoding = metadata.encoding ? textOf(metadata.encoding) : '';
    if (encoding === 'json/plain' || encoding === 'json/protobuf') {
      return {encoding, value: JSON.parse(textOf(payload.data))};
    }
    if (encoding === 'binary/null') return {encoding, value: null};
    if (encoding === 'binary/plain') return {encoding, value: textOf(payload.data, true)};
  } catch {
    // Not what its encoding says: shown as base64 below.
  }
  return {encoding: encoding || '(none)', base64: (payload && payload.data) || ''};
}

function isPayload(value) {
  return value && typeof value === 'object' && !Array.isArray(value) && value.metadata &&
    typeof value.metadata === 'object' && Object.keys(value).every((k) => k === 'metadata' || k === 'data');
}

/** A copy of `value` with every payload replaced by what it decodes to (for JSON views). */
function decodeDeep(value) {
  if (Array.isArray(value)) return value.map(decodeDeep);
  if (!value || typeof value !== 'object') return value;
  if (isPayload(value)) {
    const decoded = decodePayload(value);
    return 'value' in decoded ? decoded.value : {encoding: decoded.encoding, base64: decoded.base64};
  }
  if (Array.isArray(value.payloads) && Object.keys(value).length === 1) return value.payloads.map(decodeDeep);
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, decodeDeep(v)]));
}

function payloadView(payload) {
  const decoded = decodePayload(payload);
  if ('value' in decoded) {
    // JSON is shown as JSON (a string keeps its quotes); binary/plain as its text.
    const text = decoded.encoding === 'binary/plain' ? decoded.value : JSON.stringify(decoded.value, null, 2);
    return h('pre', {class: 'payload', 'data-encoding': decoded.encoding}, text);
  }
  return h('div', {class: 'payload'}, h('span', {class: 'muted'}, `${decoded.encoding} (base64)`),
    h('pre', {}, decoded.base64));
}

function payloadsView(payloads) {
  const list = (payloads && payloads.payloads) || [];
  if (!list.length) return h('p', {class: 'muted'}, 'none');
  return h('div', {}, list.map(payloadView));
}

function failureView(failure) {
  if (!failure) return null;
  const chain = [];
  for (let f = failure; f; f = f.cause) chain.push(f);
  return h('div', {class: 'failure'}, chain.map((f, i) => h('div', {},
    h('div', {class: 'failure-message'}, h('strong', {}, i ? 'Caused by: ' : 'Failure: '), f.message || '(no message)'),
    f.applicationFailureInfo && f.applicationFailureInfo.type ? h('div', {class: 'muted'}, `type ${f.applicationFailureInfo.type}`) : null,
    f.stackTrace ? h('pre', {class: 'stack-trace'}, f.stackTrace) : null)));
}

// ---- formatting ------------------------------------------------------------------------

const STATUS = {
  WORKFLOW_EXECUTION_STATUS_RUNNING: 'Running',
  WORKFLOW_EXECUTION_STATUS_COMPLETED: 'Completed',
  WORKFLOW_EXECUTION_STATUS_FAILED: 'Failed',
  WORKFLOW_EXECUTION_STATUS_CANCELED: 'Canceled',
  WORKFLOW_EXECUTION_STATUS_TERMINATED: 'Terminated',
  WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW: 'ContinuedAsNew',
  WORKFLOW_EXECUTION_STATUS_TIMED_OUT: 'TimedOut',
};
const statusName = (status) => STATUS[status] || 'Running';
const badge = (name) => h('span', {class: `badge ${name}`}, name);

function pascal(upperSnake, prefix) {
  return upperSnake.replace(prefix, '').toLowerCase().replace(/(^|_)([a-z])/g, (_, __, c) => c.toUpperCase());
}
const eventName = (event) => pascal(event.eventType || '', 'EVENT_TYPE_');

function formatTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  const pad = (n, w = 2) => String(n).padStart(w, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`;
}

function formatDuration(ms) {
  if (ms === undefined || ms === null || Number.isNaN(ms)) return '';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(s < 10 ? 2 : 1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m ${Math.round(s % 60)} s`;
  const hours = Math.floor(m / 60);
  if (hours < 48) return m % 60 ? `${hours} h ${m % 60} m` : `${hours} h`;
  return `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

/** A namespace's retention (`"86400s"`) in days, as Temporal's UI shows it. */
function retentionText(duration) {
  const seconds = secondsOf(duration);
  const days = seconds / 86400;
  if (Number.isInteger(days)) return `${days} ${days === 1 ? 'day' : 'days'}`;
  return formatDuration(seconds * 1000);
}

const millis = (iso) => (iso ? new Date(iso).getTime() : NaN);
const secondsOf = (duration) => (duration ? parseFloat(duration) : 0);

function attributesOf(event) {
  const key = Object.keys(event).find((k) => k.endsWith('EventAttributes'));
  return key ? event[key] : {};
}

// ---- navigation ------------------------------------------------------------------------

function navigate(url, replace = false) {
  if (replace) history.replaceState(null, '', url);
  else history.pushState(null, '', url);
  render();
}

document.addEventListener('click', (event) => {
  const link = event.target.closest('a');
  if (!link || link.origin !== location.origin || link.target || link.hasAttribute('download')) return;
  if (event.metaKey || event.ctrlKey || event.shiftKey || event.button !== 0) return;
  if (link.pathname.startsWith('/api/') || link.pathname.startsWith('/assets/')) return;
  event.preventDefault();
  navigate(link.pathname + link.search);
});
window.addEventListener('popstate', render);

let currentNamespace = null;
let knownNamespaces = [];

async function setNamespace(ns) {
  currentNamespace = ns;
  const nav = document.getElementById('nav');
  const here = location.pathname;
  nav.replaceChildren(...[
    ['Workflows', `${nsPath(ns)}/workflows`],
    ['Schedules', `${nsPath(ns)}/schedules`],
    ['Task Queues', `${nsPath(ns)}/task-queues`],
    ['Search Attributes', `${nsPath(ns)}/search-attributes`],
    ['Nexus', '/nexus'],
    ['Namespaces', '/namespaces'],
  ].map(([title, url]) => {
    const active = url === '/namespaces' ? here === url || here === nsPath(ns) : here.startsWith(url);
    return h('a', {href: url, class: active ? 'active' : null}, title);
  }));
  if (!knownNamespaces.length) {
    try {
      const answer = await api('/namespaces', {query: {pageSize: 1000}});
      knownNamespaces = (answer.namespaces || []).map((n) => n.namespaceInfo.name).sort();
    } catch {
      knownNamespaces = [ns];
    }
  }
  const names = knownNamespaces.includes(ns) ? knownNamespaces : [...knownNamespaces, ns];
  switcher.replaceChildren(...names.map((name) => h('option', {value: name, selected: name === ns}, name)));
}

switcher.addEventListener('change', () => navigate(`${nsPath(switcher.value)}/workflows`));

function render() {
  generation += 1;
  clearInterval(refreshTimer);
  refreshTimer = null;
  const gen = generation;
  const parts = location.pathname.split('/').filter(Boolean).map((p) => decodeURIComponent(p));
  if (parts[0] === 'nexus') {
    setNamespace(currentNamespace || 'default');
    return parts[1] ? nexusEndpointPage(gen, parts[1]) : nexusEndpointsPage(gen);
  }
  if (parts[0] !== 'namespaces') return navigate('/namespaces/default/workflows', true);
  if (parts.length === 1) {
    setNamespace(currentNamespace || 'default');
    return namespacesPage(gen);
  }
  const ns = parts[1];
  setNamespace(ns);
  const [section, id, run, tab] = parts.slice(2);
  document.title = `${section || ns} · Temper`;
  switch (section) {
    case undefined: return namespacePage(gen, ns);
    case 'workflows':
      if (!id) return workflowsPage(gen, ns);
      if (!run) return latestRun(gen, ns, id);
      return workflowPage(gen, ns, id, run, tab || 'history');
    case 'schedules': return id ? schedulePage(gen, ns, id) : schedulesPage(gen, ns);
    case 'task-queues': return id ? taskQueuePage(gen, ns, id) : taskQueuesPage(gen, ns);
    case 'search-attributes': return searchAttributesPage(gen, ns);
    default: return mount(gen, h('h1', {}, 'Not found'), h('p', {}, h('a', {href: `${nsPath(ns)}/workflows`}, 'Workflows')));
  }
}

// ---- workflows -------------------------------------------------------------------------

const PAGE_SIZE = 25;
const QUICK_STATUSES = ['Running', 'Completed', 'Failed', 'Canceled', 'Terminated', 'ContinuedAsNew', 'TimedOut'];

async function workflowsPage(gen, ns) {
  const params = new URLSearchParams(location.search);
  const query = params.get('query') || '';
  const tokens = [''];
  const input = h('input', {type: 'search', name: 'query', value: query, 'aria-label': 'Filter',
    placeholder: 'WorkflowType = "OrderWorkflow" AND ExecutionStatus = "Running"'});
  const apply = (text) => navigate(`${nsPath(ns)}/workflows${text ? `?query=${seg(text)}` : ''}`);
  const form = h('form', {class: 'toolbar', id: 'filter', onsubmit: (e) => { e.preventDefault(); apply(input.value.trim()); }},
    input, h('button', {class: 'primary', type: 'submit'}, 'Filter'),
    h('button', {type: 'button', onclick: () => apply('')}, 'Clear'));
  const chips = h('div', {class: 'toolbar', id: 'status-filters'});
  const results = h('div', {id: 'workflows'}, h('p', {class: 'muted'}, 'Loading…'));
  mount(gen, h('h1', {}, 'Workflows'), form, chips, results);

  const statusQuery = (name) => `ExecutionStatus = "${name}"`;
  async function drawCounts() {
    let counts = {};
    let total = 0;
    try {
      const answer = await api(`${nsPath(ns)}/workflow-count`, {query: {query: 'GROUP BY ExecutionStatus'}});
      total = Number(answer.count || 0);
      for (const group of answer.groups || []) {
        const decoded = decodePayload((group.groupValues || [])[0]);
        counts[decoded.value] = Number(group.count || 0);
      }
    } catch {
      counts = {};
    }
    chips.replaceChildren(
      h('button', {type: 'button', class: `chip${query ? '' : ' active'}`, onclick: () => apply('')}, `All ${total}`),
      ...QUICK_STATUSES.map((name) => h('button', {
        type: 'button', class: `chip${query === statusQuery(name) ? ' active' : ''}`, 'data-status': name,
        onclick: () => apply(statusQuery(name)),
      }, `${name} ${counts[name] || 0}`)));
  }

  async function drawPage(index) {
    let answer;
    try {
      answer = await api(`${nsPath(ns)}/workflows`, {query: {query, pageSize: PAGE_SIZE, nextPageToken: tokens[index]}});
    } catch (error) {
      results.replaceChildren(errorBox(error));
      return false;
    }
    if (gen !== generation) return false;
    const executions = answer.executions || [];
    tokens[index + 1] = answer.nextPageToken || '';
    const rows = executions.map((w) => {
      const name = statusName(w.status);
      const type = (w.type && w.type.name) || '';
      return h('tr', {class: 'workflow-row'},
        h('td', {}, badge(name)),
        h('td', {class: 'mono'}, h('a', {href: workflowUrl(ns, w.execution.workflowId, w.execution.runId)}, w.execution.workflowId)),
        h('td', {class: 'mono hide-narrow'}, w.execution.runId),
        h('td', {}, h('a', {href: `${nsPath(ns)}/workflows?query=${seg(`WorkflowType = "${type}"`)}`, title: 'Show only this type'}, type)),
        h('td', {class: 'hide-narrow'}, formatTime(w.startTime)),
        h('td', {class: 'hide-narrow'}, formatTime(w.closeTime)),
        h('td', {class: 'hide-narrow'}, h('a', {href: `${nsPath(ns)}/task-queues/${seg(w.taskQueue || '')}`}, w.taskQueue || '')));
    });
    const pager = h('div', {class: 'pager'},
      h('button', {type: 'button', disabled: index === 0, onclick: () => drawPage(index - 1)}, 'Previous'),
      h('span', {class: 'muted'}, `Page ${index + 1}`),
      h('button', {type: 'button', id: 'next-page', disabled: !tokens[index + 1], onclick: () => drawPage(index + 1)}, 'Next'));
    results.replaceChildren(
      table(['Status', 'Workflow ID', 'Run ID', 'Type', 'Start', 'End', 'Task Queue'], rows, 'No workflows match.'),
      pager);
    // Open runs change: keep the first page fresh while it shows any.
    clearInterval(refreshTimer);
    if (index === 0 && executions.some((w) => statusName(w.status) === 'Running')) {
      refreshTimer = setInterval(() => {
        if (gen === generation) { drawPage(0); drawCounts(); }
      }, 3000);
    }
    return true;
  }
  await Promise.all([drawCounts(), drawPage(0)]);
}

async function latestRun(gen, ns, id) {
  try {
    const answer = await api(workflowApi(ns, id));
    const run = answer.workflowExecutionInfo.execution.runId;
    if (gen === generation) navigate(workflowUrl(ns, id, run), true);
  } catch (error) {
    mount(gen, h('h1', {}, id), errorBox(error));
  }
}

async function loadHistory(ns, id, run) {
  const events = [];
  let token = '';
  do {
    const page = await api(`${workflowApi(ns, id)}/history`,
      {query: {'execution.runId': run, nextPageToken: token, maximumPageSize: 1000}});
    events.push(...((page.history && page.history.events) || []));
    token = page.nextPageToken || '';
  } while (token);
  return events;
}

/** What, when it changes, makes a workflow's page worth drawing again. */
function pageKey(data) {
  const info = data.described.workflowExecutionInfo;
  const pending = [...(data.described.pendingActivities || []), ...(data.described.pendingNexusOperations || [])]
    .map((p) => `${p.attempt}${p.state}${p.paused}`).join();
  return `${info.status}/${info.historyLength}/${data.events.length}/${pending}`;
}

const WORKFLOW_TABS = [
  ['history', 'History'], ['timeline', 'Timeline'], ['pending-activities', 'Pending Activities'],
  ['stack-trace', 'Call Stack'], ['query', 'Queries'], ['relationships', 'Relationships'],
];

async function workflowPage(gen, ns, id, run, tab) {
  if (tab === 'call-stack') tab = 'stack-trace';
  const expanded = new Set();
  let shown = null;
  let notice = '';
  // An action's outcome stays on the page through the redraw the action causes.
  const notify = (text) => { notice = text; shown = null; refresh(); };
  async function load() {
    const [described, events] = await Promise.all([
      api(workflowApi(ns, id), {query: {'execution.runId': run}}), loadHistory(ns, id, run)]);
    return {described, events};
  }
  async function draw(data) {
    const info = data.described.workflowExecutionInfo;
    const page = [
      h('h1', {}, id),
      workflowHeader(ns, id, run, data, {refresh, notify, notice}),
      workflowSummary(ns, data),
      inputAndResult(data),
      h('nav', {class: 'tabs'}, WORKFLOW_TABS.map(([key, title]) => h('a', {
        href: workflowUrl(ns, id, run, key), class: key === tab ? 'active' : null,
      }, key === 'pending-activities' ? `${title} (${(data.described.pendingActivities || []).length})` : title))),
      h('section', {id: `tab-${tab}`}, workflowTab(ns, id, run, tab, data, expanded, notify)),
    ];
    shown = pageKey(data);
    // The first draw of a run's page is marked, so its time to paint can be read
    // (`performance.getEntriesByName('workflow-painted')`).
    if (mount(gen, ...page) && !performance.getEntriesByName('workflow-painted').length) {
      performance.mark('workflow-painted');
    }
  }
  async function refresh() {
    try {
      const data = await load();
      if (gen !== generation) return;
      const info = data.described.workflowExecutionInfo;
      const key = pageKey(data);
      if (key !== shown && !document.querySelector('dialog[open]')) draw(data);
      if (statusName(info.status) !== 'Running') { clearInterval(refreshTimer); refreshTimer = null; }
    } catch {
      // A failed refresh leaves the page as it is.
    }
  }
  try {
    const data = await load();
    draw(data);
    if (statusName(data.described.workflowExecutionInfo.status) === 'Running') {
      refreshTimer = setInterval(refresh, 2000);
    }
  } catch (error) {
    mount(gen, h('h1', {}, id), errorBox(error));
  }
}

function workflowHeader(ns, id, run, data, {refresh, notify, notice}) {
  const info = data.described.workflowExecutionInfo;
  const running = statusName(info.status) === 'Running';
  const done = notify;
  const target = {workflowId: id, runId: run};
  return h('div', {},
    h('div', {class: 'toolbar'}, badge(statusName(info.status)),
      h('span', {class: 'actions'},
        h('button', {type: 'button', id: 'signal-button', disabled: !running, onclick: () => signalDialog(ns, id, target, done)}, 'Signal'),
        h('button', {type: 'button', id: 'cancel-button', disabled: !running, onclick: () => confirmDialog({
          title: 'Request cancellation', text: `Ask workflow ${id} to cancel?`, confirm: 'Request cancellation', danger: true,
          act: () => api(`${workflowApi(ns, id)}/cancel`, {method: 'POST', body: {workflowExecution: target, identity: IDENTITY, requestId: requestId()}}),
          done: () => done('Cancellation requested.'),
        })}, 'Cancel'),
        h('button', {type: 'button', id: 'terminate-button', class: 'danger', disabled: !running, onclick: () => terminateDialog(ns, id, target, done)}, 'Terminate'),
        h('button', {type: 'button', id: 'reset-button', onclick: () => resetDialog(ns, id, target, data.events)}, 'Reset'),
        h('button', {type: 'button', onclick: refresh}, 'Refresh'))),
    h('div', {id: 'action-notice'}, notice ? h('div', {class: 'notice', role: 'status'}, notice) : null));
}

function workflowSummary(ns, data) {
  const info = data.described.workflowExecutionInfo;
  const start = millis(info.startTime);
  const end = info.closeTime ? millis(info.closeTime) : Date.now();
  const parent = info.parentExecution;
  const fields = [
    field('Status', badge(statusName(info.status))),
    field('Workflow Type', (info.type && info.type.name) || ''),
    field('Workflow ID', h('span', {class: 'mono'}, info.execution.workflowId)),
    field('Run ID', h('span', {class: 'mono'}, info.execution.runId)),
    field('Task Queue', h('a', {href: `${nsPath(ns)}/task-queues/${seg(info.taskQueue || '')}`}, info.taskQueue || '')),
    field('Start', formatTime(info.startTime)),
    field('End', info.closeTime ? formatTime(info.closeTime) : '—'),
    field('Duration', formatDuration(end - start)),
    field('History Events', info.historyLength || String(data.events.length)),
    field('State Transitions', info.stateTransitionCount || '0'),
  ];
  if (parent) {
    fields.push(field('Parent', h('a', {href: workflowUrl(parent.namespace || ns, parent.workflowId, parent.runId), id: 'parent-link'}, parent.workflowId)));
  }
  const memo = (info.memo && info.memo.fields) || {};
  const attributes = (info.searchAttributes && info.searchAttributes.indexedFields) || {};
  return h('div', {},
    h('div', {class: 'panel summary', id: 'summary'}, fields),
    Object.keys(memo).length || Object.keys(attributes).length ? h('div', {class: 'panel io'},
      h('div', {id: 'memo'}, h('h2', {}, 'Memo'), keyedPayloads(memo)),
      h('div', {id: 'search-attributes'}, h('h2', {}, 'Search Attributes'), keyedPayloads(attributes))) : null);
}

function keyedPayloads(map) {
  const names = Object.keys(map).sort();
  if (!names.length) return h('p', {class: 'muted'}, 'none');
  return h('div', {}, names.map((name) => h('div', {}, h('strong', {}, name), payloadView(map[name]))));
}

function inputAndResult(data) {
  const events = data.events;
  const first = events.length ? attributesOf(events[0]) : {};
  const last = events.length ? events[events.length - 1] : null;
  const close = last ? attributesOf(last) : {};
  let outcome;
  switch (last && last.eventType) {
    case 'EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED':
      outcome = [h('h2', {}, 'Result'), h('div', {id: 'result'}, payloadsView(close.result))]; break;
    case 'EVENT_TYPE_WORKFLOW_EXECUTION_FAILED':
      outcome = [h('h2', {}, 'Failure'), h('div', {id: 'failure'}, failureView(close.failure))]; break;
    case 'EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED':
      outcome = [h('h2', {}, 'Terminated'), h('div', {id: 'result'}, close.reason || '(no reason)')]; break;
    case 'EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT':
      outcome = [h('h2', {}, 'Timed out'), h('div', {id: 'result'}, 'The workflow timed out.')]; break;
    case 'EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED':
      outcome = [h('h2', {}, 'Canceled'), h('div', {id: 'result'}, payloadsView(close.details))]; break;
    case 'EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW':
      outcome = [h('h2', {}, 'Continued as new'), h('div', {id: 'result'}, payloadsView(close.input))]; break;
    default:
      outcome = [h('h2', {}, 'Result'), h('p', {class: 'muted', id: 'result'}, 'Still running.')];
  }
  return h('div', {class: 'panel io'}, h('div', {id: 'input'}, h('h2', {}, 'Input'), payloadsView(first.input)), h('div', {}, outcome));
}

function workflowTab(ns, id, run, tab, data, expanded, notify) {
  switch (tab) {
    case 'timeline': return timelineView(data);
    case 'pending-activities': return h('div', {},
      pendingActivitiesView(data.described.pendingActivities || [], (a) => activityActions(ns, id, run, a, notify)),
      pendingNexusView(data.described.pendingNexusOperations || []));
    case 'stack-trace': return stackTraceView(ns, id, run);
    case 'query': return queryView(ns, id, run);
    case 'relationships': return relationshipsView(ns, data);
    default: return historyView(data.events, expanded);
  }
}

/** The one line of an event's attributes worth reading in the list. */
function eventSummary(event) {
  const a = attributesOf(event);
  const parts = [];
  if (a.activityType) parts.push(a.activityType.name);
  if (a.activityId) parts.push(`id ${a.activityId}`);
  if (a.timerId) parts.push(`timer ${a.timerId}`);
  if (a.startToFireTimeout) parts.push(`fires after ${a.startToFireTimeout}`);
  if (a.signalName) parts.push(a.signalName);
  if (a.workflowType && event.eventId !== '1') parts.push(a.workflowType.name);
  if (a.workflowExecution && a.workflowExecution.workflowId) parts.push(a.workflowExecution.workflowId);
  if (a.failure && a.failure.message) parts.push(a.failure.message);
  if (a.reason) parts.push(a.reason);
  if (a.attempt && a.attempt > 1) parts.push(`attempt ${a.attempt}`);
  return parts.join(' · ');
}

function historyView(events, expanded) {
  const json = h('pre', {id: 'history-json', hidden: true});
  const toggle = h('button', {type: 'button', id: 'json-toggle', onclick: () => {
    if (json.hidden && !json.textContent) json.textContent = JSON.stringify(decodeDeep(events), null, 2);
    json.hidden = !json.hidden;
    toggle.textContent = json.hidden ? 'JSON view' : 'Hide JSON';
  }}, 'JSON view');
  const rows = [];
  for (const event of events) {
    const detail = h('tr', {class: 'event-detail', hidden: !expanded.has(event.eventId)});
    const fill = () => {
      if (!detail.firstChild) {
        detail.append(h('td', {colspan: 4}, h('pre', {}, JSON.stringify(decodeDeep(attributesOf(event)), null, 2))));
      }
    };
    if (expanded.has(event.eventId)) fill();
    const row = h('tr', {class: 'event', 'data-event-id': event.eventId, 'data-event-type': eventName(event), onclick: () => {
      fill();
      detail.hidden = !detail.hidden;
      if (detail.hidden) expanded.delete(event.eventId); else expanded.add(event.eventId);
    }},
    h('td', {class: 'mono'}, event.eventId),
    h('td', {class: 'hide-narrow'}, formatTime(event.eventTime)),
    h('td', {}, eventName(event)),
    h('td', {class: 'muted'}, eventSummary(event)));
    rows.push(row, detail);
  }
  return h('div', {}, h('div', {class: 'toolbar'}, h('span', {class: 'muted'}, `${events.length} events · click an event for its details`), toggle),
    table(['ID', 'Time', 'Event', 'Details'], rows, 'No events.'), json);
}

function timelineItems(events) {
  const items = new Map();
  const open = (key, kind, label, time) => items.set(key, {kind, label, start: millis(time), end: null, failed: false});
  const close = (key, time, failed = false) => {
    const item = items.get(key);
    if (item) { item.end = millis(time); item.failed = failed; }
  };
  for (const event of events) {
    const a = attributesOf(event);
    const name = eventName(event);
    if (name === 'ActivityTaskScheduled') open(`a${event.eventId}`, 'activity', `${a.activityType.name} (${a.activityId})`, event.eventTime);
    else if (name.startsWith('ActivityTask') && a.scheduledEventId && name !== 'ActivityTaskStarted' && name !== 'ActivityTaskCancelRequested') {
      close(`a${a.scheduledEventId}`, event.eventTime, name !== 'ActivityTaskCompleted');
    } else if (name === 'TimerStarted') open(`t${event.eventId}`, 'timer', `Timer ${a.timerId} (${a.startToFireTimeout})`, event.eventTime);
    else if (name === 'TimerFired' || name === 'TimerCanceled') close(`t${a.startedEventId}`, event.eventTime);
    else if (name === 'StartChildWorkflowExecutionInitiated') open(`c${event.eventId}`, 'child', `Child ${a.workflowType.name} (${a.workflowId})`, event.eventTime);
    else if (name.startsWith('ChildWorkflowExecution') && name !== 'ChildWorkflowExecutionStarted') {
      close(`c${a.initiatedEventId}`, event.eventTime, name !== 'ChildWorkflowExecutionCompleted');
    } else if (name === 'NexusOperationScheduled') open(`n${event.eventId}`, 'nexus', `Nexus ${a.service}.${a.operation} (${a.endpoint})`, event.eventTime);
    else if (['NexusOperationCompleted', 'NexusOperationFailed', 'NexusOperationCanceled', 'NexusOperationTimedOut'].includes(name)) {
      close(`n${a.scheduledEventId}`, event.eventTime, name !== 'NexusOperationCompleted');
    }
  }
  return [...items.values()];
}

function timelineView(data) {
  const events = data.events;
  const items = timelineItems(events);
  if (!items.length) return h('p', {class: 'muted'}, 'No activities, timers, child workflows or Nexus operations.');
  const info = data.described.workflowExecutionInfo;
  const start = millis(events[0].eventTime);
  const end = Math.max(info.closeTime ? millis(info.closeTime) : Date.now(), ...items.map((i) => i.end || 0), start + 1);
  const span = end - start;
  return h('div', {class: 'panel timeline', id: 'timeline'},
    h('div', {class: 'muted'}, `${formatTime(events[0].eventTime)} → ${formatDuration(span)}`),
    items.map((item) => {
      const from = ((item.start - start) / span) * 100;
      const to = (((item.end || end) - start) / span) * 100;
      const kind = `bar ${item.kind}${item.failed ? ' failed' : ''}${item.end ? '' : ' open'}`;
      const duration = formatDuration((item.end || end) - item.start);
      return h('div', {class: 'row'}, h('div', {class: 'label', title: item.label}, item.label),
        h('div', {class: 'track'}, h('div', {class: kind, title: `${item.label}: ${duration}`,
          style: `left:${from.toFixed(2)}%;width:${Math.max(to - from, 0.5).toFixed(2)}%`})));
    }));
}

/** Pause, unpause and reset buttons for one pending activity (Temporal's activity operations). */
function activityActions(ns, id, run, a, notify) {
  const path = (verb) => `${workflowApi(ns, id)}/activities/${seg(a.activityId)}/${verb}`;
  const act = (verb, body, text) => () => api(path(verb), {method: 'POST', body: {runId: run, identity: IDENTITY, ...body}})
    .then(() => notify(text), alertError);
  return h('div', {class: 'actions'},
    a.paused
      ? h('button', {type: 'button', class: 'unpause-activity', onclick: act('unpause', {}, `Activity ${a.activityId} unpaused.`)}, 'Unpause')
      : h('button', {type: 'button', class: 'pause-activity', onclick: act('pause', {reason: 'Paused from the Temper UI'}, `Activity ${a.activityId} paused.`)}, 'Pause'),
    h('button', {type: 'button', class: 'reset-activity', onclick: act('reset', {keepPaused: Boolean(a.paused)}, `Activity ${a.activityId} reset to attempt 1.`)}, 'Reset'));
}

function pendingNexusView(operations) {
  if (!operations.length) return null;
  return h('div', {id: 'pending-nexus-operations'}, h('h2', {}, 'Pending Nexus operations'),
    operations.map((op) => h('div', {class: 'panel'}, h('div', {class: 'summary'},
      field('Endpoint', op.endpoint), field('Operation', `${op.service}.${op.operation}`),
      field('State', pascal(op.state || '', 'PENDING_NEXUS_OPERATION_STATE_')),
      field('Attempt', op.attempt || 1), field('Scheduled', formatTime(op.scheduledTime)),
      field('Next Attempt', op.nextAttemptScheduleTime ? formatTime(op.nextAttemptScheduleTime) : '—'),
      field('Operation Token', h('span', {class: 'mono'}, op.operationToken || '—'))),
    op.lastAttemptFailure ? h('div', {}, h('h2', {}, 'Last attempt failure'), failureView(op.lastAttemptFailure)) : null)));
}

function pendingActivitiesView(activities, actions = () => null) {
  if (!activities.length) return h('p', {class: 'muted'}, 'No pending activities.');
  return h('div', {id: 'pending-activities'}, activities.map((a) => h('div', {class: 'panel pending-activity', 'data-activity-id': a.activityId},
    actions(a),
    h('div', {class: 'summary'},
      field('Activity ID', a.activityId),
      field('Type', (a.activityType && a.activityType.name) || ''),
      field('State', pascal(a.state || '', 'PENDING_ACTIVITY_STATE_')),
      field('Attempt', `${a.attempt || 1}${a.maximumAttempts ? ` of ${a.maximumAttempts}` : ''}`),
      field('Scheduled', formatTime(a.scheduledTime)),
      field('Last Started', formatTime(a.lastStartedTime)),
      field('Last Heartbeat', formatTime(a.lastHeartbeatTime)),
      field('Next Retry', a.nextAttemptScheduleTime ? formatTime(a.nextAttemptScheduleTime) : '—'),
      field('Last Worker', a.lastWorkerIdentity || ''),
      a.paused ? field('Paused', `${formatTime(a.pauseInfo && a.pauseInfo.pauseTime)} by ${(a.pauseInfo && a.pauseInfo.manual && a.pauseInfo.manual.identity) || '?'}: ${(a.pauseInfo && a.pauseInfo.manual && a.pauseInfo.manual.reason) || ''}`) : null),
    a.heartbeatDetails ? h('div', {}, h('h2', {}, 'Heartbeat details'), payloadsView(a.heartbeatDetails)) : null,
    a.lastFailure ? h('div', {}, h('h2', {}, 'Last failure'), failureView(a.lastFailure)) : null)));
}

async function runQuery(ns, id, run, type, args) {
  const body = {execution: {workflowId: id, runId: run}, query: {queryType: type}};
  if (args !== undefined) body.query.queryArgs = {payloads: [jsonPayload(args)]};
  const answer = await api(`${workflowApi(ns, id)}/query/${seg(type)}`, {method: 'POST', body});
  if (answer.queryRejected) throw new Error(`Query rejected: workflow status ${statusName(answer.queryRejected.status)}`);
  return answer.queryResult;
}

function stackTraceView(ns, id, run) {
  const out = h('div', {id: 'stack-trace'}, h('p', {class: 'muted'}, 'Asking a worker for the call stack…'));
  const load = async () => {
    try {
      const result = await runQuery(ns, id, run, '__stack_trace');
      const decoded = decodePayload(((result && result.payloads) || [])[0]);
      out.replaceChildren(h('pre', {}, 'value' in decoded ? String(decoded.value) : decoded.base64));
    } catch (error) {
      out.replaceChildren(errorBox(error));
    }
  };
  load();
  return h('div', {}, h('div', {class: 'toolbar'}, h('button', {type: 'button', onclick: load}, 'Refresh')), out);
}

function queryView(ns, id, run) {
  const type = h('input', {type: 'text', name: 'query-type', value: '__stack_trace', 'aria-label': 'Query type'});
  const args = h('textarea', {name: 'query-args', placeholder: 'Argument as JSON (optional)'});
  const out = h('div', {id: 'query-result'});
  const submit = async (event) => {
    event.preventDefault();
    out.replaceChildren(h('p', {class: 'muted'}, 'Querying…'));
    try {
      const text = args.value.trim();
      const result = await runQuery(ns, id, run, type.value.trim(), text ? JSON.parse(text) : undefined);
      out.replaceChildren(payloadsView(result));
    } catch (error) {
      out.replaceChildren(errorBox(error));
    }
  };
  return h('form', {class: 'form', onsubmit: submit}, h('label', {}, 'Query type', type), h('label', {}, 'Argument', args),
    h('div', {}, h('button', {class: 'primary', type: 'submit'}, 'Run query')), out);
}

function relationshipsView(ns, data) {
  const info = data.described.workflowExecutionInfo;
  const rows = [];
  const link = (relation, execution, type) => rows.push(h('tr', {},
    h('td', {}, relation), h('td', {}, type || ''),
    h('td', {class: 'mono'}, h('a', {href: workflowUrl(ns, execution.workflowId, execution.runId), class: `${relation.toLowerCase()}-link`}, execution.workflowId)),
    h('td', {class: 'mono hide-narrow'}, execution.runId || '')));
  if (info.parentExecution) link('Parent', info.parentExecution, '');
  const first = data.events.length ? attributesOf(data.events[0]) : {};
  if (first.continuedExecutionRunId) link('Previous', {workflowId: info.execution.workflowId, runId: first.continuedExecutionRunId}, 'continued as new from');
  const seen = new Set();
  for (const event of data.events) {
    const a = attributesOf(event);
    if (eventName(event) === 'ChildWorkflowExecutionStarted' && !seen.has(a.workflowExecution.runId)) {
      seen.add(a.workflowExecution.runId);
      link('Child', a.workflowExecution, a.workflowType && a.workflowType.name);
    }
  }
  for (const child of data.described.pendingChildren || []) {
    if (!seen.has(child.runId)) link('Child', {workflowId: child.workflowId, runId: child.runId}, child.workflowTypeName);
  }
  const last = data.events.length ? attributesOf(data.events[data.events.length - 1]) : {};
  if (last.newExecutionRunId) link('Next', {workflowId: info.execution.workflowId, runId: last.newExecutionRunId}, 'continued as');
  return h('div', {id: 'relationships'}, table(['Relation', 'Type', 'Workflow ID', 'Run ID'], rows, 'No parent, children or other runs.'));
}

// ---- actions ---------------------------------------------------------------------------

/** A modal with `body` fields; `act` runs on confirmation and its error is shown in place. */
function dialog({title, body = [], confirm, danger = false, act, done}) {
  const error = h('div', {class: 'dialog-error'});
  const button = h('button', {type: 'submit', class: danger ? 'danger' : 'primary', id: 'confirm-action'}, confirm);
  const modal = h('dialog', {}, h('form', {class: 'form', method: 'dialog', onsubmit: async (event) => {
    event.preventDefault();
    button.disabled = true;
    error.replaceChildren();
    try {
      await act();
      modal.close();
      modal.remove();
      done();
    } catch (problem) {
      error.replaceChildren(errorBox(problem));
      button.disabled = false;
    }
  }}, h('h2', {}, title), body, error,
  h('div', {class: 'actions'}, button, h('button', {type: 'button', onclick: () => { modal.close(); modal.remove(); }}, 'Close'))));
  document.body.append(modal);
  modal.showModal();
  return modal;
}

function confirmDialog({title, text, confirm, danger, act, done}) {
  dialog({title, body: [h('p', {}, text)], confirm, danger, act, done});
}

function signalDialog(ns, id, target, done) {
  const name = h('input', {type: 'text', name: 'signal-name', required: true, 'aria-label': 'Signal name'});
  const input = h('textarea', {name: 'signal-input', placeholder: 'Input as JSON, e.g. "hello" or {"a": 1} (optional)'});
  dialog({
    title: 'Send a signal', confirm: 'Send signal',
    body: [h('label', {}, 'Signal name', name), h('label', {}, 'Input (JSON)', input)],
    act: () => {
      const text = input.value.trim();
      let value;
      try {
        value = text ? JSON.parse(text) : undefined;
      } catch (problem) {
        throw new Error(`The input is not JSON: ${problem.message}`);
      }
      const body = {workflowExecution: target, identity: IDENTITY, requestId: requestId()};
      if (value !== undefined) body.input = {payloads: [jsonPayload(value)]};
      return api(`${workflowApi(ns, id)}/signal/${seg(name.value.trim())}`, {method: 'POST', body});
    },
    done: () => done(`Signal ${name.value.trim()} sent.`),
  });
}

function terminateDialog(ns, id, target, done) {
  const reason = h('input', {type: 'text', name: 'terminate-reason', value: 'Terminated from the Temper UI', 'aria-label': 'Reason'});
  dialog({
    title: 'Terminate workflow', confirm: 'Terminate', danger: true,
    body: [h('p', {}, `Terminate ${id}? Its workers get no chance to clean up.`), h('label', {}, 'Reason', reason)],
    act: () => api(`${workflowApi(ns, id)}/terminate`, {method: 'POST', body: {workflowExecution: target, reason: reason.value, identity: IDENTITY}}),
    done: () => done('Workflow terminated.'),
  });
}

function resetDialog(ns, id, target, events) {
  const points = events.filter((e) => ['WorkflowTaskCompleted', 'WorkflowTaskFailed', 'WorkflowTaskTimedOut'].includes(eventName(e)));
  const select = h('select', {name: 'reset-event', 'aria-label': 'Reset point'},
    points.map((e) => h('option', {value: e.eventId}, `${e.eventId} · ${eventName(e)} · ${formatTime(e.eventTime)}`)));
  const reason = h('input', {type: 'text', name: 'reset-reason', value: 'Reset from the Temper UI', 'aria-label': 'Reason'});
  let newRun = null;
  dialog({
    title: 'Reset workflow', confirm: 'Reset', danger: true,
    body: [h('p', {}, 'Start a new run from a workflow task; the current run is terminated.'),
      points.length ? h('label', {}, 'Reset to event', select) : h('p', {class: 'muted'}, 'This run has no completed workflow task to reset to.'),
      h('label', {}, 'Reason', reason)],
    act: async () => {
      const answer = await api(`${workflowApi(ns, id)}/reset`, {method: 'POST', body: {
        workflowExecution: target, workflowTaskFinishEventId: select.value, reason: reason.value,
        requestId: requestId(), identity: IDENTITY,
      }});
      newRun = answer.runId;
    },
    done: () => navigate(workflowUrl(ns, id, newRun)),
  });
}

// ---- namespaces, task queues, search attributes ------------------------------------------

async function namespacesPage(gen) {
  try {
    const answer = await api('/namespaces', {query: {pageSize: 1000}});
    const rows = (answer.namespaces || []).map((n) => h('tr', {},
      h('td', {}, h('a', {href: `${nsPath(n.namespaceInfo.name)}/workflows`}, n.namespaceInfo.name)),
      h('td', {}, pascal(n.namespaceInfo.state || '', 'NAMESPACE_STATE_')),
      h('td', {}, retentionText(n.config && n.config.workflowExecutionRetentionTtl)),
      h('td', {}, n.namespaceInfo.description || ''),
      h('td', {class: 'hide-narrow'}, n.namespaceInfo.ownerEmail || ''),
      h('td', {class: 'mono hide-narrow'}, h('a', {href: nsPath(n.namespaceInfo.name)}, n.namespaceInfo.id))));
    mount(gen, h('h1', {}, 'Namespaces'), table(['Name', 'State', 'Retention', 'Description', 'Owner', 'ID'], rows));
  } catch (error) {
    mount(gen, h('h1', {}, 'Namespaces'), errorBox(error));
  }
}

async function namespacePage(gen, ns) {
  try {
    const n = await api(nsPath(ns));
    const info = n.namespaceInfo;
    mount(gen, h('h1', {}, ns), h('div', {class: 'panel summary'},
      field('State', pascal(info.state || '', 'NAMESPACE_STATE_')),
      field('ID', h('span', {class: 'mono'}, info.id)),
      field('Description', info.description || '—'),
      field('Owner', info.ownerEmail || '—'),
      field('Retention', retentionText(n.config && n.config.workflowExecutionRetentionTtl)),
      field('Workflows', h('a', {href: `${nsPath(ns)}/workflows`}, 'Open the list'))));
  } catch (error) {
    mount(gen, h('h1', {}, ns), errorBox(error));
  }
}

async function taskQueuesPage(gen, ns) {
  const input = h('input', {type: 'text', name: 'task-queue', 'aria-label': 'Task queue', placeholder: 'Task queue name'});
  const form = h('form', {class: 'toolbar', onsubmit: (e) => { e.preventDefault(); navigate(`${nsPath(ns)}/task-queues/${seg(input.value.trim())}`); }},
    input, h('button', {class: 'primary', type: 'submit'}, 'Open'));
  let recent = [];
  try {
    const answer = await api(`${nsPath(ns)}/workflows`, {query: {pageSize: 200}});
    recent = [...new Set((answer.executions || []).map((w) => w.taskQueue).filter(Boolean))].sort();
  } catch {
    recent = [];
  }
  mount(gen, h('h1', {}, 'Task Queues'), form, h('h2', {}, 'Used by recent workflows'),
    table(['Task Queue'], recent.map((q) => h('tr', {}, h('td', {}, h('a', {href: `${nsPath(ns)}/task-queues/${seg(q)}`}, q)))),
      'No recent workflows.'));
}

async function taskQueuePage(gen, ns, queue) {
  const kinds = [['Workflow', 'TASK_QUEUE_TYPE_WORKFLOW'], ['Activity', 'TASK_QUEUE_TYPE_ACTIVITY']];
  try {
    const answers = await Promise.all(kinds.map(([, type]) => api(`${nsPath(ns)}/task-queues/${seg(queue)}`,
      {query: {taskQueueType: type, includeTaskQueueStatus: 'true'}})));
    const sections = kinds.map(([title], i) => {
      const answer = answers[i];
      const pollers = (answer.pollers || []).map((p) => h('tr', {},
        h('td', {class: 'mono'}, p.identity || ''), h('td', {}, formatTime(p.lastAccessTime)), h('td', {}, p.ratePerSecond || '')));
      const backlog = (answer.taskQueueStatus && answer.taskQueueStatus.backlogCountHint) || '0';
      return h('section', {class: `queue-${title.toLowerCase()}`}, h('h2', {}, `${title} tasks`),
        h('p', {}, 'Backlog: ', h('strong', {class: 'backlog'}, backlog)),
        table(['Poller identity', 'Last access', 'Rate per second'], pollers, 'No pollers.'));
    });
    mount(gen, h('h1', {}, `Task Queue: ${queue}`), ...sections);
    refreshTimer = setInterval(() => { if (gen === generation) taskQueuePage(gen, ns, queue); }, 5000);
  } catch (error) {
    mount(gen, h('h1', {}, `Task Queue: ${queue}`), errorBox(error));
  }
}

async function searchAttributesPage(gen, ns) {
  try {
    const answer = await api(`${nsPath(ns)}/search-attributes`);
    const rows = (kind, map) => Object.keys(map || {}).sort().map((name) => h('tr', {},
      h('td', {class: 'mono'}, name), h('td', {}, pascal(map[name], 'INDEXED_VALUE_TYPE_')), h('td', {}, kind)));
    mount(gen, h('h1', {}, 'Search Attributes'), table(['Name', 'Type', 'Kind'],
      [...rows('Custom', answer.customAttributes), ...rows('System', answer.systemAttributes)]));
  } catch (error) {
    mount(gen, h('h1', {}, 'Search Attributes'), errorBox(error));
  }
}

// ---- Nexus endpoints (cluster-wide, at Temporal's `/nexus` paths) ------------------------

function endpointTarget(endpoint) {
  const target = (endpoint.spec && endpoint.spec.target) || {};
  if (target.worker) return `${target.worker.namespace} / ${target.worker.taskQueue}`;
  if (target.external) return target.external.url;
  return '';
}

async function nexusEndpointsPage(gen) {
  try {
    const answer = await api('/nexus/endpoints', {query: {pageSize: 1000}});
    const rows = (answer.endpoints || []).map((e) => h('tr', {},
      h('td', {}, h('a', {href: `/nexus/${seg(e.id)}`}, e.spec.name)),
      h('td', {}, endpointTarget(e)),
      h('td', {class: 'mono hide-narrow'}, e.id),
      h('td', {class: 'hide-narrow'}, formatTime(e.createdTime))));
    mount(gen, h('h1', {}, 'Nexus Endpoints'),
      table(['Name', 'Target (namespace / task queue, or URL)', 'ID', 'Created'], rows, 'No Nexus endpoints.'));
  } catch (error) {
    mount(gen, h('h1', {}, 'Nexus Endpoints'), errorBox(error));
  }
}

async function nexusEndpointPage(gen, id) {
  try {
    const e = (await api(`/nexus/endpoints/${seg(id)}`)).endpoint;
    const description = e.spec.description ? payloadView(e.spec.description) : h('p', {class: 'muted'}, 'none');
    mount(gen, h('h1', {}, e.spec.name), h('div', {class: 'panel summary', id: 'endpoint'},
      field('Target', endpointTarget(e)),
      field('ID', h('span', {class: 'mono'}, e.id)),
      field('Version', e.version),
      field('Created', formatTime(e.createdTime)),
      field('Last Modified', formatTime(e.lastModifiedTime) || '—'),
      field('URL Prefix', h('span', {class: 'mono'}, e.urlPrefix))),
    h('h2', {}, 'Description'), description);
  } catch (error) {
    mount(gen, h('h1', {}, 'Nexus Endpoint'), errorBox(error));
  }
}

// ---- schedules -------------------------------------------------------------------------

async function schedulesPage(gen, ns) {
  try {
    const answer = await api(`${nsPath(ns)}/schedules`, {query: {maximumPageSize: 1000}});
    const rows = (answer.schedules || []).map((s) => {
      const info = s.info || {};
      const recent = (info.recentActions || []).slice(-1)[0];
      return h('tr', {},
        h('td', {}, badge(info.paused ? 'Paused' : 'Running')),
        h('td', {class: 'mono'}, h('a', {href: `${nsPath(ns)}/schedules/${seg(s.scheduleId)}`}, s.scheduleId)),
        h('td', {}, (info.workflowType && info.workflowType.name) || ''),
        h('td', {class: 'hide-narrow'}, recent ? formatTime(recent.actualTime) : '—'),
        h('td', {}, formatTime((info.futureActionTimes || [])[0]) || '—'));
    });
    mount(gen, h('h1', {}, 'Schedules'), table(['Status', 'Schedule ID', 'Workflow Type', 'Last run', 'Next run'], rows, 'No schedules.'));
  } catch (error) {
    mount(gen, h('h1', {}, 'Schedules'), errorBox(error));
  }
}

async function schedulePage(gen, ns, id) {
  const path = `${nsPath(ns)}/schedules/${seg(id)}`;
  try {
    const answer = await api(path);
    const schedule = answer.schedule || {};
    const info = answer.info || {};
    const state = schedule.state || {};
    const action = (schedule.action && schedule.action.startWorkflow) || {};
    const redraw = () => schedulePage(gen, ns, id);
    const patch = (body) => api(`${path}/patch`, {method: 'POST', body: {patch: body, identity: IDENTITY, requestId: requestId()}});
    const actions = h('div', {class: 'actions'},
      state.paused
        ? h('button', {type: 'button', id: 'unpause-button', onclick: () => patch({unpause: 'Unpaused from the Temper UI'}).then(redraw, alertError)}, 'Unpause')
        : h('button', {type: 'button', id: 'pause-button', onclick: () => patch({pause: 'Paused from the Temper UI'}).then(redraw, alertError)}, 'Pause'),
      h('button', {type: 'button', id: 'trigger-button', onclick: () => patch({triggerImmediately: {}}).then(redraw, alertError)}, 'Trigger now'),
      h('button', {type: 'button', class: 'danger', onclick: () => confirmDialog({
        title: 'Delete schedule', text: `Delete schedule ${id}? Workflows it started keep running.`, confirm: 'Delete', danger: true,
        act: () => api(path, {method: 'DELETE'}), done: () => navigate(`${nsPath(ns)}/schedules`),
      })}, 'Delete'));
    const recent = (info.recentActions || []).slice().reverse().map((r) => {
      const started = r.startWorkflowResult || {};
      return h('tr', {}, h('td', {}, formatTime(r.scheduleTime)), h('td', {}, formatTime(r.actualTime)),
        h('td', {class: 'mono'}, started.workflowId ? h('a', {href: workflowUrl(ns, started.workflowId, started.runId)}, started.workflowId) : ''),
        h('td', {}, r.startWorkflowStatus ? badge(statusName(r.startWorkflowStatus)) : ''));
    });
    mount(gen, h('h1', {}, id), actions,
      h('div', {class: 'panel summary'},
        field('Status', badge(state.paused ? 'Paused' : 'Running')),
        field('Notes', state.notes || '—'),
        field('Workflow Type', (action.workflowType && action.workflowType.name) || ''),
        field('Workflow ID', action.workflowId || ''),
        field('Task Queue', (action.taskQueue && action.taskQueue.name) || ''),
        field('Actions taken', info.actionCount || '0'),
        field('Created', formatTime(info.createTime)),
        field('Updated', formatTime(info.updateTime) || '—')),
      h('h2', {}, 'Next runs'), h('ul', {}, (info.futureActionTimes || []).map((t) => h('li', {}, formatTime(t)))),
      h('h2', {}, 'Recent runs'), table(['Scheduled', 'Started', 'Workflow', 'Status'], recent, 'None yet.'),
      h('h2', {}, 'Spec'), h('pre', {}, JSON.stringify(schedule.spec || {}, null, 2)));
  } catch (error) {
    mount(gen, h('h1', {}, id), errorBox(error));
  }
}

function alertError(error) {
  main.prepend(errorBox(error));
}

render();
