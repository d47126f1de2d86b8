// Stations: every station with kind, region, last reading time (China time), silent or not, and its latest values
// with units and HJ 212 flags (/v1/latest over 24 h, kept current by the live channel); a position plot from the
// stations' coordinates (ECharts scatter on plain longitude/latitude axes: no map tiles, the platform may run on a
// closed network).
import { COMMON_STRINGS, PARAMETERS, kindOf, latestByStation, readingValue, silentStations } from '../common.js';

export const strings = {
  zh: {
    ...COMMON_STRINGS.zh,
    'st.title': '站点', 'st.name': '站点', 'st.kind': '类型', 'st.region': '区域', 'st.last': '最新数据时间',
    'st.status': '状态', 'st.values': '最新数值', 'st.silent': '静默', 'st.ok': '在线', 'st.none': '24 小时无数据',
    'st.positions': '站点位置（经纬度）', 'st.lon': '经度', 'st.lat': '纬度', 'st.detail': '详情',
    'st.flag': '标记', 'st.count': '共 {n} 个站点',
  },
  en: {
    ...COMMON_STRINGS.en,
    'st.title': 'Stations', 'st.name': 'Station', 'st.kind': 'Kind', 'st.region': 'Region', 'st.last': 'Last reading',
    'st.status': 'Status', 'st.values': 'Latest values', 'st.silent': 'silent', 'st.ok': 'reporting', 'st.none': 'no data in 24 h',
    'st.positions': 'Positions (longitude / latitude)', 'st.lon': 'longitude', 'st.lat': 'latitude', 'st.detail': 'detail',
    'st.flag': 'flag', 'st.count': '{n} stations',
  },
};

const KIND_COLOURS = { air: '#0b6bcb', voc: '#c77700', water: '#1a8f3a', unknown: '#5d6b7a' };

function valueNode(ctx, r) {
  const p = PARAMETERS[r.parameter] || { label: r.parameter, unit: '' };
  return ctx.el('span', { class: ['value', r.valid ? '' : 'invalid'], dataset: { parameter: r.parameter, value: String(r.value), flag: r.flag },
    title: `${ctx.fmtTime(r.time)} ${ctx.t('st.flag')} ${r.flag}` },
  `${p.label} ${readingValue(r.parameter, r.value)}${p.unit ? ` ${p.unit}` : ''}`,
  r.flag && r.flag !== 'N' ? ctx.el('span', { class: ['tag', r.valid ? '' : 'flag'] }, r.flag) : null);
}

export async function render(root, ctx) {
  const { el, t } = ctx;
  const latest = ctx.api('/v1/latest', { withinHours: 24 }).then((r) => latestByStation(r.readings));
  const [stations, byStation, { silent }] = await Promise.all([ctx.stations(), latest, silentStations(ctx, latest)]);

  root.appendChild(el('h1', null, t('st.title'), ' ', el('span', { class: 'muted' }, t('st.count').replace('{n}', stations.length))));
  const chartBox = el('div', { class: 'chart', id: 'positions-chart' });
  root.appendChild(el('section', { class: 'panel' }, el('h2', null, t('st.positions')), chartBox));

  const rows = new Map();
  function row(s) {
    const entry = byStation.get(s.id);
    const kind = kindOf(s);
    const isSilent = silent.has(s.id);
    return el('tr', { class: isSilent ? 'silent' : '', dataset: { station: s.id } },
      el('td', { class: 'station-name' }, el('a', { href: `#/station/${encodeURIComponent(s.id)}` }, s.name), el('div', { class: 'muted' }, s.id)),
      el('td', { class: 'station-kind', dataset: { kind } }, t(`kind.${kind}`)),
      el('td', { class: 'station-region' }, s.region),
      el('td', { class: 'station-last', dataset: { time: entry ? entry.time : '' } }, entry ? ctx.fmtTime(entry.time) : '—'),
      el('td', { class: 'station-status' }, isSilent
        ? el('span', { class: 'tag silent' }, entry ? t('st.silent') : `${t('st.silent')} · ${t('st.none')}`)
        : el('span', { class: 'tag ok' }, t('st.ok'))),
      el('td', { class: 'station-values' }, el('div', { class: 'values' }, entry ? entry.readings.map((r) => valueNode(ctx, r)) : '')));
  }
  const tbody = el('tbody', null, stations.map((s) => { const r = row(s); rows.set(s.id, r); return r; }));
  root.appendChild(el('section', { class: 'panel' }, el('table', { id: 'stations-table' },
    el('thead', null, el('tr', null, el('th', null, t('st.name')), el('th', null, t('st.kind')), el('th', null, t('st.region')),
      el('th', null, t('st.last')), el('th', null, t('st.status')), el('th', null, t('st.values')))),
    tbody)));

  // Position plot: one scatter series per kind; names reach the chart as data only (canvas text, richText tooltip).
  const kinds = [...new Set(stations.map(kindOf))];
  const withPosition = stations.filter((s) => Number.isFinite(s.longitude) && Number.isFinite(s.latitude) && (s.longitude !== 0 || s.latitude !== 0));
  ctx.chart(chartBox, {
    animation: false,
    grid: { left: 70, right: 30, top: 40, bottom: 50 },
    legend: { data: kinds.map((k) => t(`kind.${k}`)) },
    tooltip: { trigger: 'item', renderMode: 'richText', formatter: (p) => `${p.data.name} (${p.data.id})\n${p.data.value[0].toFixed(4)}, ${p.data.value[1].toFixed(4)}` },
    xAxis: { type: 'value', name: t('st.lon'), scale: true, axisLabel: { formatter: (v) => v.toFixed(2) } },
    yAxis: { type: 'value', name: t('st.lat'), scale: true, axisLabel: { formatter: (v) => v.toFixed(2) } },
    series: kinds.map((k) => ({
      name: t(`kind.${k}`),
      type: 'scatter',
      symbolSize: 12,
      itemStyle: { color: KIND_COLOURS[k] },
      label: { show: withPosition.length <= 40, position: 'right', formatter: (p) => p.data.name, fontSize: 11 },
      data: withPosition.filter((s) => kindOf(s) === k).map((s) => ({ id: s.id, name: s.name, value: [s.longitude, s.latitude] })),
    })),
  });

  // Live readings update the row's values and time (a silent station that reports is shown reporting again).
  const known = new Map(stations.map((s) => [s.id, s]));
  let dirty = new Set();
  let timer = null;
  const off = ctx.live.on('reading', (r) => {
    if (!known.has(r.stationId)) return;
    let entry = byStation.get(r.stationId);
    if (!entry) { entry = { time: r.time, readings: [] }; byStation.set(r.stationId, entry); }
    const i = entry.readings.findIndex((x) => x.parameter === r.parameter);
    if (i >= 0) { if (Date.parse(entry.readings[i].time) > Date.parse(r.time)) return; entry.readings[i] = r; } else entry.readings.push(r);
    entry.readings.sort((a, b) => a.parameter.localeCompare(b.parameter));
    if (Date.parse(r.time) > Date.parse(entry.time)) entry.time = r.time;
    if (silent.get(r.stationId) === 'no-data') silent.delete(r.stationId);
    dirty.add(r.stationId);
    if (!timer) {
      timer = setTimeout(() => {
        timer = null;
        for (const id of dirty) {
          const fresh = row(known.get(id));
          rows.get(id).replaceWith(fresh);
          rows.set(id, fresh);
        }
        dirty = new Set();
      }, 500);
    }
  });
  return () => { off(); clearTimeout(timer); };
}
