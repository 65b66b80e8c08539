// net-engine dashboard: plain JavaScript, no build step, no framework, nothing loaded from
// another origin. It talks to REST API v1 with the key kept in sessionStorage. Big tables stay
// fast because filtering, sorting and paging happen on the server: at most one page of rows
// (100) is ever in the DOM, whatever the number of sessions on the router.
//
// API v1 answers the Go engine's shapes (see docs/go-compat.md) with net-engine's fields beside
// them, and this page reads those shapes: `/routers` and `/router/:id/users` are bare arrays
// (a page of users carries its total in `X-Total-Count` and its neighbours in `Link`), health
// has `cpu` as a string, `total_memory`/`free_memory`, `uptime` as RouterOS text and
// `board_name`; traffic has `rx` = download and `tx` = upload in bits/s.
(function () {
  'use strict';

  const API = '/api/v1';
  const KEY_STORAGE = 'netengine.apiKey';
  const PREFS_STORAGE = 'netengine.prefs';
  const REFRESH_MS = 10000;        // routers and router health
  const USERS_REFRESH_MS = 15000;  // the sessions table, re-read quietly
  const TRAFFIC_MS = 1000;         // live graph
  const TRAFFIC_WINDOW_MS = 60000; // what the graph shows
  const REQUEST_TIMEOUT_MS = 15000; // longer than the engine's own 10 s router timeout
  const RETRY_MAX_MS = 15000;
  const SEARCH_DEBOUNCE_MS = 250;

  const $ = (id) => document.getElementById(id);

  // ---------------------------------------------------------------- API client

  class ApiError extends Error {
    constructor(status, body, message) {
      super(message);
      this.status = status;                 // 0 when the engine could not be reached
      this.code = body && body.code ? body.code : '';
      this.field = body && body.field ? body.field : '';
      this.body = body || null;
      this.retryAfterMs = 0;
    }
    // Worth a quiet retry: the engine or the router may be back in a moment.
    get transient() {
      return this.status === 0 || this.status >= 500;
    }
  }

  // `options.key` signs in with a key not yet kept; `options.signal` cancels a superseded read.
  // Answers `{ data, headers }`; `request` below answers the body alone.
  async function exchange(method, path, body, options) {
    const key = options && options.key !== undefined ? options.key : undefined;
    const headers = { 'Accept': 'application/json', 'X-App-Key': key === undefined ? state.key : key };
    const init = { method, headers, cache: 'no-store' };
    if (body !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(body);
    }
    const abort = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => { timedOut = true; abort.abort(); }, REQUEST_TIMEOUT_MS);
    const outer = options && options.signal;
    if (outer) {
      if (outer.aborted) abort.abort();
      else outer.addEventListener('abort', () => abort.abort(), { once: true });
    }
    init.signal = abort.signal;
    let response;
    let text = '';
    try {
      response = await fetch(path, init);
      text = await response.text();
    } catch (e) {
      throw new ApiError(0, null, timedOut ? 'the engine did not answer within 15 s' : 'cannot reach the engine');
    } finally {
      clearTimeout(timer);
    }
    let data = null;
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (response.ok) {
      setConnectionTrouble(false);
      return { data, headers: response.headers };
    }
    const message = data && typeof data.error === 'string' ? data.error : `HTTP ${response.status}`;
    const error = new ApiError(response.status, data, message);
    const retryAfter = parseInt(response.headers.get('Retry-After') || '', 10);
    if (retryAfter > 0) error.retryAfterMs = retryAfter * 1000;
    if (response.status === 401 && key === undefined) onUnauthorized();
    throw error;
  }

  async function request(method, path, body, options) {
    return (await exchange(method, path, body, options)).data;
  }

  const get = (path, signal) => request('GET', path, undefined, { signal });
  const getWithHeaders = (path, signal) => exchange('GET', path, undefined, { signal });

  // A list endpoint answers a bare JSON array; anything else is a contract break worth a loud
  // console error (the Poller reports it as a dashboard bug and keeps the last good data).
  function expectArray(data, what) {
    if (!Array.isArray(data)) throw new TypeError(`${what}: expected a JSON array, got ${data === null ? 'null' : typeof data}`);
    return data;
  }

  // `Link: <url>; rel="next", <url>; rel="last"` → { next: page, last: page, ... } (page numbers
  // read from each URL's `page` parameter). An absent or unreadable header gives {}.
  function parseLinkPages(header) {
    const pages = {};
    if (!header) return pages;
    const pattern = /<([^>]*)>((?:\s*;\s*[^;,]+)*)/g;
    let match;
    while ((match = pattern.exec(header)) !== null) {
      const rel = /;\s*rel\s*=\s*"?([^";]+)"?/i.exec(match[2]);
      if (!rel) continue;
      let page = NaN;
      try { page = parseInt(new URL(match[1], location.href).searchParams.get('page') || '', 10); } catch (e) { /* bad URL */ }
      if (!Number.isInteger(page) || page < 1) continue;
      for (const name of rel[1].trim().toLowerCase().split(/\s+/)) pages[name] = page;
    }
    return pages;
  }
  const post = (path, body) => request('POST', path, body === undefined ? {} : body);

  // Runs a task now and then every `intervalMs`. Transient failures (network, 5xx) are retried
  // quietly with exponential backoff; the page keeps its last good data meanwhile. Starting
  // again (new router, new page) bumps a generation so late answers of old requests are dropped.
  class Poller {
    constructor(task, intervalMs, onError) {
      this.task = task;
      this.intervalMs = intervalMs;
      this.onError = onError || (() => {});
      this.generation = 0;
      this.timer = 0;
      this.failures = 0;
      this.inFlight = null; // AbortController of the running task's request
    }
    start() {
      this.stop();
      const generation = this.generation;
      this.failures = 0;
      this.run(generation);
    }
    stop() {
      clearTimeout(this.timer);
      this.generation += 1;
      if (this.inFlight) this.inFlight.abort();
      this.inFlight = null;
    }
    async run(generation) {
      const current = () => generation === this.generation;
      const controller = new AbortController();
      this.inFlight = controller;
      let delay = this.intervalMs;
      try {
        await this.task(current, controller.signal);
        this.failures = 0;
      } catch (error) {
        if (!current() || (error && error.status === 401)) return;
        if (!(error instanceof ApiError)) {
          // A bug in the page: say so in the console, and keep refreshing anyway.
          console.error('dashboard bug:', error);
        } else if (error.transient) {
          this.failures += 1;
          delay = Math.max(Math.min(RETRY_MAX_MS, 1000 * 2 ** (this.failures - 1)), error.retryAfterMs);
          if (error.status === 0 || error.code === 'internal') setConnectionTrouble(true);
        }
        if (error instanceof ApiError) this.onError(error);
      }
      if (current()) this.timer = setTimeout(() => this.run(generation), delay);
    }
  }

  // ---------------------------------------------------------------- state

  const state = {
    key: '',
    running: false,
    routers: [],
    routersLoaded: false,
    routerFilter: '',
    routerId: null,
    routerActive: false, // health and sessions of routerId are being read
    health: null,
    healthError: null,
    healthLoadedAt: 0,
    users: {
      page: 1, perPage: 25, sort: 'name', order: 'asc', q: '', status: '',
      total: 0, lastPage: 1, hasPrev: false, hasNext: false, rows: [], loaded: false, loading: false, error: null,
    },
    highlightUser: '',
    awaitUser: null, // { name, until(row), tries }: a change just made, until the list shows it
    traffic: null, // { routerId, user, points: [{t, up, down}], last }
    menuUser: null,
  };

  function loadPrefs() {
    try {
      const prefs = JSON.parse(sessionStorage.getItem(PREFS_STORAGE) || '{}');
      if ([10, 25, 50, 100].includes(prefs.perPage)) state.users.perPage = prefs.perPage;
      if (Number.isInteger(prefs.routerId)) state.routerId = prefs.routerId;
    } catch (e) { /* defaults */ }
  }

  function savePrefs() {
    try {
      sessionStorage.setItem(PREFS_STORAGE, JSON.stringify({ perPage: state.users.perPage, routerId: state.routerId }));
    } catch (e) { /* storage disabled: prefs just do not persist */ }
  }

  // ---------------------------------------------------------------- formatting

  function esc(value) {
    return String(value === null || value === undefined ? '' : value)
      .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;').replace(/'/g, '&#39;');
  }

  function formatBps(bitsPerSecond) {
    const units = ['b/s', 'kb/s', 'Mb/s', 'Gb/s', 'Tb/s'];
    let value = Math.max(0, Number(bitsPerSecond) || 0);
    let unit = 0;
    while (value >= 1000 && unit < units.length - 1) {
      value /= 1000;
      unit += 1;
    }
    const shown = value === 0 ? '0' : String(parseFloat(value.toPrecision(3)));
    return `${shown} ${units[unit]}`;
  }

  function formatBytes(bytes) {
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let value = Math.max(0, Number(bytes) || 0);
    let unit = 0;
    while (value >= 1024 && unit < units.length - 1) {
      value /= 1024;
      unit += 1;
    }
    return `${unit === 0 ? value : parseFloat(value.toPrecision(3))} ${units[unit]}`;
  }

  function formatDuration(totalSeconds) {
    let s = Math.max(0, Math.floor(Number(totalSeconds) || 0));
    const d = Math.floor(s / 86400); s -= d * 86400;
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    if (d > 0) return `${d}d ${h}h ${m}m`;
    if (h > 0) return `${h}h ${m}m`;
    if (m > 0) return `${m}m ${s}s`;
    return `${s}s`;
  }

  // RouterOS duration text (`1w2d3h4m5s`, `3h4m5s`, `1d02:03:04`, `00:05:00`, `150ms`) in
  // whole seconds; null when the text is not one.
  function parseRouterOsDuration(text) {
    if (typeof text !== 'string' || !text.trim()) return null;
    let rest = text.trim();
    let seconds = 0;
    const clock = /(\d+):(\d{1,2}):(\d{1,2})(?:\.\d+)?$/.exec(rest);
    if (clock) {
      seconds += Number(clock[1]) * 3600 + Number(clock[2]) * 60 + Number(clock[3]);
      rest = rest.slice(0, clock.index);
    }
    const units = { w: 604800, d: 86400, h: 3600, m: 60, s: 1, ms: 0.001 };
    const part = /(\d+(?:\.\d+)?)(ms|w|d|h|m|s)/y;
    let match;
    while (rest && (match = part.exec(rest)) !== null) {
      seconds += Number(match[1]) * units[match[2]];
      if (part.lastIndex === rest.length) { rest = ''; break; }
    }
    if (rest) return null;
    return Math.floor(seconds);
  }

  function formatAgo(timestamp) {
    const ms = Date.now() - Date.parse(timestamp);
    if (!Number.isFinite(ms)) return '';
    const s = Math.max(0, Math.round(ms / 1000));
    if (s < 60) return `${s}s ago`;
    if (s < 3600) return `${Math.floor(s / 60)}m ago`;
    return `${Math.floor(s / 3600)}h ago`;
  }

  function formatTime(timestamp) {
    const date = new Date(timestamp);
    return Number.isNaN(date.getTime()) ? '' : date.toLocaleTimeString();
  }

  // ---------------------------------------------------------------- feedback

  function setConnectionTrouble(trouble) {
    $('conn-status').hidden = !trouble;
  }

  function toast(message, kind) {
    const element = document.createElement('div');
    element.className = `toast ${kind || ''}`;
    element.setAttribute('role', kind === 'error' ? 'alert' : 'status');
    element.textContent = message;
    $('toasts').appendChild(element);
    setTimeout(() => element.remove(), kind === 'error' ? 8000 : 5000);
  }

  function setBusy(button, busy) {
    button.disabled = busy;
    button.classList.toggle('busy', busy);
  }

  // ---------------------------------------------------------------- sign-in

  function showKeyScreen(message) {
    state.running = false;
    stopAll();
    document.body.dataset.view = 'key';
    $('app').hidden = true;
    $('sign-out').hidden = true;
    $('traffic-panel').hidden = true;
    closeDialogs();
    $('key-screen').hidden = false;
    const error = $('key-error');
    error.textContent = message || '';
    error.hidden = !message;
    $('key-input').value = '';
    $('key-input').focus();
  }

  function onUnauthorized() {
    if (!state.running) return;
    state.key = '';
    try { sessionStorage.removeItem(KEY_STORAGE); } catch (e) { /* nothing stored */ }
    showKeyScreen('The engine no longer accepts this key. Enter it again.');
  }

  async function submitKey(event) {
    event.preventDefault();
    const key = $('key-input').value.trim();
    const error = $('key-error');
    if (!key) {
      error.textContent = 'Enter the API key.';
      error.hidden = false;
      return;
    }
    const button = $('key-submit');
    setBusy(button, true);
    try {
      const data = await request('GET', `${API}/routers`, undefined, { key });
      state.key = key;
      try { sessionStorage.setItem(KEY_STORAGE, key); } catch (e) { /* key lives in memory only */ }
      startApp(data);
    } catch (e) {
      error.textContent = e.status === 401
        ? 'That key was not accepted.'
        : `Cannot sign in: ${e.message}. Try again in a moment.`;
      error.hidden = false;
    } finally {
      setBusy(button, false);
    }
  }

  function signOut() {
    state.key = '';
    try { sessionStorage.removeItem(KEY_STORAGE); } catch (e) { /* nothing stored */ }
    showKeyScreen('');
  }

  function startApp(routersData) {
    state.running = true;
    document.body.dataset.view = 'app';
    $('key-screen').hidden = true;
    $('app').hidden = false;
    $('sign-out').hidden = false;
    $('page-size').value = String(state.users.perPage);
    renderRouters();
    renderHealth();
    renderUsers();
    if (routersData) applyRouters(routersData);
    routersPoller.start();
  }

  function stopAll() {
    state.routerActive = false;
    routersPoller.stop();
    healthPoller.stop();
    usersPoller.stop();
    trafficPoller.stop();
    changesPoller.stop();
  }

  // ---------------------------------------------------------------- routers

  const routersPoller = new Poller(async (current, signal) => {
    const data = await get(`${API}/routers`, signal);
    if (current()) applyRouters(data);
  }, REFRESH_MS, (error) => {
    if (!state.routersLoaded) {
      $('router-count').textContent = error.transient ? 'retrying…' : error.message;
    }
  });

  function applyRouters(data) {
    state.routers = expectArray(data, 'GET /routers');
    state.routersLoaded = true;
    const known = state.routers.some((router) => router.id === state.routerId);
    if (!known && state.routers.length > 0) {
      selectRouter(state.routers[0].id);
    } else if (known && !state.routerActive) {
      // The router remembered from earlier in this tab: start reading it.
      selectRouter(state.routerId);
    } else {
      renderRouters();
      renderRouterHead();
    }
  }

  function currentRouter() {
    return state.routers.find((router) => router.id === state.routerId) || null;
  }

  function renderRouters() {
    const list = $('router-list');
    if (!state.routersLoaded) {
      list.innerHTML = '<li><span class="skeleton block"></span></li>'.repeat(3);
      $('router-count').textContent = '';
      return;
    }
    const online = state.routers.filter((router) => router.state === 'online').length;
    $('router-count').textContent = `${online}/${state.routers.length} online`;
    const filter = state.routerFilter.toLowerCase();
    const shown = state.routers.filter((router) =>
      !filter || `${router.name} ${router.host} ${router.identity || ''}`.toLowerCase().includes(filter));
    if (shown.length === 0) {
      list.innerHTML = `<li class="muted small">${state.routers.length ? 'No router matches.' : 'No routers configured.'}</li>`;
      return;
    }
    list.innerHTML = shown.map((router) => `
      <li><button type="button" class="router-item" data-testid="router-item" data-router-id="${esc(router.id)}"
          data-state="${esc(router.state)}" aria-current="${router.id === state.routerId}">
        <div class="router-line">
          <span class="router-label">${esc(router.name)}</span>
          <span class="badge router ${esc(router.state)}">${esc(router.state)}</span>
        </div>
        <div class="router-sub">${esc(router.host)}:${esc(router.port)} · ${esc(router.active_sessions)} sessions</div>
        ${router.last_error ? `<div class="router-last-error" title="${esc(router.last_error)}">${esc(router.last_error)}</div>` : ''}
      </button></li>`).join('');
  }

  function renderRouterHead() {
    const router = currentRouter();
    $('router-name').textContent = router ? router.name : '—';
    const badge = $('router-state');
    badge.className = `badge router ${router ? router.state : ''}`;
    badge.textContent = router ? router.state : '';
    const parts = [];
    if (router) {
      if (router.identity && router.identity !== router.name) parts.push(`identity ${router.identity}`);
      parts.push(`${router.host}:${router.port}`);
      if (router.version) parts.push(`RouterOS ${router.version}`);
      if (router.rtt_ms !== null && router.rtt_ms !== undefined) parts.push(`RTT ${router.rtt_ms} ms`);
      if (router.last_poll_at) parts.push(`polled ${formatAgo(router.last_poll_at)}`);
      else parts.push(`${router.state} ${formatAgo(router.since)}`);
    }
    $('router-meta').textContent = parts.join(' · ');
    const error = $('router-error');
    error.hidden = !(router && router.last_error);
    error.textContent = router && router.last_error ? `Last error: ${router.last_error}` : '';
    $('action-sync').disabled = !router;
    $('action-backup').disabled = !router;
  }

  function selectRouter(id) {
    if (state.routerId !== id) {
      closeTraffic();
      state.users.page = 1;
      state.users.loaded = false;
      state.users.rows = [];
      state.health = null;
      state.healthError = null;
    }
    state.routerId = id;
    state.routerActive = true;
    savePrefs();
    renderRouters();
    renderRouterHead();
    renderHealth();
    renderUsers();
    healthPoller.start();
    usersPoller.start();
    $('changes-list').innerHTML = '';
    changesPoller.start();
  }

  // ---------------------------------------------------------------- recent changes

  // The audit trail of the selected router: who changed what, and whether it was applied.
  const changesPoller = new Poller(async (current, signal) => {
    if (state.routerId === null) return;
    const data = await get(`${API}/audit?router_id=${state.routerId}&limit=10`, signal);
    if (!current()) return;
    const rows = expectArray(data, 'audit entries');
    $('changes-list').innerHTML = rows.length === 0
      ? '<li class="muted small">No changes recorded yet.</li>'
      : rows.map((entry) => `<li data-outcome="${esc(entry.outcome)}" data-action="${esc(entry.action)}" data-user="${esc(entry.user || '')}">
          <span class="muted small">${esc(formatTime(entry.at))}</span>
          <strong>${esc(entry.action)}</strong> ${esc(entry.user || entry.address || '')}
          <span class="badge">${esc(entry.outcome)}</span>
          <span class="muted small">${esc(entry.client)}</span></li>`).join('');
  }, REFRESH_MS, () => {});

  // ---------------------------------------------------------------- health

  const healthPoller = new Poller(async (current, signal) => {
    if (state.routerId === null) return;
    const data = await get(`${API}/router/${state.routerId}/health`, signal);
    if (!current()) return;
    state.health = data;
    state.healthError = null;
    state.healthLoadedAt = Date.now();
    renderHealth();
  }, REFRESH_MS, (error) => {
    state.healthError = error;
    renderHealth();
  });

  function setStat(id, value, sub, meterPercent) {
    const card = $(id);
    const valueElement = card.querySelector('[data-value]');
    valueElement.textContent = value;
    valueElement.title = value;
    const subElement = card.querySelector('[data-sub]');
    if (subElement) subElement.textContent = sub || '';
    const meter = card.querySelector('[data-meter]');
    if (meter) {
      const percent = Math.max(0, Math.min(100, meterPercent || 0));
      meter.style.width = `${percent}%`;
      meter.className = percent >= 90 ? 'critical' : percent >= 70 ? 'high' : '';
    }
  }

  function renderHealth() {
    const health = state.health;
    const grid = $('health');
    grid.classList.toggle('stale', Boolean(health && state.healthError));
    if (!health) {
      for (const card of grid.querySelectorAll('.stat')) {
        card.querySelector('[data-value]').innerHTML = state.healthError ? '—' : '<span class="skeleton big"></span>';
        const sub = card.querySelector('[data-sub]');
        if (sub) sub.textContent = '';
        const meter = card.querySelector('[data-meter]');
        if (meter) meter.style.width = '0';
      }
    } else {
      // Go's fields first (`cpu` is RouterOS's cpu-load as a string), net-engine's beside them.
      let cpu = parseFloat(health.cpu);
      if (!Number.isFinite(cpu)) cpu = Number(health.cpu_load);
      const total = Number(health.total_memory);
      const free = Number(health.free_memory);
      const hasMemory = Number.isFinite(total) && total > 0 && Number.isFinite(free);
      const used = hasMemory ? Math.max(0, total - free) : 0;
      const memoryPercent = hasMemory ? (100 * used) / total : 0;
      setStat('health-cpu', Number.isFinite(cpu) ? `${cpu}%` : '—', '', Number.isFinite(cpu) ? cpu : 0);
      setStat('health-memory', hasMemory ? `${formatBytes(used)} / ${formatBytes(total)}` : '—', '', memoryPercent);
      $('health-memory').title = hasMemory ? `${Math.round(memoryPercent)}% used, ${formatBytes(free)} free` : '';
      const uptimeSeconds = parseRouterOsDuration(health.uptime);
      setStat('health-uptime', uptimeSeconds === null ? (health.uptime || '—') : formatDuration(uptimeSeconds), health.uptime || '');
      setStat('health-version', health.version || '—', health.architecture || '');
      const router = currentRouter();
      setStat('health-board', health.board_name || '—', router && router.identity ? router.identity : '');
    }
    const note = $('health-note');
    if (state.healthError) {
      const error = state.healthError;
      const reason = error.code === 'router_offline' ? 'router offline' : error.message;
      if (error.code === 'no_data_yet' && !health) {
        const next = error.body && error.body.next_retry ? ` (the engine polls every ${error.body.next_retry})` : '';
        note.textContent = `Waiting for the router's first poll${next}…`;
      } else {
        note.textContent = health
          ? `Showing the last figures: ${reason}. Retrying…`
          : `Health unavailable: ${reason}. Retrying…`;
      }
    } else if (health) {
      note.textContent = `Sampled at ${formatTime(health.sampled_at)}${health.live ? ' (live)' : ''} · refreshes every 10 s`;
    } else {
      note.textContent = '';
    }
  }

  // ---------------------------------------------------------------- sessions table

  const usersPoller = new Poller(async (current, signal) => {
    if (state.routerId === null) return;
    const users = state.users;
    const params = new URLSearchParams({
      page: String(users.page), per_page: String(users.perPage), sort: users.sort, order: users.order,
    });
    if (users.q) params.set('q', users.q);
    if (users.status) params.set('status', users.status);
    users.loading = true;
    $('sessions-table').classList.toggle('loading', users.loaded);
    const { data, headers } = await getWithHeaders(`${API}/router/${state.routerId}/users?${params}`, signal);
    if (!current()) return;
    // A paged request answers a bare array of that page; the total after the filters comes in
    // `X-Total-Count`, and `Link` names the next, previous and last pages.
    const rows = expectArray(data, 'GET /router/:id/users');
    const total = parseInt(headers.get('X-Total-Count') || '', 10);
    if (!Number.isInteger(total) || total < 0) {
      throw new TypeError(`GET /router/:id/users: X-Total-Count is ${JSON.stringify(headers.get('X-Total-Count'))}`);
    }
    const links = parseLinkPages(headers.get('Link'));
    const counted = Math.max(1, Math.ceil(total / users.perPage));
    users.loading = false;
    users.error = null;
    users.total = total;
    users.rows = rows;
    users.loaded = true;
    users.lastPage = links.last || counted;
    users.hasPrev = headers.get('Link') ? Boolean(links.prev) : users.page > 1;
    users.hasNext = headers.get('Link') ? Boolean(links.next) : users.page < users.lastPage;
    if (users.page > users.lastPage) {
      // The filter shrank the result: show its last page instead of an empty one.
      users.page = users.lastPage;
      usersPoller.start();
      return;
    }
    renderUsers();
    const awaited = state.awaitUser;
    const row = awaited ? users.rows.find((user) => user.username === awaited.name) : undefined;
    if (awaited && !(row && awaited.until(row))) {
      // A change reaches the list with the router's next cache refresh: look again soon.
      awaited.tries += 1;
      if (awaited.tries < 15) setTimeout(() => { if (state.awaitUser === awaited) reloadUsers(); }, 1000);
      else state.awaitUser = null;
    } else {
      state.awaitUser = null;
    }
  }, USERS_REFRESH_MS, (error) => {
    state.users.loading = false;
    state.users.error = error;
    renderUsers();
  });

  function reloadUsers() {
    usersPoller.start();
  }

  // Go's `status` (connected, isolated, offline), then what the booleans beside it add: an
  // isolated user may still be online, and a disabled secret is isolated too.
  function statusBadge(user) {
    const extra = [];
    if (user.status === 'isolated' && user.online) extra.push('online');
    if (user.disabled) extra.push('disabled');
    const tags = extra.map((tag) => ` <span class="tag ${esc(tag)}">${esc(tag)}</span>`).join('');
    return `<span class="badge ${esc(user.status)}">${esc(user.status)}</span>${tags}`;
  }

  function renderUsers() {
    const users = state.users;
    const body = $('sessions-body');
    $('sessions-table').classList.toggle('loading', users.loading && users.loaded);
    for (const header of document.querySelectorAll('#sessions-table th[data-sort]')) {
      if (header.dataset.sort === users.sort) {
        header.setAttribute('aria-sort', users.order === 'asc' ? 'ascending' : 'descending');
      } else {
        header.removeAttribute('aria-sort');
      }
    }
    for (const button of document.querySelectorAll('#status-filter button')) {
      button.setAttribute('aria-pressed', String(button.dataset.status === users.status));
    }
    if (!users.loaded) {
      if (users.error) {
        body.innerHTML = `<tr class="empty"><td colspan="9">Sessions unavailable: ${esc(users.error.message)}. Retrying…</td></tr>`;
      } else {
        const cells = '<td><span class="skeleton"></span></td>'.repeat(9);
        body.innerHTML = `<tr class="skeleton-row">${cells}</tr>`.repeat(Math.min(users.perPage, 10));
      }
      $('page-info').textContent = 'Loading…';
      $('page-number').textContent = '';
      setPagerDisabled(true, true);
      return;
    }
    if (users.rows.length === 0) {
      const why = users.q ? `No users match “${esc(users.q)}”.` : 'No users.';
      body.innerHTML = `<tr class="empty"><td colspan="9">${why}</td></tr>`;
    } else {
      body.innerHTML = users.rows.map((user) => {
        const name = user.username;
        const selected = state.traffic && state.traffic.user === name ? ' selected' : '';
        const highlight = state.highlightUser === name ? ' highlight' : '';
        let seconds = user.uptime_s;
        if (seconds === null || seconds === undefined) seconds = parseRouterOsDuration(user.uptime);
        const uptime = seconds !== null && seconds !== undefined ? formatDuration(seconds) : (user.uptime || '');
        return `<tr data-user="${esc(name)}" data-status="${esc(user.status)}" data-online="${Boolean(user.online)}"
            data-isolated="${Boolean(user.isolated)}" data-disabled="${Boolean(user.disabled)}" tabindex="0" class="${selected}${highlight}">
          <td class="name">${esc(name)}</td>
          <td>${statusBadge(user)}</td>
          <td class="mono">${esc(user.ip)}</td>
          <td title="${esc(user.uptime)}">${esc(uptime)}</td>
          <td>${esc(user.profile)}</td>
          <td>${esc(user.service)}</td>
          <td class="mono">${esc(user.caller_id)}</td>
          <td class="comment" title="${esc(user.comment)}">${esc(user.comment)}</td>
          <td class="col-actions"><button type="button" class="row-menu-btn" data-menu aria-haspopup="menu" aria-label="Actions for ${esc(name)}">⋯</button></td>
        </tr>`;
      }).join('');
      if (users.rows.some((user) => user.username === state.highlightUser)) state.highlightUser = '';
    }
    const first = users.total === 0 ? 0 : (users.page - 1) * users.perPage + 1;
    const last = Math.min(users.total, (users.page - 1) * users.perPage + users.rows.length);
    $('page-info').textContent = users.total === 0 ? 'Showing 0 of 0' : `Showing ${first}–${last} of ${users.total}`;
    $('page-number').textContent = `Page ${users.page} of ${users.lastPage}`;
    setPagerDisabled(!users.hasPrev, !users.hasNext);
  }

  function setPagerDisabled(atStart, atEnd) {
    $('page-first').disabled = atStart;
    $('page-prev').disabled = atStart;
    $('page-next').disabled = atEnd;
    $('page-last').disabled = atEnd;
  }

  function goToPage(page) {
    const users = state.users;
    const target = Math.max(1, Math.min(users.lastPage, page));
    if (target === users.page) return;
    users.page = target;
    reloadUsers();
  }

  function sortBy(column) {
    const users = state.users;
    if (users.sort === column) {
      users.order = users.order === 'asc' ? 'desc' : 'asc';
    } else {
      users.sort = column;
      users.order = 'asc';
    }
    users.page = 1;
    renderUsers();
    reloadUsers();
  }

  let searchTimer = 0;
  function onSearchInput() {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => {
      const q = $('search').value.trim();
      if (q === state.users.q) return;
      state.users.q = q;
      state.users.page = 1;
      reloadUsers();
    }, SEARCH_DEBOUNCE_MS);
  }

  // ---------------------------------------------------------------- traffic graph

  const trafficPoller = new Poller(async (current, signal) => {
    const traffic = state.traffic;
    if (!traffic) return;
    const data = await get(`${API}/router/${traffic.routerId}/traffic?user=${encodeURIComponent(traffic.user)}`, signal);
    if (!current()) return;
    // Go's fields: `rx` is the download (towards the customer), `tx` the upload, bits/s.
    traffic.points.push({ t: Date.now(), up: Number(data.tx) || 0, down: Number(data.rx) || 0 });
    const oldest = Date.now() - TRAFFIC_WINDOW_MS - 2000;
    while (traffic.points.length && traffic.points[0].t < oldest) traffic.points.shift();
    traffic.last = data;
    traffic.error = null;
    renderTraffic();
  }, TRAFFIC_MS, (error) => {
    if (!state.traffic) return;
    state.traffic.error = error;
    renderTraffic();
  });

  function openTraffic(user) {
    if (state.routerId === null) return;
    state.traffic = { routerId: state.routerId, user, points: [], last: null, error: null };
    const router = currentRouter();
    $('traffic-title').textContent = user;
    $('traffic-meta').textContent = router ? `on ${router.name}` : '';
    $('traffic-panel').hidden = false;
    for (const row of document.querySelectorAll('#sessions-body tr[data-user]')) {
      row.classList.toggle('selected', row.dataset.user === user);
    }
    renderTraffic();
    trafficPoller.start();
  }

  function closeTraffic() {
    trafficPoller.stop();
    state.traffic = null;
    $('traffic-panel').hidden = true;
    for (const row of document.querySelectorAll('#sessions-body tr.selected')) row.classList.remove('selected');
  }

  function renderTraffic() {
    const traffic = state.traffic;
    if (!traffic) return;
    const canvas = $('traffic-canvas');
    canvas.dataset.points = String(traffic.points.length);
    const last = traffic.last;
    $('traffic-down').textContent = last ? formatBps(last.rx) : '—';
    $('traffic-up').textContent = last ? formatBps(last.tx) : '—';
    const router = currentRouter();
    let source = '';
    if (last && last.queue) source = ` · queue ${last.queue}`;
    else if (last && last.source) source = ` · ${String(last.source).replace('_', ' ')}`;
    $('traffic-meta').textContent = `${router ? `on ${router.name}` : ''}${source}`;
    const note = $('traffic-note');
    if (traffic.error) {
      note.textContent = traffic.error.code === 'user_offline'
        ? `${traffic.user} is offline: no live traffic. Waiting for a session…`
        : `${traffic.error.message}. Retrying…`;
    } else {
      note.textContent = traffic.points.length ? 'Updates every second · last 60 s' : 'Waiting for the first sample…';
    }
    drawTrafficGraph(canvas, traffic.points);
  }

  // Rounds the top of the y axis up to 1, 2, 2.5 or 5 times a power of ten, split in 4 steps.
  function niceScale(maximum) {
    const raw = Math.max(maximum, 1000) / 4;
    const magnitude = 10 ** Math.floor(Math.log10(raw));
    const normalized = raw / magnitude;
    const nice = normalized <= 1 ? 1 : normalized <= 2 ? 2 : normalized <= 2.5 ? 2.5 : normalized <= 5 ? 5 : 10;
    return nice * magnitude;
  }

  function drawTrafficGraph(canvas, points) {
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth;
    const height = canvas.clientHeight;
    if (width === 0 || height === 0) return;
    if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const context = canvas.getContext('2d');
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.clearRect(0, 0, width, height);
    const styles = getComputedStyle(document.documentElement);
    const color = (name) => styles.getPropertyValue(name).trim();
    const left = 70;
    const right = 8;
    const top = 8;
    const bottom = 22;
    const plotWidth = width - left - right;
    const plotHeight = height - top - bottom;
    const maximum = points.reduce((max, point) => Math.max(max, point.up, point.down), 0);
    const step = niceScale(maximum * 1.1);
    const ceiling = step * 4;
    const now = Date.now();

    context.font = `11px ${color('--font') || 'sans-serif'}`;
    context.textBaseline = 'middle';
    context.lineWidth = 1;
    for (let i = 0; i <= 4; i += 1) {
      const y = Math.round(top + plotHeight - (i / 4) * plotHeight) + 0.5;
      context.strokeStyle = color('--border');
      context.beginPath();
      context.moveTo(left, y);
      context.lineTo(width - right, y);
      context.stroke();
      context.fillStyle = color('--muted');
      context.textAlign = 'right';
      context.fillText(formatBps(step * i), left - 8, y);
    }
    context.textAlign = 'center';
    context.textBaseline = 'alphabetic';
    for (const secondsAgo of [60, 45, 30, 15, 0]) {
      const x = left + plotWidth * (1 - (secondsAgo * 1000) / TRAFFIC_WINDOW_MS);
      context.fillText(secondsAgo === 0 ? 'now' : `-${secondsAgo}s`, Math.min(x, width - right - 12), height - 6);
    }

    const xOf = (point) => left + plotWidth * (1 - (now - point.t) / TRAFFIC_WINDOW_MS);
    const yOf = (value) => top + plotHeight - (Math.min(value, ceiling) / ceiling) * plotHeight;
    const visible = points.filter((point) => now - point.t <= TRAFFIC_WINDOW_MS + 1000);
    if (visible.length === 0) return;
    context.save();
    context.beginPath();
    context.rect(left, top, plotWidth, plotHeight + 1);
    context.clip();
    for (const [key, colorName] of [['down', '--download'], ['up', '--upload']]) {
      const stroke = color(colorName);
      context.beginPath();
      visible.forEach((point, index) => {
        const x = xOf(point);
        const y = yOf(point[key]);
        if (index === 0) context.moveTo(x, y); else context.lineTo(x, y);
      });
      context.strokeStyle = stroke;
      context.lineWidth = 2;
      context.lineJoin = 'round';
      context.stroke();
      if (key === 'down') {
        context.lineTo(xOf(visible[visible.length - 1]), top + plotHeight);
        context.lineTo(xOf(visible[0]), top + plotHeight);
        context.closePath();
        context.globalAlpha = 0.12;
        context.fillStyle = stroke;
        context.fill();
        context.globalAlpha = 1;
      }
      if (visible.length === 1) {
        const point = visible[0];
        context.fillStyle = stroke;
        context.beginPath();
        context.arc(xOf(point), yOf(point[key]), 3, 0, 2 * Math.PI);
        context.fill();
      }
    }
    context.restore();
  }

  // ---------------------------------------------------------------- actions

  function routerLabel() {
    const router = currentRouter();
    return router ? router.name : `router ${state.routerId}`;
  }

  async function runAction(button, action) {
    if (button) setBusy(button, true);
    try {
      await action();
    } catch (error) {
      if (error instanceof ApiError) {
        if (error.status !== 401) toast(error.message, 'error');
      } else {
        console.error('dashboard bug:', error);
        toast('Something went wrong in the page; see the browser console.', 'error');
      }
    } finally {
      if (button) setBusy(button, false);
      // Applied or refused, the change is in the audit trail now: show it.
      if (state.routerId !== null) changesPoller.start();
    }
  }

  function syncRouter() {
    const id = state.routerId;
    runAction($('action-sync'), async () => {
      const result = await post(`${API}/sync/${id}`);
      const stored = result.stored === null || result.stored === undefined ? '' : `, ${result.stored} stored`;
      toast(`Synced ${routerLabel()}: ${result.secrets} secrets, ${result.active} active${stored}.`, 'ok');
      routersPoller.start();
      healthPoller.start();
      reloadUsers();
    });
  }

  function backupRouter() {
    const id = state.routerId;
    runAction($('action-backup'), async () => {
      const result = await post(`${API}/router/${id}/backup`);
      toast(`Backup saved on ${routerLabel()} as ${result.file}.`, 'ok');
    });
  }

  function kickUser(user) {
    confirmThen('Disconnect user', `Drop the live session of ${user}? Their device will reconnect by itself.`, 'Disconnect', () =>
      runAction(null, async () => {
        const result = await post(`${API}/kick`, { router_id: state.routerId, user });
        toast(result.kicked > 0 ? `${user} disconnected (${result.kicked} session${result.kicked === 1 ? '' : 's'}).` : `${user} had no live session.`, 'ok');
        reloadUsers();
      }));
  }

  function isolateUser(user, add) {
    runAction(null, async () => {
      const result = await post(`${API}/isolate`, { router_id: state.routerId, action: add ? 'add' : 'remove', user });
      const address = result.address || result.ip;
      const list = result.list || 'ISOLATED';
      let message;
      if (add) {
        message = result.changed ? `${user} isolated: ${address} added to ${list}.` : `${user} was already isolated (${address} in ${list}).`;
      } else {
        message = result.changed ? `${user} restored: ${address} removed from ${list}.` : `${user} was not isolated.`;
      }
      toast(message, 'ok');
      // The row's status follows at the router's next refresh: watch for it.
      state.awaitUser = { name: user, until: (row) => Boolean(row.isolated) === add || (!add && row.disabled), tries: 0 };
      reloadUsers();
    });
  }

  function deleteUser(user) {
    confirmThen('Delete user', `Delete ${user} from ${routerLabel()} and drop any live session? This cannot be undone.`, 'Delete', () =>
      runAction(null, async () => {
        const params = new URLSearchParams({ router_id: String(state.routerId), kick: '1' });
        await request('DELETE', `${API}/secret/${encodeURIComponent(user)}?${params}`);
        toast(`${user} deleted.`, 'ok');
        if (state.traffic && state.traffic.user === user) closeTraffic();
        reloadUsers();
      }));
  }

  let confirmAction = null;
  function confirmThen(title, text, okLabel, action) {
    confirmAction = action;
    $('confirm-title').textContent = title;
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = okLabel;
    $('confirm-dialog').showModal();
  }

  function closeDialogs() {
    for (const dialog of document.querySelectorAll('dialog[open]')) dialog.close();
    closeMenu();
  }

  // ---------------------------------------------------------------- add user

  function clearFieldErrors() {
    for (const element of document.querySelectorAll('#add-user-form [data-error-for]')) element.textContent = '';
    for (const element of document.querySelectorAll('#add-user-form .invalid')) element.classList.remove('invalid');
    $('add-user-error').hidden = true;
    $('add-user-error').textContent = '';
  }

  function showFieldError(field, message) {
    const slot = document.querySelector(`#add-user-form [data-error-for="${CSS.escape(field)}"]`);
    const input = document.querySelector(`#add-user-form [name="${CSS.escape(field)}"]`);
    if (slot && input) {
      slot.textContent = message;
      input.classList.add('invalid');
      input.focus();
    } else {
      $('add-user-error').textContent = message;
      $('add-user-error').hidden = false;
    }
  }

  async function openAddUser() {
    const form = $('add-user-form');
    form.reset();
    clearFieldErrors();
    $('add-user-router').textContent = `On ${routerLabel()}`;
    const select = $('new-user-profile');
    select.innerHTML = '<option value="">Router default</option>';
    $('add-user-dialog').showModal();
    $('new-user-name').focus();
    const routerId = state.routerId;
    try {
      const data = await get(`${API}/router/${routerId}/profiles`);
      if (routerId !== state.routerId) return;
      const options = (data.profiles || []).map((profile) =>
        `<option value="${esc(profile.name)}">${esc(profile.name)}${profile.rate_limit ? ` (${esc(profile.rate_limit)})` : ''}</option>`);
      select.innerHTML = '<option value="">Router default</option>' + options.join('');
    } catch (error) {
      // The list is a convenience; creating a user with the default profile still works.
    }
  }

  async function submitAddUser(event) {
    event.preventDefault();
    clearFieldErrors();
    const form = $('add-user-form');
    const value = (name) => form.elements[name].value.trim();
    const body = { router_id: state.routerId, user: value('user'), password: form.elements.password.value };
    // Only "is it there" is checked here; the API's own validation messages are shown as given.
    if (!body.user) { showFieldError('user', 'Enter a user name.'); return; }
    if (!body.password) { showFieldError('password', 'Enter a password.'); return; }
    for (const name of ['profile', 'service', 'remote_ip', 'local_ip', 'comment']) {
      if (value(name)) body[name] = value(name);
    }
    body.disabled = form.elements.disabled.checked;
    const button = $('add-user-submit');
    setBusy(button, true);
    try {
      const result = await post(`${API}/secret`, body);
      $('add-user-dialog').close();
      toast(`User ${result.user} created on ${routerLabel()}.`, 'ok');
      // Show the new user at once: search for it on the first page.
      state.highlightUser = result.user;
      state.awaitUser = { name: result.user, until: () => true, tries: 0 };
      state.users.q = result.user;
      state.users.status = '';
      state.users.page = 1;
      $('search').value = result.user;
      reloadUsers();
    } catch (error) {
      if (!(error instanceof ApiError)) {
        console.error('dashboard bug:', error);
        showFieldError('', 'Something went wrong in the page; see the browser console.');
      } else if (error.status !== 401) {
        const field = error.field || (error.code === 'secret_exists' ? 'user' : '');
        showFieldError(field, error.message);
      }
    } finally {
      setBusy(button, false);
    }
  }

  // ---------------------------------------------------------------- row menu

  function openMenu(button, row) {
    const menu = $('row-menu');
    state.menuUser = row.dataset.user;
    // An isolated user can still hold a live session: only `online` says whether there is one.
    menu.querySelector('[data-action="kick"]').disabled = row.dataset.online !== 'true';
    menu.hidden = false;
    const rect = button.getBoundingClientRect();
    const menuWidth = menu.offsetWidth;
    const menuHeight = menu.offsetHeight;
    let topPosition = rect.bottom + window.scrollY + 4;
    if (rect.bottom + menuHeight + 8 > window.innerHeight) topPosition = rect.top + window.scrollY - menuHeight - 4;
    menu.style.top = `${topPosition}px`;
    menu.style.left = `${Math.max(8, rect.right + window.scrollX - menuWidth)}px`;
    const firstEnabled = menu.querySelector('button:not(:disabled)');
    if (firstEnabled) firstEnabled.focus();
  }

  function closeMenu() {
    $('row-menu').hidden = true;
    state.menuUser = null;
  }

  function onMenuAction(action) {
    const user = state.menuUser;
    closeMenu();
    if (!user) return;
    if (action === 'traffic') openTraffic(user);
    else if (action === 'kick') kickUser(user);
    else if (action === 'isolate') isolateUser(user, true);
    else if (action === 'unisolate') isolateUser(user, false);
    else if (action === 'delete') deleteUser(user);
  }

  // ---------------------------------------------------------------- wiring

  function bind() {
    $('key-form').addEventListener('submit', submitKey);
    $('sign-out').addEventListener('click', signOut);

    $('router-list').addEventListener('click', (event) => {
      const item = event.target.closest('[data-router-id]');
      if (item) selectRouter(Number(item.dataset.routerId));
    });
    $('router-filter').addEventListener('input', (event) => {
      state.routerFilter = event.target.value.trim();
      renderRouters();
    });

    $('action-sync').addEventListener('click', syncRouter);
    $('action-backup').addEventListener('click', backupRouter);

    $('search').addEventListener('input', onSearchInput);
    $('status-filter').addEventListener('click', (event) => {
      const button = event.target.closest('button[data-status]');
      if (!button || button.dataset.status === state.users.status) return;
      state.users.status = button.dataset.status;
      state.users.page = 1;
      renderUsers();
      reloadUsers();
    });
    $('page-size').addEventListener('change', (event) => {
      state.users.perPage = Number(event.target.value) || 25;
      state.users.page = 1;
      savePrefs();
      reloadUsers();
    });
    $('page-first').addEventListener('click', () => goToPage(1));
    $('page-prev').addEventListener('click', () => goToPage(state.users.page - 1));
    $('page-next').addEventListener('click', () => goToPage(state.users.page + 1));
    $('page-last').addEventListener('click', () => goToPage(Number.MAX_SAFE_INTEGER));
    document.querySelector('#sessions-table thead').addEventListener('click', (event) => {
      const header = event.target.closest('th[data-sort]');
      if (header) sortBy(header.dataset.sort);
    });

    const body = $('sessions-body');
    body.addEventListener('click', (event) => {
      const row = event.target.closest('tr[data-user]');
      if (!row) return;
      const menuButton = event.target.closest('[data-menu]');
      if (menuButton) {
        event.stopPropagation();
        openMenu(menuButton, row);
      } else {
        openTraffic(row.dataset.user);
      }
    });
    body.addEventListener('keydown', (event) => {
      const row = event.target.closest('tr[data-user]');
      if (row && event.target === row && (event.key === 'Enter' || event.key === ' ')) {
        event.preventDefault();
        openTraffic(row.dataset.user);
      }
    });

    $('row-menu').addEventListener('click', (event) => {
      const item = event.target.closest('button[data-action]');
      if (item && !item.disabled) onMenuAction(item.dataset.action);
    });
    document.addEventListener('click', (event) => {
      if (!$('row-menu').hidden && !event.target.closest('#row-menu')) closeMenu();
    });
    document.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape') return;
      if (!$('row-menu').hidden) closeMenu();
      else if (!$('traffic-panel').hidden && !document.querySelector('dialog[open]')) closeTraffic();
    });
    window.addEventListener('resize', () => {
      closeMenu();
      renderTraffic();
    });

    $('traffic-close').addEventListener('click', closeTraffic);

    $('add-user-btn').addEventListener('click', openAddUser);
    $('add-user-form').addEventListener('submit', submitAddUser);
    $('add-user-cancel').addEventListener('click', () => $('add-user-dialog').close());

    $('confirm-form').addEventListener('submit', (event) => {
      event.preventDefault();
      $('confirm-dialog').close();
      const action = confirmAction;
      confirmAction = null;
      if (action) action();
    });
    $('confirm-cancel').addEventListener('click', () => {
      confirmAction = null;
      $('confirm-dialog').close();
    });

    // Relative times ("polled 3s ago") stay true without a request.
    setInterval(() => {
      if (state.running) renderRouterHead();
    }, 1000);
  }

  function init() {
    bind();
    loadPrefs();
    try { state.key = sessionStorage.getItem(KEY_STORAGE) || ''; } catch (e) { state.key = ''; }
    if (state.key) startApp(null); else showKeyScreen('');
  }

  init();
})();
