// VOCs (#/voc): NMHC exceedances over a chosen period (the last 7 days by default) per VOCs point, newest first, from
// /v1/voc/exceedances: hourly means over the point's 1-hour limit and single values over its single value limit
// (GB 37822-2019 defaults 10 and 30 mg/m³, Voc settings per point). Each point links to its station detail.

import { fmtNum, rangePage, translator } from './station.js';

export const strings = {
  zh: {
    'vx.title': 'VOCs 超标记录', 'vx.from': '从', 'vx.to': '至', 'vx.apply': '查询', 'vx.badRange': '开始日期须不晚于结束日期。',
    'vx.limits': '限值：1 小时均值 {0} mg/m³，单次浓度 {1} mg/m³（GB 37822-2019，可按点位配置）',
    'vx.count': '超标 {0} 次（小时均值 {1}，单次 {2}）', 'vx.none': '所选时段内无超标。', 'vx.noPoints': '没有 VOCs 监测点。',
    'vx.time': '时间', 'vx.parameter': '参数', 'vx.value': '数值 (mg/m³)', 'vx.limit': '限值 (mg/m³)', 'vx.kind': '类型',
    'vx.kind.hourly-mean': '1 小时均值', 'vx.kind.single-value': '单次浓度', 'vx.detail': '站点详情',
    'vx.unavailable': '无法取得：', 'vx.period': '时段 {0} 至 {1}，最新在前', 'vx.hourOf': '{0} 起一小时',
  },
  en: {
    'vx.title': 'VOCs exceedances', 'vx.from': 'From', 'vx.to': 'to', 'vx.apply': 'Show', 'vx.badRange': 'The first date must not be after the last.',
    'vx.limits': 'Limits: 1-hour mean {0} mg/m³, single value {1} mg/m³ (GB 37822-2019, per point in the settings)',
    'vx.count': '{0} exceedances ({1} hourly means, {2} single values)', 'vx.none': 'No exceedance in this period.', 'vx.noPoints': 'No VOCs points.',
    'vx.time': 'Time', 'vx.parameter': 'Parameter', 'vx.value': 'Value (mg/m³)', 'vx.limit': 'Limit (mg/m³)', 'vx.kind': 'Kind',
    'vx.kind.hourly-mean': '1-hour mean', 'vx.kind.single-value': 'single value', 'vx.detail': 'station detail',
    'vx.unavailable': 'Not available: ', 'vx.period': 'Period {0} to {1}, newest first', 'vx.hourOf': 'hour from {0}',
  },
};

export async function render(root, ctx) {
  const tr = translator(ctx, strings);
  const { el } = ctx;
  const load = rangePage(root, ctx, tr, { prefix: 'vx', from: ctx.chinaToday(-6), bodyClass: 'vx-body', path: '/v1/voc/exceedances', show });
  const stations = new Map((await ctx.stations()).map((s) => [s.id, s]));

  function show(answer, from, to, { message, body }) {
    message.className = 'vx-message muted';
    message.textContent = tr('vx.period', from, to);
    const points = answer.stations || [];
    body.replaceChildren(...(points.length ? points.map(panel) : [el('p', { class: 'muted' }, tr('vx.noPoints'))]));
  }

  function panel(point) {
    const station = stations.get(point.stationId) || { id: point.stationId, name: point.stationId };
    const list = [...(point.exceedances || [])].map((e, i) => ({ ...e, ms: Date.parse(e.time), i }))
      .sort((a, b) => b.ms - a.ms || a.i - b.i);
    const hourly = list.filter((e) => e.kind === 'hourly-mean').length;
    const single = list.filter((e) => e.kind === 'single-value').length;
    const href = `#/station/${encodeURIComponent(point.stationId)}`;
    return el('section', { class: 'panel vx-point', dataset: { station: point.stationId, count: list.length } },
      el('h2', null, el('a', { href, class: 'vx-name' }, station.name), ' ', el('span', { class: 'muted' }, point.stationId)),
      el('p', { class: 'muted vx-limits', dataset: { hourly: point.hourlyLimit, single: point.singleLimit } },
        tr('vx.limits', fmtNum(point.hourlyLimit), fmtNum(point.singleLimit))),
      el('p', { class: 'vx-count' }, list.length ? tr('vx.count', list.length, hourly, single) : tr('vx.none')),
      list.length ? el('table', { class: 'vx-table' },
        el('thead', null, el('tr', null, el('th', null, tr('vx.time')), el('th', null, tr('vx.parameter')),
          el('th', { class: 'num' }, tr('vx.value')), el('th', { class: 'num' }, tr('vx.limit')), el('th', null, tr('vx.kind')))),
        el('tbody', null, list.map((e) => el('tr', { class: `vx-row vx-${e.kind}`, dataset: { time: e.time, kind: e.kind } },
          el('td', { class: 'vx-time' }, e.kind === 'hourly-mean' ? tr('vx.hourOf', ctx.fmtTime(e.time)) : ctx.fmtTime(e.time)),
          el('td', null, 'NMHC'),
          el('td', { class: 'num vx-value' }, fmtNum(e.value)),
          el('td', { class: 'num vx-limit' }, fmtNum(e.limit)),
          el('td', { class: 'vx-kind' }, tr(`vx.kind.${e.kind}`)))))) : null,
      el('p', null, el('a', { href, class: 'vx-detail' }, `${tr('vx.detail')} →`)));
  }

  await load();
  return undefined;
}
