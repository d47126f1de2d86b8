// Station detail (#/station/<id>): the station's header (kind, region, position, last reading, silent or not, latest
// values with units and flags), then an hourly and a daily chart of one parameter from /v1/aggregate with the
// standards' limit lines, water class bands, gaps drawn as gaps and invalid buckets marked (never drawn as zero).
//
// Limits come from the editions the API names: GB 3095-2012 Grade II (the aggregate's `standard`), GB 3838-2002 (the
// water answer's `standard`), the NMHC limits per station from /v1/voc/exceedances (Voc settings) and the NMHC trend
// early-warning threshold from the voc-trend rule (/v1/alerts/rules). An edition the console does not know gets no
// lines, and the chart says so, rather than lines of another edition.

import { latestByStation, silentStations } from '../common.js';

const HOUR = 3600 * 1000;
const DAY = 24 * HOUR;
const CHINA = 8 * HOUR;

/** Canonical parameters (README, "Topic and payload contract"): names and canonical units. */
export const PARAMS = {
  pm25: { zh: 'PM2.5', en: 'PM2.5', unit: 'µg/m³' },
  pm10: { zh: 'PM10', en: 'PM10', unit: 'µg/m³' },
  so2: { zh: '二氧化硫 SO₂', en: 'SO₂', unit: 'µg/m³' },
  no2: { zh: '二氧化氮 NO₂', en: 'NO₂', unit: 'µg/m³' },
  co: { zh: '一氧化碳 CO', en: 'CO', unit: 'mg/m³' },
  o3: { zh: '臭氧 O₃', en: 'O₃', unit: 'µg/m³' },
  nmhc: { zh: '非甲烷总烃 NMHC', en: 'NMHC', unit: 'mg/m³' },
  tvoc: { zh: 'TVOC', en: 'TVOC', unit: 'mg/m³' },
  ph: { zh: 'pH', en: 'pH', unit: '' },
  do: { zh: '溶解氧', en: 'Dissolved oxygen', unit: 'mg/L' },
  codmn: { zh: '高锰酸盐指数', en: 'Permanganate index', unit: 'mg/L' },
  cod: { zh: '化学需氧量', en: 'COD', unit: 'mg/L' },
  bod5: { zh: '五日生化需氧量', en: 'BOD₅', unit: 'mg/L' },
  nh3n: { zh: '氨氮', en: 'Ammonia nitrogen', unit: 'mg/L' },
  tp: { zh: '总磷', en: 'Total phosphorus', unit: 'mg/L' },
  tn: { zh: '总氮', en: 'Total nitrogen', unit: 'mg/L' },
  wtemp: { zh: '水温', en: 'Water temperature', unit: '°C' },
  cond: { zh: '电导率', en: 'Conductivity', unit: 'µS/cm' },
  turb: { zh: '浊度', en: 'Turbidity', unit: 'NTU' },
  temp: { zh: '气温', en: 'Air temperature', unit: '°C' },
  rh: { zh: '相对湿度', en: 'Relative humidity', unit: '%' },
  pressure: { zh: '气压', en: 'Air pressure', unit: 'kPa' },
  wspd: { zh: '风速', en: 'Wind speed', unit: 'm/s' },
  wdir: { zh: '风向', en: 'Wind direction', unit: '°' },
};

const MET = ['temp', 'rh', 'pressure', 'wspd', 'wdir'];
/** What each kind of station may report, in the order of the parameter selector. */
export const KIND_PARAMS = {
  air: ['pm25', 'pm10', 'so2', 'no2', 'co', 'o3', ...MET],
  voc: ['nmhc', 'tvoc', ...MET],
  water: ['codmn', 'nh3n', 'tp', 'do', 'ph', 'cod', 'bod5', 'tn', 'wtemp', 'cond', 'turb'],
};

/** GB 3095-2012 Grade II concentration limits (µg/m³, CO mg/m³): 24-hour limits on daily charts, 1-hour limits on
 * hourly charts (Table 1 of the standard; shared/STANDARDS.md). PM has no 1-hour limit. Keyed by the edition name the
 * aggregate answer carries. */
export const AIR_LIMITS = {
  'GB 3095-2012': {
    day: { pm25: 75, pm10: 150, so2: 150, no2: 80, co: 4 },
    hour: { so2: 500, no2: 200, co: 10, o3: 200 },
  },
};

/** GB 3838-2002 class limits for classes I..V (mg/L; pH dimensionless), as the service's WaterQualityStandard.
 * atMost: the class holds up to the limit; atLeast (DO): from the limit up; range (pH): between lo and hi. Rivers are
 * evaluated without TN and with the river TP limits; lakes with TN and the lake TP limits. */
export const WATER_LIMITS = {
  'GB 3838-2002': {
    ph: { kind: 'range', lo: [6, 6, 6, 6, 6], hi: [9, 9, 9, 9, 9] },
    do: { kind: 'atLeast', v: [7.5, 6, 5, 3, 2] },
    codmn: { kind: 'atMost', v: [2, 4, 6, 10, 15] },
    cod: { kind: 'atMost', v: [15, 15, 20, 30, 40] },
    bod5: { kind: 'atMost', v: [3, 3, 4, 6, 10] },
    nh3n: { kind: 'atMost', v: [0.15, 0.5, 1.0, 1.5, 2.0] },
    tp: { kind: 'atMost', v: [0.02, 0.1, 0.2, 0.3, 0.4], lake: [0.01, 0.025, 0.05, 0.1, 0.2] },
    tn: { kind: 'atMost', lakeOnly: true, v: [0.2, 0.5, 1.0, 1.5, 2.0] },
  },
};

export const CLASSES = ['I', 'II', 'III', 'IV', 'V'];
/** Band colours from class I (best) to 劣V (worst). */
const BAND_COLOURS = ['#cfe8ff', '#d6f2dc', '#eef7c8', '#fff0c2', '#ffdcc2', '#f8c6c6'];

export const strings = {
  zh: {
    'sd.title': '站点详情',
    'sd.kind.air': '空气站', 'sd.kind.voc': 'VOCs 监测点', 'sd.kind.water': '水质断面', 'sd.kind.unknown': '未知类型',
    'sd.region': '区域', 'sd.position': '坐标', 'sd.lastReading': '最近数据', 'sd.none': '无',
    'sd.status': '状态', 'sd.silent': '静默（无数据）', 'sd.active': '在线', 'sd.statusUnknown': '（告警未启用，仅按 24 小时有无数据判断）',
    'sd.water': '水体', 'sd.target': '目标水质', 'sd.river': '河流', 'sd.lake': '湖库',
    'sd.latest': '最新数值', 'sd.latestNone': '近 30 天无数据。', 'sd.parameter': '参数', 'sd.value': '数值',
    'sd.flag': '标记', 'sd.time': '时间', 'sd.invalidFlag': '无效',
    'sd.hourly': '小时均值', 'sd.daily': '日均值', 'sd.range': '时段', 'sd.last48': '最近 48 小时', 'sd.custom': '自选日期',
    'sd.from': '从', 'sd.to': '至', 'sd.apply': '查询', 'sd.days30': '最近 30 天', 'sd.days90': '最近 90 天',
    'sd.noValid': '所选时段内无有效数据。',
    'sd.noValidMean': '所选时段内无有效均值（每小时需 45 分钟数据，每日需 20 个有效小时）；圆点为 {0} 个单次有效读数。', 'sd.invalid': '无效', 'sd.gap': '无数据', 'sd.mean': '均值', 'sd.hourMax': '小时最大值', 'sd.readings': '单次有效读数',
    'sd.limit24h': '二级 24 小时限值', 'sd.limit1h': '二级 1 小时限值',
    'sd.nmhc1h': '1 小时均值限值', 'sd.nmhcSingle': '单次浓度限值', 'sd.nmhcTrend': '趋势预警阈值',
    'sd.class': '类', 'sd.worseV': '劣V类', 'sd.targetLine': '目标', 'sd.bandsOf': '水质类别色带',
    'sd.unknownEdition': '控制台不认识标准版本 {0}，未画限值线。', 'sd.notFound': '没有这个站点：',
    'sd.hourCount': '{0}/{1} 分钟', 'sd.dayCount': '{0}/{1} 小时', 'sd.tooLong': '小时图最多 31 天。',
    'sd.badRange': '开始日期须不晚于结束日期。', 'sd.sectionClass': '所选时段水质', 'sd.meets': '达标', 'sd.fails': '未达标',
    'sd.limitsFrom': '限值依据', 'sd.unavailable': '无法取得：',
    'sd.legendInvalid': '灰色区域：{0} 个无效时段（有数据但未达有效性规定，不画数值）；空缺：无数据。',
  },
  en: {
    'sd.title': 'Station detail',
    'sd.kind.air': 'Air station', 'sd.kind.voc': 'VOCs point', 'sd.kind.water': 'Water section', 'sd.kind.unknown': 'Unknown kind',
    'sd.region': 'Region', 'sd.position': 'Position', 'sd.lastReading': 'Last reading', 'sd.none': 'none',
    'sd.status': 'Status', 'sd.silent': 'silent (no data)', 'sd.active': 'reporting', 'sd.statusUnknown': '(alerting off: judged by data in the last 24 hours only)',
    'sd.water': 'Water body', 'sd.target': 'Target class', 'sd.river': 'river', 'sd.lake': 'lake or reservoir',
    'sd.latest': 'Latest values', 'sd.latestNone': 'No data in the last 30 days.', 'sd.parameter': 'Parameter', 'sd.value': 'Value',
    'sd.flag': 'Flag', 'sd.time': 'Time', 'sd.invalidFlag': 'invalid',
    'sd.hourly': 'Hourly means', 'sd.daily': 'Daily means', 'sd.range': 'Range', 'sd.last48': 'Last 48 hours', 'sd.custom': 'Dates',
    'sd.from': 'From', 'sd.to': 'to', 'sd.apply': 'Show', 'sd.days30': 'Last 30 days', 'sd.days90': 'Last 90 days',
    'sd.noValid': 'No valid data in this range.',
    'sd.noValidMean': 'No valid mean in this range (an hour needs 45 minutes of data, a day 20 valid hours); the dots are {0} valid readings.', 'sd.invalid': 'invalid', 'sd.gap': 'no data', 'sd.mean': 'mean', 'sd.hourMax': 'hourly maximum', 'sd.readings': 'valid readings',
    'sd.limit24h': 'Grade II 24-hour limit', 'sd.limit1h': 'Grade II 1-hour limit',
    'sd.nmhc1h': '1-hour mean limit', 'sd.nmhcSingle': 'single value limit', 'sd.nmhcTrend': 'trend early warning',
    'sd.class': '', 'sd.worseV': 'worse than V', 'sd.targetLine': 'target', 'sd.bandsOf': 'class bands',
    'sd.unknownEdition': 'The console does not know the edition {0}: no limit lines drawn.', 'sd.notFound': 'No such station: ',
    'sd.hourCount': '{0}/{1} minutes', 'sd.dayCount': '{0}/{1} hours', 'sd.tooLong': 'The hourly chart covers at most 31 days.',
    'sd.badRange': 'The first date must not be after the last.', 'sd.sectionClass': 'Class over the range', 'sd.meets': 'meets target', 'sd.fails': 'fails target',
    'sd.limitsFrom': 'Limits', 'sd.unavailable': 'Not available: ',
    'sd.legendInvalid': 'Grey: {0} invalid bucket(s) (data below the validity rule, no value drawn); breaks: no data.',
  },
};

// ---------- helpers shared with the water and VOCs pages ----------

const pad = (n) => String(n).padStart(2, '0');

/** yyyy-MM-dd of an instant in China time. */
export function chinaDate(ms) {
  const d = new Date(ms + CHINA);
  return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`;
}

/** The instant of local midnight starting a China date (yyyy-MM-dd). */
export function chinaMidnight(date) {
  return Date.parse(`${date}T00:00:00+08:00`);
}

/** MM-dd HH:mm (hours) or yyyy-MM-dd (days) of an instant, China time: axis labels (short, so that they do not
 * overlap); the tooltip names the hour with its full date (ctx.fmtTime). */
function chinaLabel(ms, daily) {
  const d = new Date(ms + CHINA);
  return daily ? `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())}`
    : `${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`;
}

/** A figure as shown everywhere in these pages: at most two decimals, no trailing zeros (6.958 -> 6.96, 75 -> 75). */
export function fmtNum(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '';
  return String(Math.round(v * 100) / 100);
}

/** Translation with this page's strings first (the framework merges them too), then the framework's. */
export function translator(ctx, table) {
  return (key, ...args) => {
    let s = (table[ctx.lang] && table[ctx.lang][key]) ?? table.zh[key] ?? ctx.t(key);
    args.forEach((a, i) => { s = s.replace(`{${i}}`, String(a)); });
    return s;
  };
}

/** A page over a chosen period: heading, the from/to date inputs and the apply button (ids `<prefix>-from`,
 * `<prefix>-to`, `<prefix>-apply`), a message line (`<prefix>-message`) and a body. load() checks the range, asks
 * `path` for it and hands the answer to show(answer, from, to); an answer overtaken by a later load() is dropped, a
 * bad range or a failed request is shown in the message line. Strings: `<prefix>.title`, `.from`, `.to`, `.apply`,
 * `.badRange`, `.unavailable`. */
export function rangePage(root, ctx, tr, { prefix, from, bodyClass, path, show }) {
  const { el } = ctx;
  const fromInput = el('input', { type: 'date', id: `${prefix}-from`, value: from, 'aria-label': tr(`${prefix}.from`) });
  const toInput = el('input', { type: 'date', id: `${prefix}-to`, value: ctx.chinaToday(), 'aria-label': tr(`${prefix}.to`) });
  const message = el('p', { class: `${prefix}-message`, id: `${prefix}-message` });
  const body = el('div', { class: bodyClass, id: `${prefix}-body` });
  let seq = 0;
  const fail = (text) => {
    message.textContent = text;
    message.className = `${prefix}-message error`;
  };
  async function load() {
    const mine = ++seq;
    const [start, end] = [fromInput.value, toInput.value];
    if (!start || !end || start > end) {
      fail(tr(`${prefix}.badRange`));
      return;
    }
    let answer;
    try {
      answer = await ctx.api(path, { from: start, to: end });
    } catch (e) {
      if (mine === seq) fail(`${tr(`${prefix}.unavailable`)}${e.message}`);
      return;
    }
    if (mine === seq) show(answer, start, end, { message, body });
  }
  root.append(
    el('h1', null, tr(`${prefix}.title`)),
    el('div', { class: 'toolbar' }, tr(`${prefix}.from`), fromInput, tr(`${prefix}.to`), toInput,
      el('button', { type: 'button', id: `${prefix}-apply`, class: 'primary', onclick: () => load() }, tr(`${prefix}.apply`))),
    message,
    body);
  return load;
}

export function kindOf(station) {
  const k = String((station && station.kind) || '').toLowerCase();
  if (k.includes('water')) return 'water';
  if (k.includes('voc')) return 'voc';
  if (k.includes('air')) return 'air';
  return 'unknown';
}

export function paramName(code, lang) {
  const p = PARAMS[code];
  return p ? p[lang] || p.zh : code;
}

/** The class label of a GB 3838 class ("IV" -> "IV类" / "Class IV"; "劣V" -> "劣V类" / "worse than V"). */
export function className(c, lang) {
  if (!c) return '';
  if (c === '劣V') return lang === 'en' ? 'worse than V' : '劣V类';
  return lang === 'en' ? `Class ${c}` : `${c}类`;
}

/** The GB 3838 class limits of a parameter for a water body ("river" | "lake"), or null when not evaluated there. */
export function waterLimit(edition, parameter, body) {
  const table = WATER_LIMITS[edition];
  const l = table && table[parameter];
  if (!l) return null;
  if (l.lakeOnly && body !== 'lake') return null;
  if (l.kind === 'range') return l;
  return { kind: l.kind, v: body === 'lake' && l.lake ? l.lake : l.v };
}

// ---------- page ----------

export async function render(root, ctx) {
  const tr = translator(ctx, strings);
  const { el } = ctx;
  const id = ctx.arg ?? decodeURIComponent(location.hash.replace(/^#\/station\/?/, ''));
  const lang = ctx.lang;

  // The station list the console asked for at login (no request of its own).
  const station = (await ctx.stations()).find((s) => s.id === id);
  if (!station) {
    root.appendChild(el('h1', null, tr('sd.title')));
    root.appendChild(el('p', { class: 'error', id: 'sd-not-found' }, `${tr('sd.notFound')}${id}`));
    return undefined;
  }
  const kind = kindOf(station);
  const params = KIND_PARAMS[kind] || [];

  // ----- header -----
  const header = el('div', { class: 'panel sd-header', id: 'sd-header' });
  root.appendChild(header);
  const latestPanel = el('div', { class: 'panel sd-latest', id: 'sd-latest' });
  root.appendChild(latestPanel);

  // All at once: the latest values (30 days back), the rules (the trend rule), the VOCs limits, and whether the
  // station is silent as the stations page says it (common.js: a pending or firing alert of a silent rule, or no
  // reading in the last 24 hours; with alerting off only the second).
  const latestAsked = ctx.api('/v1/latest', { 'selection.stationIds': station.id, withinHours: 24 * 30 })
    .then((r) => (r.readings || []).filter((x) => x.stationId === station.id), () => []);
  const day = Date.now() - DAY;
  const [latestRes, rulesRes, vocRes, silentRes] = await Promise.allSettled([
    latestAsked,
    ctx.api('/v1/alerts/rules'),
    kind === 'voc' ? ctx.api('/v1/voc/exceedances', { 'selection.stationIds': station.id, from: ctx.chinaToday(), to: ctx.chinaToday() }) : Promise.resolve(null),
    silentStations(ctx, latestAsked.then((list) => latestByStation(list.filter((r) => Date.parse(r.time) >= day)))),
  ]);
  const latest = new Map();
  for (const r of latestRes.status === 'fulfilled' ? latestRes.value : []) latest.set(r.parameter, r);
  const rules = rulesRes.status === 'fulfilled' ? rulesRes.value.rules || [] : null;
  const alertsKnown = silentRes.status === 'fulfilled' && silentRes.value.alertsKnown;
  let silent = silentRes.status === 'fulfilled' ? silentRes.value.silent.has(station.id) : !latest.size;
  const vocLimits = vocRes.status === 'fulfilled' && vocRes.value ? (vocRes.value.stations || []).find((s) => s.stationId === station.id) : null;
  const trendRule = (rules || []).find((r) => r.kind === 'voc-trend' && (r.parameter || 'nmhc') === 'nmhc'
    && (!r.stations || r.stations.length === 0 || r.stations.includes(station.id)));

  function renderHeader() {
    header.replaceChildren();
    const times = [...latest.values()].map((r) => Date.parse(r.time)).filter((n) => !Number.isNaN(n));
    const last = times.length ? new Date(Math.max(...times)).toISOString() : '';
    const status = el('span', null,
      silent ? el('span', { class: 'tag silent', id: 'sd-status', dataset: { silent: 'true' } }, tr('sd.silent'))
        : el('span', { class: 'tag ok', id: 'sd-status', dataset: { silent: 'false' } }, tr('sd.active')),
      alertsKnown ? '' : el('span', { class: 'muted' }, ` ${tr('sd.statusUnknown')}`));
    const facts = [
      [tr('sd.region'), el('span', { id: 'sd-region' }, station.region)],
      [tr('sd.position'), el('span', { id: 'sd-position' }, `${fmtCoord(station.latitude, 'N', 'S')}, ${fmtCoord(station.longitude, 'E', 'W')}`)],
      [tr('sd.lastReading'), el('span', { id: 'sd-last' }, last ? ctx.fmtTime(last) : tr('sd.none'))],
      [tr('sd.status'), status],
    ];
    if (kind === 'water') {
      facts.push([tr('sd.water'), el('span', { id: 'sd-water' }, `${station.waterName || ''} (${tr(station.waterBody === 'lake' ? 'sd.lake' : 'sd.river')})`)]);
      facts.push([tr('sd.target'), el('span', { id: 'sd-target' }, className(station.targetClass, lang))]);
    }
    if (kind === 'voc' && vocLimits) {
      facts.push([tr('sd.limitsFrom'), el('span', { id: 'sd-voc-limits' },
        `NMHC ${tr('sd.nmhc1h')} ${fmtNum(vocLimits.hourlyLimit)} mg/m³, ${tr('sd.nmhcSingle')} ${fmtNum(vocLimits.singleLimit)} mg/m³ (GB 37822-2019)`)]);
    }
    header.appendChild(el('h1', { id: 'sd-name' }, station.name));
    header.appendChild(el('p', { class: 'muted sd-sub' }, el('span', { id: 'sd-id' }, station.id), ' · ',
      el('span', { id: 'sd-kind' }, tr(`sd.kind.${kind}`))));
    header.appendChild(el('dl', { class: 'figures sd-facts' }, facts.map(([k, v]) => el('div', { class: 'figure' }, el('dt', null, k), el('dd', null, v)))));
  }

  function renderLatest() {
    latestPanel.replaceChildren(el('h2', null, tr('sd.latest')));
    const rows = [...latest.values()].sort((a, b) => order(a.parameter) - order(b.parameter));
    if (rows.length === 0) {
      latestPanel.appendChild(el('p', { class: 'muted', id: 'sd-latest-none' }, tr('sd.latestNone')));
      return;
    }
    latestPanel.appendChild(el('table', { id: 'sd-latest-table' },
      el('thead', null, el('tr', null, el('th', null, tr('sd.parameter')), el('th', { class: 'num' }, tr('sd.value')),
        el('th', null, tr('sd.flag')), el('th', null, tr('sd.time')))),
      el('tbody', null, rows.map((r) => el('tr', { dataset: { parameter: r.parameter }, class: r.valid ? '' : 'invalid' },
        el('td', null, paramName(r.parameter, lang)),
        el('td', { class: ['num', 'value', r.valid ? '' : 'invalid'] }, `${fmtNum(r.value)} ${unitOf(r.parameter)}`.trim()),
        el('td', null, r.valid ? r.flag : el('span', { class: 'tag flag' }, `${r.flag} · ${tr('sd.invalidFlag')}`)),
        el('td', null, ctx.fmtTime(r.time)))))));
  }

  const order = (p) => { const i = params.indexOf(p); return i < 0 ? 999 : i; };
  const unitOf = (p) => (PARAMS[p] ? PARAMS[p].unit : '');

  renderHeader();
  renderLatest();

  // ----- charts -----
  const measured = params.filter((p) => latest.has(p));
  let parameter = measured[0] || params[0] || '';
  const paramSelect = el('select', { id: 'sd-parameter', 'aria-label': tr('sd.parameter') },
    params.map((p) => el('option', { value: p, selected: p === parameter }, `${paramName(p, lang)}${PARAMS[p] && PARAMS[p].unit ? ` (${PARAMS[p].unit})` : ''}`)));
  const rangeSelect = el('select', { id: 'sd-hour-range', 'aria-label': tr('sd.range') },
    el('option', { value: '48h' }, tr('sd.last48')), el('option', { value: 'custom' }, tr('sd.custom')));
  const fromInput = el('input', { type: 'date', id: 'sd-from', value: ctx.chinaToday(-2), 'aria-label': tr('sd.from') });
  const toInput = el('input', { type: 'date', id: 'sd-to', value: ctx.chinaToday(), 'aria-label': tr('sd.to') });
  const custom = el('span', { class: 'sd-custom', hidden: true }, tr('sd.from'), ' ', fromInput, ' ', tr('sd.to'), ' ', toInput,
    ' ', el('button', { type: 'button', id: 'sd-apply', onclick: () => drawHourly() }, tr('sd.apply')));
  const daysSelect = el('select', { id: 'sd-days', 'aria-label': tr('sd.daily') },
    el('option', { value: '30' }, tr('sd.days30')), el('option', { value: '90' }, tr('sd.days90')));

  root.appendChild(el('div', { class: 'toolbar sd-toolbar' }, el('label', { for: 'sd-parameter' }, tr('sd.parameter')), paramSelect));
  const hourlyPanel = el('div', { class: 'panel sd-chart-panel' });
  const dailyPanel = el('div', { class: 'panel sd-chart-panel' });
  root.appendChild(el('div', { class: 'sd-charts' }, hourlyPanel, dailyPanel));

  const hourlyNote = el('p', { class: 'sd-note', id: 'sd-hourly-note' });
  const dailyNote = el('p', { class: 'sd-note', id: 'sd-daily-note' });
  const hourlyBox = el('div', { class: 'chart', id: 'sd-hourly-chart' });
  const dailyBox = el('div', { class: 'chart', id: 'sd-daily-chart' });
  const sectionLine = el('p', { class: 'sd-section-class', id: 'sd-section-class' });
  hourlyPanel.append(el('div', { class: 'toolbar' }, el('h2', null, tr('sd.hourly')), rangeSelect, custom), hourlyNote, hourlyBox);
  dailyPanel.append(el('div', { class: 'toolbar' }, el('h2', null, tr('sd.daily')), daysSelect), dailyNote, sectionLine, dailyBox);

  const charts = { hourly: null, daily: null };
  function show(which, box, option) {
    if (charts[which]) charts[which].setOption(option, { notMerge: true });
    else charts[which] = ctx.chart(box, option);
  }

  let seq = 0;
  async function drawHourly() {
    const mine = ++seq;
    let from;
    let to;
    let first;
    let last;
    const now = Date.now();
    const currentHour = Math.floor(now / HOUR) * HOUR;
    if (rangeSelect.value === '48h') {
      first = currentHour - 48 * HOUR;
      last = currentHour - HOUR;
      from = chinaDate(first);
      to = chinaDate(last);
    } else {
      from = fromInput.value;
      to = toInput.value;
      if (!from || !to || from > to) { hourlyNote.textContent = tr('sd.badRange'); hourlyNote.className = 'sd-note error'; return; }
      if (chinaMidnight(to) - chinaMidnight(from) > 30 * DAY) { hourlyNote.textContent = tr('sd.tooLong'); hourlyNote.className = 'sd-note error'; return; }
      first = chinaMidnight(from);
      last = Math.min(chinaMidnight(to) + 23 * HOUR, currentHour - HOUR);
    }
    const p = parameter;
    try {
      const agg = await ctx.api('/v1/aggregate', { 'selection.stationIds': station.id, parameter: p, period: 'PERIOD_HOUR', from, to });
      const water = kind === 'water' ? await waterFor(from, to, p, first, last + HOUR) : null;
      if (mine !== seq) return;
      const figure = chartOption(agg, 'hour', first, last, water);
      noteFor(hourlyNote, figure);
      show('hourly', hourlyBox, figure.option);
    } catch (e) {
      hourlyNote.textContent = `${tr('sd.unavailable')}${e.message}`;
      hourlyNote.className = 'sd-note error';
    }
  }

  let dseq = 0;
  async function drawDaily() {
    const mine = ++dseq;
    const days = Number(daysSelect.value);
    // Complete local days only: today is still running and would look invalid.
    const to = ctx.chinaToday(-1);
    const from = ctx.chinaToday(-days);
    const p = parameter;
    try {
      const agg = await ctx.api('/v1/aggregate', { 'selection.stationIds': station.id, parameter: p, period: 'PERIOD_DAY', from, to });
      const water = kind === 'water' ? await waterFor(from, to, p, chinaMidnight(from), chinaMidnight(to) + DAY) : null;
      if (mine !== dseq) return;
      const figure = chartOption(agg, 'day', chinaMidnight(from), chinaMidnight(to), water);
      noteFor(dailyNote, figure);
      sectionLine.replaceChildren();
      if (water && water.section) {
        const s = water.section;
        sectionLine.append(`${tr('sd.sectionClass')} (${from} – ${to}): `,
          el('strong', { id: 'sd-section-class-value' }, s.waterClass ? className(s.waterClass, lang) : '—'), ' ',
          s.waterClass ? el('span', { class: ['tag', s.meetsTarget ? 'ok' : 'flag'] }, tr(s.meetsTarget ? 'sd.meets' : 'sd.fails')) : '');
      }
      show('daily', dailyBox, figure.option);
    } catch (e) {
      dailyNote.textContent = `${tr('sd.unavailable')}${e.message}`;
      dailyNote.className = 'sd-note error';
    }
  }

  /** The section's GB 3838 evaluation over the dates (its edition names the bands) and its valid readings of the
   * parameter: sections often sample every few hours, too few for the 45-minute hourly rule the aggregate applies,
   * so their readings are drawn as points beside the means. */
  async function waterFor(from, to, p, startMs, endMs) {
    const [w, readings] = await Promise.all([
      ctx.api('/v1/water', { 'selection.stationIds': station.id, from, to }).catch(() => null),
      readingsOf(p, startMs, endMs).catch(() => []),
    ]);
    return {
      standard: w ? w.standard : '',
      section: w ? (w.sections || []).find((s) => s.stationId === station.id) || null : null,
      readings,
    };
  }

  async function readingsOf(p, startMs, endMs) {
    const out = [];
    let pageToken = '';
    for (let page = 0; page < 4; page++) {
      const r = await ctx.api(`/v1/stations/${encodeURIComponent(station.id)}/readings`, {
        parameter: p, from: new Date(startMs).toISOString(), to: new Date(endMs).toISOString(), pageSize: 5000, pageToken,
      });
      for (const x of r.readings || []) if (x.valid) out.push([Date.parse(x.time), x.value]);
      pageToken = r.nextPageToken;
      if (!pageToken) break;
    }
    return out;
  }

  function noteFor(node, figure) {
    node.className = `sd-note${figure.valid === 0 ? ' sd-no-valid' : ''}`;
    const none = figure.readings > 0 ? tr('sd.noValidMean', figure.readings) : tr('sd.noValid');
    node.textContent = [figure.valid === 0 ? none : '', ...figure.notes, figure.invalid > 0 ? tr('sd.legendInvalid', figure.invalid) : '']
      .filter(Boolean).join(' ');
    node.dataset.valid = String(figure.valid);
  }

  /** The ECharts option of one aggregate (with the notes to show above it and how many buckets are valid): a time axis in China time, one point per bucket (null when the bucket has
   * no valid mean, so gaps and invalid buckets break the line), invalid buckets (some data, too little) as grey
   * areas, limit lines and class bands. */
  function chartOption(agg, period, first, last, water) {
    const daily = period === 'day';
    const width = daily ? DAY : HOUR;
    const series = (agg.stations || [])[0] || { buckets: [] };
    const buckets = (series.buckets || []).map((b) => ({ ...b, t: Date.parse(b.start) })).filter((b) => b.t >= first && b.t <= last);
    const p = agg.parameter;
    const unit = agg.unit === '1' ? '' : agg.unit || unitOf(p);
    const name = paramName(p, lang);
    const means = buckets.map((b) => [b.t, b.valid && typeof b.mean === 'number' ? b.mean : null]);
    const validCount = means.filter((m) => m[1] !== null).length;
    const invalidAreas = buckets.filter((b) => !b.valid && b.count > 0).map((b) => [
      {
        name: `${tr('sd.invalid')} ${tr(daily ? 'sd.dayCount' : 'sd.hourCount', b.count, b.required)}`,
        xAxis: b.t,
        itemStyle: { color: 'rgba(120,120,120,0.28)' },
        label: { show: false },
        invalid: true,
      },
      { xAxis: b.t + width },
    ]);
    const notes = [];
    const lines = [];
    const bands = [];
    let top = Math.max(0, ...means.filter((m) => m[1] !== null).map((m) => m[1]));
    let bottom = Math.min(0, ...means.filter((m) => m[1] !== null).map((m) => m[1]));

    // Air: GB 3095 Grade II limits of the edition the API used.
    if (kind === 'air') {
      const edition = AIR_LIMITS[agg.standard];
      const limit = edition && edition[period] ? edition[period][p] : undefined;
      if (!edition) notes.push(tr('sd.unknownEdition', agg.standard));
      if (limit !== undefined) {
        lines.push(limitLine(limit, `${agg.standard} ${tr(daily ? 'sd.limit24h' : 'sd.limit1h')} ${fmtNum(limit)}`, '#c62828', 'solid'));
        top = Math.max(top, limit);
      }
    }
    // VOCs: NMHC 1-hour and single value limits (GB 37822-2019 defaults, Voc settings per station) and the trend
    // early-warning threshold (the voc-trend rule's threshold, by default the station's 1-hour limit).
    let maxSeries = null;
    if (kind === 'voc' && p === 'nmhc' && vocLimits && !daily) {
      const hourly = vocLimits.hourlyLimit;
      const single = vocLimits.singleLimit;
      lines.push(limitLine(hourly, `${tr('sd.nmhc1h')} ${fmtNum(hourly)}`, '#c62828', 'solid'));
      lines.push(limitLine(single, `${tr('sd.nmhcSingle')} ${fmtNum(single)}`, '#7e0023', 'dashed'));
      if (trendRule) {
        const warn = trendRule.hasThreshold ? trendRule.threshold : hourly;
        lines.push(limitLine(warn, `${tr('sd.nmhcTrend')} ${fmtNum(warn)} (${trendRule.name})`, '#ff7e00', 'dotted', 'insideStartTop'));
      }
      top = Math.max(top, single);
      // The hour's largest value: what the single value limit is about.
      maxSeries = buckets.map((b) => [b.t, b.valid && typeof b.max === 'number' ? b.max : null]);
      top = Math.max(top, ...maxSeries.filter((m) => m[1] !== null).map((m) => m[1]));
    }
    // Water: GB 3838 class bands of the edition the water answer names; the target class's limit as a line.
    if (kind === 'water' && water) {
      const limit = waterLimit(water.standard, p, station.waterBody);
      if (!WATER_LIMITS[water.standard] && water.standard) notes.push(tr('sd.unknownEdition', water.standard));
      if (limit) {
        const target = CLASSES.indexOf(station.targetClass);
        if (limit.kind === 'range') {
          top = Math.max(top, limit.hi[4] + 1);
          bottom = Math.min(bottom, limit.lo[4] - 1);
          bands.push(band(limit.lo[4], limit.hi[4], `${water.standard} I–V ${limit.lo[4]}–${limit.hi[4]}`, BAND_COLOURS[2]));
          lines.push(limitLine(limit.lo[4], `${fmtNum(limit.lo[4])}`, '#c62828', 'solid'));
          lines.push(limitLine(limit.hi[4], `${fmtNum(limit.hi[4])}`, '#c62828', 'solid'));
        } else {
          top = Math.max(top, limit.kind === 'atMost' ? limit.v[4] * 1.2 : limit.v[0] * 1.2);
          bands.push(...classBands(limit));
          if (target >= 0) {
            const v = limit.v[target];
            lines.push(limitLine(v, `${tr('sd.targetLine')} ${className(station.targetClass, lang)} ${fmtNum(v)}`, '#0b6bcb', 'solid'));
          }
        }
      }
    }
    const yMax = niceCeil(top * 1.05 || 1);
    const yMin = bottom < 0 ? -niceCeil(-bottom * 1.05) : 0;
    // Bands are open at the top: they end at the axis maximum the page sets.
    for (const b of bands) if (b[1].yAxis === Infinity) Object.assign(b[1], { yAxis: yMax, open: true });

    const option = {
      animation: false,
      grid: { left: 56, right: 28, top: 40, bottom: 40 },
      tooltip: {
        trigger: 'axis',
        renderMode: 'richText', // drawn on the canvas: no HTML, nothing to inject, nothing for the CSP to refuse
        formatter: (items) => tooltipText(items, buckets, daily, unit),
      },
      legend: { top: 4, data: maxSeries ? [`${name} ${tr('sd.mean')}`, `${name} ${tr('sd.hourMax')}`] : [`${name} ${tr('sd.mean')}`] },
      xAxis: {
        type: 'time',
        min: first,
        max: last,
        axisLabel: { formatter: (v) => chinaLabel(v, daily), hideOverlap: true },
      },
      yAxis: { type: 'value', name: unit, min: yMin, max: yMax },
      dataZoom: daily ? [] : [{ type: 'inside' }],
      series: [
        {
          id: 'mean',
          name: `${name} ${tr('sd.mean')}`,
          type: 'line',
          data: means,
          connectNulls: false,
          showSymbol: true,
          symbolSize: 5,
          lineStyle: { width: 2 },
          markLine: { symbol: 'none', silent: true, data: lines },
          markArea: { silent: true, data: [...bands, ...invalidAreas] },
        },
      ],
    };
    if (water && water.readings && water.readings.length) {
      option.legend.data.push(`${name} ${tr('sd.readings')}`);
      option.series.push({
        id: 'readings', name: `${name} ${tr('sd.readings')}`, type: 'scatter', data: water.readings, symbolSize: 7,
        itemStyle: { color: '#10324f' },
      });
      top = Math.max(top, ...water.readings.map((r) => r[1]));
      option.yAxis.max = niceCeil(top * 1.05 || 1);
      for (const b of bands) if (b[1].open) b[1].yAxis = option.yAxis.max;
    }
    if (maxSeries) {
      option.series.push({
        id: 'max', name: `${name} ${tr('sd.hourMax')}`, type: 'line', data: maxSeries, connectNulls: false,
        showSymbol: true, symbolSize: 3, lineStyle: { width: 1, type: 'dashed' },
      });
    }
    return { option, notes, valid: validCount, invalid: invalidAreas.length, readings: water && water.readings ? water.readings.length : 0 };
  }

  /** Bands per class, each from one class limit to the next (equal limits, e.g. COD I and II at 15, give the better
   * class only); the worst band (劣V) is open and ends at the axis maximum. */
  function classBands(limit) {
    const out = [];
    const v = limit.v;
    if (limit.kind === 'atMost') {
      let lower = 0;
      for (let i = 0; i < 5; i++) {
        if (v[i] > lower) out.push(band(lower, v[i], `${className(CLASSES[i], lang)} ≤ ${fmtNum(v[i])}`, BAND_COLOURS[i]));
        lower = Math.max(lower, v[i]);
      }
      out.push(band(v[4], Infinity, `${className('劣V', lang)} > ${fmtNum(v[4])}`, BAND_COLOURS[5]));
    } else {
      out.push(band(v[0], Infinity, `${className('I', lang)} ≥ ${fmtNum(v[0])}`, BAND_COLOURS[0]));
      for (let i = 1; i < 5; i++) out.push(band(v[i], v[i - 1], `${className(CLASSES[i], lang)} ≥ ${fmtNum(v[i])}`, BAND_COLOURS[i]));
      out.push(band(0, v[4], `${className('劣V', lang)} < ${fmtNum(v[4])}`, BAND_COLOURS[5]));
    }
    return out;
  }

  function band(lo, hi, label, colour) {
    return [
      { name: label, yAxis: lo, itemStyle: { color: colour, opacity: 0.55 }, label: { position: 'insideRight', color: '#33404d', fontSize: 11 }, band: true },
      { yAxis: hi },
    ];
  }

  function limitLine(value, label, colour, type, position = 'insideEndTop') {
    return { name: label, yAxis: value, lineStyle: { color: colour, type, width: 2 }, label: { formatter: '{b}', position, color: colour } };
  }

  function tooltipText(items, buckets, daily, unit) {
    const list = Array.isArray(items) ? items : [items];
    if (list.length === 0) return '';
    const t = list[0].value[0];
    const b = buckets.find((x) => x.t === t);
    const lines = [daily ? chinaLabel(t, true) : ctx.fmtTime(new Date(t).toISOString())]; // the full date, not the axis' short label
    for (const it of list) {
      const v = it.value[1];
      lines.push(`${it.seriesName}: ${v === null || v === undefined ? '—' : `${fmtNum(v)} ${unit}`}`);
    }
    if (b) {
      const counted = tr(daily ? 'sd.dayCount' : 'sd.hourCount', b.count, b.required);
      lines.push(b.valid ? counted : `${b.count > 0 ? tr('sd.invalid') : tr('sd.gap')} (${counted}${b.note ? `; ${b.note}` : ''})`);
    }
    return lines.join('\n');
  }

  function redraw() {
    drawHourly();
    drawDaily();
  }
  paramSelect.addEventListener('change', () => { parameter = paramSelect.value; redraw(); });
  rangeSelect.addEventListener('change', () => { custom.hidden = rangeSelect.value !== 'custom'; if (rangeSelect.value === '48h') drawHourly(); });
  daysSelect.addEventListener('change', () => drawDaily());

  await Promise.all([drawHourly(), drawDaily()]);

  // Latest values follow the live channel.
  ctx.live.on('reading', (r) => {
    if (!r || r.stationId !== station.id || !r.parameter) return;
    const known = latest.get(r.parameter);
    if (known && Date.parse(known.time) > Date.parse(r.time)) return;
    latest.set(r.parameter, r);
    if (r.valid) silent = false; // it reports (as the stations page shows a silent station that reports again)
    renderHeader();
    renderLatest();
  });
  return undefined;
}

function fmtCoord(v, pos, neg) {
  if (typeof v !== 'number') return '';
  return `${Math.abs(v).toFixed(4)}°${v >= 0 ? pos : neg}`;
}

/** The next "nice" number at or above v (1, 2, 2.5, 5 × 10^n), for the top of an axis. */
function niceCeil(v) {
  if (!(v > 0)) return 1;
  const e = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10]) if (m * e >= v - 1e-12) return Number((m * e).toPrecision(12));
  return 10 * e;
}
