// EcoMonitor web console: router, API key prompt, i18n, live channel and the ctx handed to each page.
//
// A page is an ES module in js/pages/<name>.js exporting
//   export async function render(root, ctx)   // may return a cleanup function, called when the page is left
//   export const strings = { zh: {...}, en: {...} }
// ctx = { api(path, params), post(path, body), t(key), lang, role, name, stations(), live.on(kind, fn), el(tag, attrs,
//   ...children), fmtTime(iso), fmtDate(iso), chart(container, option), route: { name, args }, arg, can(role), go(hash) }.
// Everything a page shows goes through el(), which sets text only (textContent / text nodes), never HTML.

const KEY_STORAGE = 'ecomonitor.apiKey';
const LANG_STORAGE = 'ecomonitor.lang';
const LAST_STATION = 'ecomonitor.lastStation';

const ROUTES = ['overview', 'alerts', 'stations', 'station', 'water', 'voc'];
const ROLES = ['Reader', 'Duty', 'Operator'];

const BASE_STRINGS = {
  zh: {
    'app.title': 'EcoMonitor 环境监测控制台',
    'nav.overview': '总览', 'nav.alerts': '告警', 'nav.stations': '站点', 'nav.station': '站点详情',
    'nav.water': '水质断面', 'nav.voc': 'VOCs',
    'login.title': '请输入 API 密钥', 'login.key': 'API 密钥', 'login.submit': '进入',
    'login.hint': '密钥只保存在本浏览器会话中，关闭标签页即清除。',
    'login.required': '请输入密钥。', 'login.refused': '密钥被拒绝：',
    'logout': '退出', 'lang.switch': 'EN',
    'role.Reader': '只读', 'role.Duty': '值班', 'role.Operator': '运维',
    'live.on': '实时', 'live.off': '实时连接中断，重连中…', 'live.connecting': '连接中…',
    'page.loading': '加载中…', 'page.error': '页面出错：', 'page.missing': '该页面尚不可用。',
    'banner.critical': '严重告警', 'banner.dismiss': '关闭',
  },
  en: {
    'app.title': 'EcoMonitor console',
    'nav.overview': 'Overview', 'nav.alerts': 'Alerts', 'nav.stations': 'Stations', 'nav.station': 'Station detail',
    'nav.water': 'Water sections', 'nav.voc': 'VOCs',
    'login.title': 'Enter your API key', 'login.key': 'API key', 'login.submit': 'Enter',
    'login.hint': 'The key is kept in this browser session only and cleared when the tab closes.',
    'login.required': 'Please enter a key.', 'login.refused': 'Key refused: ',
    'logout': 'Log out', 'lang.switch': '中文',
    'role.Reader': 'reader', 'role.Duty': 'duty', 'role.Operator': 'operator',
    'live.on': 'live', 'live.off': 'live channel lost, reconnecting…', 'live.connecting': 'connecting…',
    'page.loading': 'Loading…', 'page.error': 'The page failed: ', 'page.missing': 'This page is not available yet.',
    'banner.critical': 'Critical alert', 'banner.dismiss': 'Dismiss',
  },
};

const state = {
  lang: localStorage.getItem(LANG_STORAGE) === 'en' ? 'en' : 'zh',
  key: sessionStorage.getItem(KEY_STORAGE) || '',
  who: null,              // { name, role }
  strings: { zh: { ...BASE_STRINGS.zh }, en: { ...BASE_STRINGS.en } },
  stations: null,         // Promise of the station list
  page: null,             // { cleanup: [] } of the page shown
  renderSeq: 0,
};

const $ = (id) => document.getElementById(id);

export function t(key) {
  return state.strings[state.lang][key] ?? state.strings.zh[key] ?? key;
}

// ---------- DOM builder: text only ----------

/** el('div', { class: 'x', onclick: fn, style: { color: 'red' }, dataset: { id: 'a' } }, 'text', child, [more]) */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  if (attrs) {
    for (const [name, value] of Object.entries(attrs)) {
      if (value === undefined || value === null || value === false) continue;
      if (name === 'class') node.className = Array.isArray(value) ? value.filter(Boolean).join(' ') : String(value);
      else if (name === 'style' && typeof value === 'object') Object.assign(node.style, value);
      else if (name === 'dataset') Object.assign(node.dataset, value);
      else if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2).toLowerCase(), value);
      else if (name === 'text') node.textContent = String(value);
      else if (name === 'innerHTML' || name === 'outerHTML' || name.startsWith('on') || name === 'style' || name === 'srcdoc') {
        throw new Error(`el: attribute ${name} is not allowed`);
      } else if (name === 'value' || name === 'checked' || name === 'disabled' || name === 'selected' || name === 'hidden') {
        node[name] = value;
      } else node.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(node, children);
  return node;
}

function append(node, children) {
  for (const child of children) {
    if (child === undefined || child === null || child === false) continue;
    if (Array.isArray(child)) append(node, child);
    else if (child instanceof Node) node.appendChild(child);
    else node.appendChild(document.createTextNode(String(child)));
  }
}

function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
}

// ---------- China time ----------

const CHINA_OFFSET_MS = 8 * 3600 * 1000;
const pad = (n) => String(n).padStart(2, '0');

/** yyyy-MM-dd HH:mm in China time (UTC+8) for an RFC 3339 instant; '' for nothing. */
export function fmtTime(iso) {
  if (!iso) return '';
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return String(iso);
  const d = new Date(ms + CHINA_OFFSET_MS);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** yyyy-MM-dd in China time; a local date ("yyyy-MM-dd") is returned as it is. */
export function fmtDate(iso) {
  if (!iso) return '';
  if (/^\d{4}-\d{2}-\d{2}$/.test(iso)) return iso;
  return fmtTime(iso).slice(0, 10);
}

/** Today's date in China, yyyy-MM-dd. */
export function chinaToday(offsetDays = 0) {
  const d = new Date(Date.now() + CHINA_OFFSET_MS + offsetDays * 86400000);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

// ---------- API ----------

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;   // HTTP status
    this.code = code;       // gRPC status code (number) when the API said
  }
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, String(x)));
    else q.append(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

async function request(method, path, body) {
  const headers = { 'x-api-key': state.key, accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response;
  try {
    response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' });
  } catch (e) {
    throw new ApiError(0, 14, `${method} ${path}: ${e.message}`);
  }
  const text = await response.text();
  let json = null;
  try { json = text ? JSON.parse(text) : {}; } catch { json = null; }
  if (!response.ok) {
    const message = json && typeof json.message === 'string' ? json.message : `HTTP ${response.status}`;
    const code = json && typeof json.code === 'number' ? json.code : undefined;
    const error = new ApiError(response.status, code, `${response.status}${code !== undefined ? ` (gRPC ${code})` : ''}: ${message}`);
    // 401: the key is unknown (or gone from the configuration): back to the prompt. 403 is a call the key's role may
    // not make (e.g. a reader acknowledging): the key stays valid, the caller shows the refusal.
    if (response.status === 401) logout(`${t('login.refused')}${message}`);
    throw error;
  }
  if (json === null) throw new ApiError(response.status, undefined, `${method} ${path}: the answer is not JSON`);
  return json;
}

export const api = (path, params) => request('GET', path + query(params));
export const post = (path, body) => request('POST', path, body ?? {});

// ---------- live channel (server-sent events over fetch, since EventSource cannot send headers) ----------

const live = {
  listeners: { reading: new Set(), alert: new Set() },
  controller: null,
  delay: 1000,
  timer: null,
  on(kind, fn) {
    if (!this.listeners[kind]) throw new Error(`live.on: unknown kind ${kind}`);
    this.listeners[kind].add(fn);
    return () => this.listeners[kind].delete(fn);
  },
  emit(kind, data) {
    for (const fn of [...(this.listeners[kind] || [])]) {
      try { fn(data); } catch (e) { console.error(e); }
    }
  },
  status(s) {
    const node = $('live-status');
    node.className = `live-status live-${s}`;
    node.textContent = t(`live.${s}`);
    node.dataset.state = s;
  },
  start() {
    this.stop();
    const controller = new AbortController();
    this.controller = controller;
    this.status('connecting');
    this.run(controller).catch(() => {}).finally(() => {
      if (this.controller !== controller || controller.signal.aborted) return;
      this.status('off');
      this.timer = setTimeout(() => this.start(), this.delay);
      this.delay = Math.min(this.delay * 2, 30000);
    });
  },
  stop() {
    clearTimeout(this.timer);
    if (this.controller) this.controller.abort();
    this.controller = null;
  },
  async run(controller) {
    const response = await fetch('/v1/live', { headers: { 'x-api-key': state.key }, signal: controller.signal, cache: 'no-store' });
    if (response.status === 401) {
      let message = `HTTP ${response.status}`;
      try { message = (await response.json()).message || message; } catch { /* keep the status */ }
      logout(`${t('login.refused')}${message}`);
      return;
    }
    if (!response.ok || !response.body) throw new Error(`live: HTTP ${response.status}`);
    this.status('on');
    this.delay = 1000;
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let event = 'message';
        const data = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          if (line.startsWith('event:')) event = line.slice(6).trim();
          else if (line.startsWith('data:')) data.push(line.slice(5).replace(/^ /, ''));
        }
        if (data.length) {
          let parsed;
          try { parsed = JSON.parse(data.join('\n')); } catch { continue; }
          this.emit(event, parsed);
        }
      }
    }
    throw new Error('live: the stream ended');
  },
};

// ---------- session ----------

function logout(reason) {
  sessionStorage.removeItem(KEY_STORAGE);
  state.key = '';
  state.who = null;
  state.stations = null;
  live.stop();
  leavePage();
  showLogin(reason || '');
}

async function login(key) {
  state.key = key;
  // The station list is wanted by every page: asked for together with the key's role.
  state.stations = api('/v1/stations').then((r) => r.stations || []);
  state.stations.catch(() => { state.stations = null; });
  const who = await api('/v1/whoami');
  if (!ROLES.includes(who.role)) throw new Error(`unknown role ${who.role}`);
  sessionStorage.setItem(KEY_STORAGE, key);
  state.who = who;
  live.delay = 1000;
  live.start();
  renderShell();
  if (!location.hash || location.hash === '#' || location.hash === '#/') location.hash = '#/overview';
  else route();
}

function showLogin(reason) {
  renderShell();
  const main = $('main');
  clear(main);
  const input = el('input', { type: 'password', id: 'api-key', name: 'api-key', autocomplete: 'off', required: true, 'aria-label': t('login.key') });
  const message = el('p', { class: 'login-error', id: 'login-error', role: 'alert' }, reason || '');
  const form = el('form', { class: 'login', id: 'login-form' },
    el('h1', null, t('login.title')),
    el('label', { for: 'api-key' }, t('login.key')),
    input,
    el('button', { type: 'submit', id: 'login-submit' }, t('login.submit')),
    message,
    el('p', { class: 'hint' }, t('login.hint')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const key = input.value.trim();
    if (!key) { message.textContent = t('login.required'); return; }
    message.textContent = '';
    try {
      await login(key);
    } catch (err) {
      state.key = '';
      if (!$('login-form')) showLogin(err.message);
      else $('login-error').textContent = err.status ? `${t('login.refused')}${err.message}` : err.message;
    }
  });
  main.appendChild(form);
  input.focus();
}

// ---------- shell ----------

function renderShell() {
  document.title = t('app.title');
  document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
  const nav = $('nav');
  clear(nav);
  if (state.who) {
    for (const name of ROUTES) {
      nav.appendChild(el('a', { href: `#/${name}`, id: `nav-${name}`, class: 'nav-link', dataset: { route: name } }, t(`nav.${name}`)));
    }
  }
  $('lang').textContent = t('lang.switch');
  const logoutButton = $('logout');
  logoutButton.textContent = t('logout');
  logoutButton.hidden = !state.who;
  $('who').textContent = state.who ? `${state.who.name} · ${t(`role.${state.who.role}`)}` : '';
  if (!state.who) { $('live-status').textContent = ''; $('live-status').className = 'live-status'; }
  else live.status($('live-status').dataset.state || 'connecting');
  markNav();
}

function markNav() {
  const current = parseHash().name;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.route === current);
}

function parseHash() {
  const parts = location.hash.replace(/^#\/?/, '').split('/').filter((p) => p.length > 0).map((p) => {
    try { return decodeURIComponent(p); } catch { return p; }
  });
  return { name: parts[0] || 'overview', args: parts.slice(1) };
}

// ---------- critical alert banner (every page) ----------

function onAlertEvent(e) {
  if (e.kind !== 'fired' || e.severity !== 'critical') return;
  const banner = $('banner');
  clear(banner);
  banner.appendChild(el('strong', null, `${t('banner.critical')}: `));
  banner.appendChild(el('span', { class: 'banner-text' }, `${e.rule} · ${e.subject} · ${fmtTime(e.at)} · ${e.detail}`));
  banner.appendChild(el('a', { href: '#/alerts', class: 'banner-link' }, t('nav.alerts')));
  banner.appendChild(el('button', { type: 'button', class: 'banner-close', onclick: () => { banner.hidden = true; } }, t('banner.dismiss')));
  banner.hidden = false;
}
live.on('alert', onAlertEvent);

// ---------- pages ----------

function leavePage() {
  const page = state.page;
  state.page = null;
  if (!page) return;
  for (const fn of page.cleanup.reverse()) {
    try { fn(); } catch (e) { console.error(e); }
  }
}

function makeContext(page, routeInfo) {
  return {
    api, post, el, fmtTime, fmtDate, chinaToday, t,
    lang: state.lang,
    role: state.who.role,
    name: state.who.name,
    route: routeInfo,
    arg: routeInfo.args[0],
    /** Whether the key's role is at least the given one ('Reader' | 'Duty' | 'Operator'). */
    can: (role) => ROLES.indexOf(state.who.role) >= ROLES.indexOf(role),
    go: (hash) => { location.hash = hash; },
    stations: () => {
      if (!state.stations) {
        state.stations = api('/v1/stations').then((r) => r.stations || []);
        state.stations.catch(() => { state.stations = null; });
      }
      return state.stations;
    },
    live: {
      on: (kind, fn) => {
        const off = live.on(kind, fn);
        page.cleanup.push(off);
        return off;
      },
    },
    chart: (container, option) => {
      if (!window.echarts) throw new Error('ECharts is not loaded');
      const instance = window.echarts.init(container, null, { renderer: 'canvas' });
      // ECharts' HTML tooltips take their text as HTML: the default here is the canvas ("richText") tooltip, so
      // station names and other texts in a tooltip stay text. A page that asks for renderMode 'html' must escape.
      const safe = { ...option };
      if (safe.tooltip && !Array.isArray(safe.tooltip) && !safe.tooltip.renderMode) safe.tooltip = { ...safe.tooltip, renderMode: 'richText' };
      instance.setOption(safe);
      const resize = () => instance.resize();
      window.addEventListener('resize', resize);
      page.cleanup.push(() => { window.removeEventListener('resize', resize); instance.dispose(); });
      return instance;
    },
  };
}

const loaded = new Map();

async function loadPage(name) {
  if (!loaded.has(name)) {
    loaded.set(name, import(`./pages/${name}.js`).then((module) => {
      for (const lang of ['zh', 'en']) Object.assign(state.strings[lang], (module.strings && module.strings[lang]) || {});
      return module;
    }).catch((e) => { loaded.delete(name); throw e; }));
  }
  return loaded.get(name);
}

async function route() {
  if (!state.who) return;
  const info = parseHash();
  if (!ROUTES.includes(info.name)) { location.hash = '#/overview'; return; }
  if (info.name === 'station' && info.args.length === 0) {
    // The station detail needs a station: the last one viewed, or the first of the list.
    const last = sessionStorage.getItem(LAST_STATION);
    let id = last;
    if (!id) {
      try { id = ((await makeContext({ cleanup: [] }, info).stations())[0] || {}).id; } catch { id = null; }
    }
    location.hash = id ? `#/station/${encodeURIComponent(id)}` : '#/stations';
    return;
  }
  if (info.name === 'station') sessionStorage.setItem(LAST_STATION, info.args[0]);
  leavePage();
  markNav();
  const seq = ++state.renderSeq;
  const page = { cleanup: [] };
  state.page = page;
  const main = $('main');
  clear(main);
  const root = el('section', { class: `page page-${info.name}`, id: `page-${info.name}`, 'aria-busy': 'true' });
  main.appendChild(root);
  root.appendChild(el('p', { class: 'loading' }, t('page.loading')));
  let module;
  try {
    module = await loadPage(info.name);
  } catch (e) {
    if (seq !== state.renderSeq) return;
    clear(root);
    root.appendChild(el('p', { class: 'error' }, t('page.missing')));
    root.setAttribute('aria-busy', 'false');
    return;
  }
  if (seq !== state.renderSeq) return;
  clear(root);
  try {
    const cleanup = await module.render(root, makeContext(page, info));
    if (typeof cleanup === 'function') page.cleanup.push(cleanup);
  } catch (e) {
    if (state.page !== page) return;
    if (e && e.status === 401) return; // back at the prompt already
    root.appendChild(el('p', { class: 'error page-error' }, `${t('page.error')}${e && e.message ? e.message : e}`));
  }
  if (state.page === page) {
    root.setAttribute('aria-busy', 'false');
    root.dataset.loaded = 'true';
    // Time since the navigation started, for the load benchmark (bench/EcoMonitor.ConsoleBench).
    performance.mark('console:page-rendered', { detail: info.name });
  }
}

function switchLanguage() {
  state.lang = state.lang === 'zh' ? 'en' : 'zh';
  localStorage.setItem(LANG_STORAGE, state.lang);
  renderShell();
  if (state.who) route(); else showLogin('');
}

function start() {
  $('lang').addEventListener('click', switchLanguage);
  $('logout').addEventListener('click', () => logout(''));
  window.addEventListener('hashchange', route);
  if (state.key) {
    login(state.key).catch((e) => { if (!state.who && !$('login-form')) logout(e.message); });
  } else {
    showLogin('');
  }
}

start();
