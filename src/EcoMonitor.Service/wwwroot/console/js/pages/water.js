// Water sections (#/water): each section's GB 3838 class over a chosen period (month to date by default) against its
// target class, meets / fails / unknown, and the parameters that decide it; from /v1/water, numbers as the API gives
// them (means rounded to two decimals for display only).

import { CLASSES, className, fmtNum, paramName, PARAMS, rangePage, translator } from './station.js';

export const strings = {
  zh: {
    'wq.title': '水质断面', 'wq.from': '从', 'wq.to': '至', 'wq.apply': '查询', 'wq.badRange': '开始日期须不晚于结束日期。',
    'wq.section': '断面', 'wq.waterName': '水体', 'wq.target': '目标', 'wq.class': '水质类别', 'wq.verdict': '评价',
    'wq.determining': '决定类别的参数', 'wq.parameters': '各参数均值（类别）',
    'wq.meets': '达标', 'wq.fails': '未达标', 'wq.unknown': '未知（无可评价数据）',
    'wq.summary': '达标 {0} 个，未达标 {1} 个，未知 {2} 个', 'wq.standard': '评价标准：{0}（单因子评价，河流不评总氮）',
    'wq.none': '没有水质断面。', 'wq.unavailable': '无法取得：', 'wq.period': '评价时段 {0} 至 {1}',
  },
  en: {
    'wq.title': 'Water sections', 'wq.from': 'From', 'wq.to': 'to', 'wq.apply': 'Show', 'wq.badRange': 'The first date must not be after the last.',
    'wq.section': 'Section', 'wq.waterName': 'Water body', 'wq.target': 'Target', 'wq.class': 'Class', 'wq.verdict': 'Verdict',
    'wq.determining': 'Deciding parameters', 'wq.parameters': 'Parameter means (class)',
    'wq.meets': 'meets target', 'wq.fails': 'fails target', 'wq.unknown': 'unknown (nothing evaluable)',
    'wq.summary': '{0} meet, {1} fail, {2} unknown', 'wq.standard': 'Standard: {0} (single-factor evaluation; rivers without TN)',
    'wq.none': 'No water sections.', 'wq.unavailable': 'Not available: ', 'wq.period': 'Period {0} to {1}',
  },
};

export async function render(root, ctx) {
  const tr = translator(ctx, strings);
  const { el, lang } = ctx;
  const load = rangePage(root, ctx, tr, {
    prefix: 'wq', from: `${ctx.chinaToday().slice(0, 8)}01`, bodyClass: 'panel wq-body', path: '/v1/water', show,
  });
  const stations = new Map((await ctx.stations()).map((s) => [s.id, s]));

  function show(answer, from, to, { message, body }) {
    const sections = answer.sections || [];
    const verdictOf = (s) => (!s.waterClass ? 'unknown' : s.meetsTarget ? 'meets' : 'fails');
    const counts = { meets: 0, fails: 0, unknown: 0 };
    sections.forEach((s) => { counts[verdictOf(s)] += 1; });
    message.className = 'wq-message';
    message.replaceChildren(
      el('span', { id: 'wq-period' }, tr('wq.period', from, to)), ' · ',
      el('span', { id: 'wq-summary', dataset: { meets: counts.meets, fails: counts.fails, unknown: counts.unknown } },
        tr('wq.summary', counts.meets, counts.fails, counts.unknown)), ' · ',
      el('span', { id: 'wq-standard' }, tr('wq.standard', answer.standard || '')));
    body.replaceChildren();
    if (sections.length === 0) {
      body.appendChild(el('p', { class: 'muted' }, tr('wq.none')));
      return;
    }
    body.appendChild(el('table', { id: 'wq-table' },
      el('thead', null, el('tr', null,
        el('th', null, tr('wq.section')), el('th', null, tr('wq.waterName')), el('th', null, tr('wq.target')),
        el('th', null, tr('wq.class')), el('th', null, tr('wq.verdict')), el('th', null, tr('wq.determining')),
        el('th', null, tr('wq.parameters')))),
      el('tbody', null, sections.map((s) => row(s, verdictOf(s))))));
  }

  function row(s, verdict) {
    const station = stations.get(s.stationId) || { id: s.stationId, name: s.stationId };
    const params = s.parameters || [];
    // What decides the class: the parameters that miss the target when it fails, else those at the section's class.
    const deciding = verdict === 'fails' ? params.filter((p) => (s.failingParameters || []).includes(p.parameter))
      : verdict === 'meets' ? params.filter((p) => p.waterClass === s.waterClass) : [];
    const rank = (c) => (c === '劣V' ? 5 : CLASSES.indexOf(c));
    const sorted = [...params].sort((a, b) => rank(b.waterClass) - rank(a.waterClass) || a.parameter.localeCompare(b.parameter));
    return el('tr', { class: `wq-row wq-${verdict}`, dataset: { station: s.stationId } },
      el('td', null, el('a', { href: `#/station/${encodeURIComponent(s.stationId)}`, class: 'wq-name' }, station.name)),
      el('td', null, station.waterName || ''),
      el('td', { class: 'wq-target', dataset: { target: s.targetClass } }, className(s.targetClass, lang)),
      el('td', { class: 'wq-class', dataset: { waterClass: s.waterClass || '' } },
        s.waterClass ? el('span', { class: `wq-badge wq-class-${rank(s.waterClass)}` }, className(s.waterClass, lang)) : '—'),
      el('td', { class: 'wq-verdict', dataset: { verdict } },
        el('span', { class: ['tag', verdict === 'meets' ? 'ok' : verdict === 'fails' ? 'flag' : ''] }, tr(`wq.${verdict}`))),
      el('td', { class: 'wq-determining', dataset: { parameters: deciding.map((p) => p.parameter).join(',') } },
        deciding.map((p) => el('span', { class: 'value wq-decider' }, `${paramName(p.parameter, lang)} ${fmtNum(p.mean)} ${unit(p.parameter)} (${className(p.waterClass, lang)})`))),
      el('td', { class: 'wq-parameters' }, el('span', { class: 'values' }, sorted.map((p) =>
        el('span', { class: ['value', p.failsTarget ? 'wq-failing' : ''], dataset: { parameter: p.parameter, mean: String(p.mean), waterClass: p.waterClass } },
          `${paramName(p.parameter, lang)} ${fmtNum(p.mean)} ${unit(p.parameter)} ${className(p.waterClass, lang)}`)))));
  }

  const unit = (p) => (PARAMS[p] ? PARAMS[p].unit : '');

  await load();
  return undefined;
}
