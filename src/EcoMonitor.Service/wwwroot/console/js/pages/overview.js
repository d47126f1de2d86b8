// Overview: the zone's PM2.5 target progress, the latest hourly AQI of today per air station, alert counts and the
// stations silent now. Every figure is the API's (/v1/target, /v1/aqi, /v1/alerts, /v1/latest), the projection and
// the mean the remaining days must stay under included (the service's TargetCalculator, as the pm25-target rule uses).
import { AQI_COLOURS, AQI_ITEMS, COMMON_STRINGS, kindOf, latestByStation, num, pct, silentStations } from '../common.js';

export const strings = {
  zh: {
    ...COMMON_STRINGS.zh,
    'ov.title': '总览',
    'ov.target': 'PM2.5 年度目标进度（全区）',
    'ov.asOf': '截至', 'ov.current': '今年累计均值', 'ov.previous': '去年同期均值', 'ov.change': '同比变化',
    'ov.targetPct': '目标', 'ov.projection': '预计全年均值', 'ov.required': '余下天数均值需不高于',
    'ov.days': '有效天数', 'ov.onTrack': '可完成目标', 'ov.offTrack': '未达目标进度', 'ov.unknown': '无法判断',
    'ov.noProjection': '去年年均值无效，无法预计', 'ov.remaining': '余下 {n} 天',
    'ov.aqi': '今日空气质量（最新小时 AQI）', 'ov.station': '站点', 'ov.hour': '时段', 'ov.level': '级别',
    'ov.category': '类别', 'ov.primary': '首要污染物', 'ov.partial': '部分项目', 'ov.noAqi': '今日暂无有效数据',
    'ov.alerts': '告警', 'ov.firing': '告警中', 'ov.pending': '待确认', 'ov.alertsOff': '告警未启用',
    'ov.silent': '当前静默站点', 'ov.noneSilent': '无静默站点', 'ov.silentAlert': '静默告警', 'ov.silentNoData': '24 小时无数据',
    'ov.unit': 'µg/m³',
  },
  en: {
    ...COMMON_STRINGS.en,
    'ov.title': 'Overview',
    'ov.target': 'PM2.5 target progress (zone)',
    'ov.asOf': 'As of', 'ov.current': 'Year to date', 'ov.previous': 'Same span last year', 'ov.change': 'Change',
    'ov.targetPct': 'Target', 'ov.projection': 'Projected annual mean', 'ov.required': 'Remaining days must average under',
    'ov.days': 'Valid days', 'ov.onTrack': 'On track', 'ov.offTrack': 'Not on track', 'ov.unknown': 'Unknown',
    'ov.noProjection': 'last year\'s annual mean is not valid: no projection', 'ov.remaining': '{n} days left',
    'ov.aqi': 'Air quality today (latest hourly AQI)', 'ov.station': 'Station', 'ov.hour': 'Hour', 'ov.level': 'Level',
    'ov.category': 'Category', 'ov.primary': 'Primary pollutant', 'ov.partial': 'partial', 'ov.noAqi': 'no valid data today yet',
    'ov.alerts': 'Alerts', 'ov.firing': 'Firing', 'ov.pending': 'Pending', 'ov.alertsOff': 'alerting is off',
    'ov.silent': 'Stations silent now', 'ov.noneSilent': 'no silent station', 'ov.silentAlert': 'silent alert', 'ov.silentNoData': 'no data in 24 h',
    'ov.unit': 'µg/m³',
  },
};

const isLeap = (y) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

function dayOfYear(date) {
  const [y, m, d] = date.split('-').map(Number);
  return Math.round((Date.UTC(y, m - 1, d) - Date.UTC(y, 0, 1)) / 86400000) + 1;
}

/** The service's projection and required remaining mean (the pm25-target rule's figures, /v1/target), with the
 * days left in the year; null when the service gives no projection. */
export function projection(progress, asOf) {
  if (typeof progress.projectedAnnualMean !== 'number') return null;
  const year = Number(asOf.slice(0, 4));
  const remaining = (isLeap(year) ? 366 : 365) - dayOfYear(asOf);
  const required = remaining > 0 && typeof progress.requiredRemainingMean === 'number' ? progress.requiredRemainingMean : null;
  return { projected: progress.projectedAnnualMean, required, remaining };
}

function figure(ctx, id, label, value) {
  return ctx.el('div', { class: 'figure' }, ctx.el('dt', null, label), ctx.el('dd', { id, dataset: { figure: id } }, value));
}

function targetPanel(ctx, target) {
  const { el, t } = ctx;
  const panel = el('section', { class: 'panel', id: 'target' }, el('h2', null, t('ov.target')));
  const zone = (target.progress || []).find((p) => p.scope === 'zone');
  if (!zone) {
    panel.appendChild(el('p', { class: 'muted' }, t('ov.unknown')));
    return panel;
  }
  const verdict = zone.onTrack === true ? 'on-track' : zone.onTrack === false ? 'off-track' : 'unknown';
  const verdictText = { 'on-track': t('ov.onTrack'), 'off-track': t('ov.offTrack'), unknown: t('ov.unknown') }[verdict];
  panel.appendChild(el('p', null,
    `${t('ov.asOf')} ${target.asOf} `,
    el('span', { class: ['verdict', verdict], id: 'target-verdict', dataset: { verdict } }, verdictText)));
  const p = projection(zone, target.asOf);
  panel.appendChild(el('dl', { class: 'figures' },
    figure(ctx, 'target-current', `${t('ov.current')} (${t('ov.unit')})`, num(zone.currentMean)),
    figure(ctx, 'target-previous', `${t('ov.previous')} (${t('ov.unit')})`, num(zone.previousMean)),
    figure(ctx, 'target-change', t('ov.change'), pct(zone.changePercent)),
    figure(ctx, 'target-target', t('ov.targetPct'), pct(zone.targetPercent, 0)),
    figure(ctx, 'target-projection', t('ov.projection'), p ? num(p.projected) : '—'),
    figure(ctx, 'target-required', p && p.required !== null ? `${t('ov.required')} (${t('ov.remaining').replace('{n}', p.remaining)})` : t('ov.required'),
      p && p.required !== null ? num(p.required) : '—'),
    figure(ctx, 'target-days', t('ov.days'), `${zone.currentDays} / ${zone.previousDays}`)));
  // Only when last year's annual mean is what is missing: without a valid year-to-date mean the verdict already says
  // "unknown" and the API's note says why.
  const year = Number(String(target.asOf).slice(0, 4));
  const lastYear = (target.years || []).find((y) => y.scope === zone.scope && y.year === year - 1);
  if (!p && !(lastYear && lastYear.valid)) panel.appendChild(el('p', { class: 'muted', id: 'target-no-projection' }, t('ov.noProjection')));
  if (zone.note) panel.appendChild(el('p', { class: 'muted', id: 'target-note' }, zone.note));
  return panel;
}

/** HJ 633's level as the API names it (一级 .. 六级); in English "Level I" .. "Level VI". */
const LEVELS = ['一级', '二级', '三级', '四级', '五级', '六级'];
function levelText(ctx, level) {
  const i = LEVELS.indexOf(level);
  return ctx.lang === 'en' && i >= 0 ? `Level ${['I', 'II', 'III', 'IV', 'V', 'VI'][i]}` : level;
}

function aqiPanel(ctx, stations, aqi) {
  const { el, t } = ctx;
  const byId = new Map((aqi.stations || []).map((s) => [s.stationId, s]));
  const rows = stations.filter((s) => kindOf(s) === 'air').map((s) => {
    const values = (byId.get(s.id) || {}).values || [];
    const v = values.length ? values[values.length - 1] : null;
    const colour = v && AQI_COLOURS.includes(v.colour) ? v.colour : 'none';
    return el('tr', { dataset: { station: s.id }, class: 'aqi-row' },
      el('td', null, s.name, el('div', { class: 'muted' }, s.id)),
      el('td', null, v ? ctx.fmtTime(v.start).slice(11) : '—'),
      el('td', { class: 'num' }, el('span', { class: ['aqi', `aqi-${colour}`], dataset: { aqi: v ? String(v.aqi) : '' } }, v ? String(v.aqi) : '—')),
      el('td', { class: 'aqi-level' }, v ? levelText(ctx, v.level) : ''),
      el('td', { class: 'aqi-category' }, v ? (ctx.lang === 'zh' ? v.categoryZh : v.categoryEn) : t('ov.noAqi')),
      el('td', { class: 'aqi-primary' }, v ? (v.primaryPollutants || []).map((p) => AQI_ITEMS[p] || p).join('、') || '—' : ''),
      el('td', null, v && v.partial ? el('span', { class: 'tag' }, t('ov.partial')) : ''));
  });
  return el('section', { class: 'panel wide', id: 'aqi' }, el('h2', null, t('ov.aqi')),
    el('table', null,
      el('thead', null, el('tr', null, el('th', null, t('ov.station')), el('th', null, t('ov.hour')), el('th', { class: 'num' }, 'AQI'),
        el('th', null, t('ov.level')), el('th', null, t('ov.category')), el('th', null, t('ov.primary')), el('th', null, ''))),
      el('tbody', null, rows)));
}

function alertsPanel(ctx, alerts) {
  const { el, t } = ctx;
  const panel = el('section', { class: 'panel', id: 'alert-counts' }, el('h2', null, t('ov.alerts')));
  if (!alerts) {
    panel.appendChild(el('p', { class: 'muted' }, t('ov.alertsOff')));
    return panel;
  }
  const firing = alerts.filter((a) => a.state === 'firing').length;
  const pending = alerts.filter((a) => a.state === 'pending').length;
  panel.appendChild(el('div', { class: 'counts' },
    el('a', { class: 'count firing', href: '#/alerts' }, el('span', { class: 'n', id: 'count-firing' }, String(firing)), t('ov.firing')),
    el('a', { class: 'count pending', href: '#/alerts' }, el('span', { class: 'n', id: 'count-pending' }, String(pending)), t('ov.pending'))));
  return panel;
}

function silentPanel(ctx, stations, silent) {
  const { el, t } = ctx;
  const list = stations.filter((s) => silent.has(s.id));
  return el('section', { class: 'panel', id: 'silent' }, el('h2', null, `${t('ov.silent')} (`, el('span', { id: 'silent-count' }, String(list.length)), ')'),
    list.length === 0 ? el('p', { class: 'muted' }, t('ov.noneSilent'))
      : el('ul', { class: 'silent-list' }, list.map((s) => el('li', { dataset: { station: s.id } },
        el('a', { href: `#/station/${encodeURIComponent(s.id)}` }, s.name), ` (${s.id}) `,
        el('span', { class: 'tag silent' }, silent.get(s.id) === 'alert' ? t('ov.silentAlert') : t('ov.silentNoData'))))));
}

export async function render(root, ctx) {
  const { el, t } = ctx;
  const today = ctx.chinaToday();
  const stations = await ctx.stations();
  // The AQI by region (a selection names stations or one region): a few short requests, whatever the station count.
  const regions = [...new Set(stations.filter((s) => kindOf(s) === 'air').map((s) => s.region))];
  const [target, aqi, alerts, { silent }] = await Promise.all([
    ctx.api('/v1/target', { pastYears: 1 }),
    Promise.all(regions.map((region) => ctx.api('/v1/aqi', { period: 'PERIOD_HOUR', from: today, to: today, 'selection.region': region })))
      .then((answers) => ({ stations: answers.flatMap((a) => a.stations || []) })),
    ctx.api('/v1/alerts').then((r) => r.alerts || [], (e) => { if (e.status === 401) throw e; return null; }),
    silentStations(ctx, () => ctx.api('/v1/latest', { withinHours: 24 }).then((r) => latestByStation(r.readings))),
  ]);
  root.appendChild(el('h1', null, t('ov.title')));
  root.appendChild(el('div', { class: 'grid' },
    targetPanel(ctx, target),
    alertsPanel(ctx, alerts),
    aqiPanel(ctx, stations, aqi),
    silentPanel(ctx, stations, silent)));

  // Alert counts follow the live channel: refetch the (small) active list on each alert event.
  let pendingRefresh = null;
  const off = ctx.live.on('alert', () => {
    clearTimeout(pendingRefresh);
    pendingRefresh = setTimeout(async () => {
      try {
        const fresh = (await ctx.api('/v1/alerts')).alerts || [];
        const old = root.querySelector('#alert-counts');
        if (old) old.replaceWith(alertsPanel(ctx, fresh));
      } catch { /* the next event tries again */ }
    }, 300);
  });
  return () => { off(); clearTimeout(pendingRefresh); };
}
