// Alerts: firing and pending alerts newest first with their explanation, acknowledge (comment) and silence
// (duration, comment) for duty and operator keys, current silences, and the resolved history. New alert events
// arrive over the live channel: the list is fetched again and the alert it concerns is highlighted; a critical
// one also raises the banner (app.js).
import { COMMON_STRINGS, num } from '../common.js';

export const strings = {
  zh: {
    ...COMMON_STRINGS.zh,
    'al.title': '告警', 'al.active': '当前告警', 'al.none': '当前无告警', 'al.history': '近 7 天已恢复',
    'al.noHistory': '近 7 天无已恢复告警', 'al.silences': '静默与维护窗口', 'al.noSilences': '无静默',
    'al.off': '告警未启用：', 'al.value': '数值', 'al.pendingSince': '待确认自', 'al.firedAt': '触发于',
    'al.resolvedAt': '恢复于', 'al.ackBy': '已确认', 'al.comment': '说明', 'al.ack': '确认处理',
    'al.silence': '静默', 'al.duration': '时长', 'al.commentRequired': '请填写说明', 'al.done': '已完成',
    'al.h1': '1 小时', 'al.h4': '4 小时', 'al.h24': '24 小时', 'al.d3': '3 天',
    'al.expire': '结束静默', 'al.silenceFor': '对象', 'al.by': '设置人', 'al.until': '至',
    'al.all': '全部', 'al.readerNote': '只读密钥：不能确认或静默告警。',
    'state.pending': '待确认', 'state.firing': '告警中', 'state.resolved': '已恢复',
    'sev.critical': '严重', 'sev.warning': '警告', 'sev.info': '提示',
    'ev.pending': '待确认', 'ev.fired': '触发', 'ev.reminder': '提醒', 'ev.acknowledged': '已确认', 'ev.resolved': '恢复',
  },
  en: {
    ...COMMON_STRINGS.en,
    'al.title': 'Alerts', 'al.active': 'Active alerts', 'al.none': 'No active alert', 'al.history': 'Resolved in the last 7 days',
    'al.noHistory': 'nothing resolved in the last 7 days', 'al.silences': 'Silences and maintenance windows', 'al.noSilences': 'no silence',
    'al.off': 'Alerting is off: ', 'al.value': 'value', 'al.pendingSince': 'pending since', 'al.firedAt': 'fired at',
    'al.resolvedAt': 'resolved at', 'al.ackBy': 'acknowledged', 'al.comment': 'comment', 'al.ack': 'Acknowledge',
    'al.silence': 'Silence', 'al.duration': 'duration', 'al.commentRequired': 'a comment is required', 'al.done': 'done',
    'al.h1': '1 hour', 'al.h4': '4 hours', 'al.h24': '24 hours', 'al.d3': '3 days',
    'al.expire': 'End silence', 'al.silenceFor': 'for', 'al.by': 'by', 'al.until': 'until',
    'al.all': 'all', 'al.readerNote': 'Reader key: alerts cannot be acknowledged or silenced.',
    'state.pending': 'pending', 'state.firing': 'firing', 'state.resolved': 'resolved',
    'sev.critical': 'critical', 'sev.warning': 'warning', 'sev.info': 'info',
    'ev.pending': 'pending', 'ev.fired': 'fired', 'ev.reminder': 'reminder', 'ev.acknowledged': 'acknowledged', 'ev.resolved': 'resolved',
  },
};

const DURATIONS = [['al.h1', 1], ['al.h4', 4], ['al.h24', 24], ['al.d3', 72]];

const keyOf = (a) => `${a.rule}\u0000${a.subject}`;
const newest = (a) => Date.parse(a.firedAt || a.pendingSince || a.resolvedAt || '') || 0;

export async function render(root, ctx) {
  const { el, t } = ctx;
  const names = new Map((await ctx.stations()).map((s) => [s.id, s.name]));
  const subjectText = (subject) => (names.has(subject) ? `${names.get(subject)} (${subject})` : subject);
  const fresh = new Set(); // alerts an event concerned since the page opened
  const tr = (prefix, key) => { const s = t(`${prefix}.${key}`); return s === `${prefix}.${key}` ? key : s; };

  root.appendChild(el('h1', null, t('al.title')));
  const activeBox = el('section', { class: 'panel', id: 'active-alerts' });
  const silencesBox = el('section', { class: 'panel', id: 'silences' });
  const historyBox = el('section', { class: 'panel', id: 'alert-history' });
  if (!ctx.can('Duty')) root.appendChild(el('p', { class: 'muted', id: 'reader-note' }, t('al.readerNote')));
  root.appendChild(activeBox);
  root.appendChild(el('div', { class: 'grid' }, silencesBox, historyBox));

  function history(a) {
    return el('ol', { class: 'history' }, (a.history || []).map((e) => el('li', null,
      `${ctx.fmtTime(e.at)} ${tr('ev', e.kind)}`, e.user ? ` · ${e.user}` : '', e.comment ? ` · ${e.comment}` : '',
      e.silenced ? ' · 🔕' : '')));
  }

  function actions(a) {
    if (!ctx.can('Duty')) return null;
    const status = el('span', { class: 'action-status muted' });
    const comment = el('input', { type: 'text', class: 'comment', placeholder: t('al.comment'), maxlength: '500', 'aria-label': t('al.comment') });
    const duration = el('select', { class: 'duration', 'aria-label': t('al.duration') },
      DURATIONS.map(([label, hours]) => el('option', { value: String(hours) }, t(label))));
    const run = async (button, action) => {
      button.disabled = true;
      status.textContent = '';
      try {
        await action();
        status.textContent = t('al.done');
        await refresh();
      } catch (e) {
        status.textContent = e.message;
        status.className = 'action-status error';
        button.disabled = false;
      }
    };
    const ack = a.state === 'firing' && !a.acknowledgedBy
      ? el('button', { type: 'button', class: 'primary ack', onclick: (e) => run(e.currentTarget, () =>
        ctx.post('/v1/alerts:acknowledge', { rule: a.rule, subject: a.subject, comment: comment.value.trim() })) }, t('al.ack'))
      : null;
    const silence = el('button', { type: 'button', class: 'silence', onclick: (e) => {
      if (!comment.value.trim()) { status.textContent = t('al.commentRequired'); status.className = 'action-status error'; return; }
      const ends = new Date(Date.now() + Number(duration.value) * 3600000).toISOString();
      run(e.currentTarget, () => ctx.post('/v1/silences', { rule: a.rule, subject: a.subject, ends, comment: comment.value.trim() }));
    } }, t('al.silence'));
    return el('div', { class: 'alert-actions' }, comment, ack, duration, silence, status);
  }

  function card(a, withActions) {
    const k = keyOf(a);
    return el('li', {
      class: ['alert', `state-${a.state}`, `severity-${a.severity || 'none'}`, fresh.has(k) ? 'fresh' : ''],
      dataset: { rule: a.rule, subject: a.subject, state: a.state, severity: a.severity || '' },
    },
    el('div', { class: 'alert-head' },
      el('span', { class: ['sev', a.severity] }, tr('sev', a.severity || '—')),
      el('span', { class: ['state', a.state] }, tr('state', a.state)),
      el('span', { class: 'rule' }, a.rule),
      el('span', { class: 'subject' }, subjectText(a.subject)),
      el('span', { class: 'value' }, `${t('al.value')} ${num(a.value, 1)}`)),
    el('p', { class: 'alert-detail' }, a.detail),
    el('div', { class: 'alert-meta' },
      a.pendingSince ? el('span', null, `${t('al.pendingSince')} ${ctx.fmtTime(a.pendingSince)}`) : null,
      a.firedAt ? el('span', null, `${t('al.firedAt')} ${ctx.fmtTime(a.firedAt)}`) : null,
      a.resolvedAt ? el('span', null, `${t('al.resolvedAt')} ${ctx.fmtTime(a.resolvedAt)}`) : null,
      a.acknowledgedBy ? el('span', { class: 'acknowledged' }, `${t('al.ackBy')}: ${a.acknowledgedBy} ${ctx.fmtTime(a.acknowledgedAt)} ${a.acknowledgeComment || ''}`) : null),
    history(a),
    withActions ? actions(a) : null);
  }

  function silenceRow(s) {
    const expire = ctx.can('Duty') && !s.id.startsWith('maintenance-')
      ? el('button', { type: 'button', class: 'expire', onclick: async (e) => {
        const button = e.currentTarget;
        button.disabled = true;
        const status = button.nextElementSibling;
        status.textContent = '';
        try {
          await ctx.post(`/v1/silences/${encodeURIComponent(s.id)}:expire`, {});
          await refresh();
        } catch (err) {
          // Shown beside the button, which stays usable for another try.
          status.textContent = err.message;
          button.disabled = false;
        }
      } }, t('al.expire'))
      : null;
    return el('tr', { dataset: { silence: s.id } },
      el('td', null, s.rule || t('al.all'), ' / ', s.subject ? subjectText(s.subject) : t('al.all')),
      el('td', null, `${ctx.fmtTime(s.starts)} – ${ctx.fmtTime(s.ends)}`),
      el('td', null, s.createdBy), el('td', null, s.comment),
      el('td', null, expire, expire ? el('span', { class: 'action-status error' }) : null));
  }

  function clearNode(node) { while (node.firstChild) node.removeChild(node.firstChild); }

  async function refresh() {
    let active; let silences; let closed;
    try {
      [active, silences, closed] = await Promise.all([ctx.api('/v1/alerts'), ctx.api('/v1/silences'), ctx.api('/v1/alerts/history')]);
    } catch (e) {
      if (e.status === 401) throw e;
      clearNode(activeBox);
      activeBox.appendChild(el('p', { class: 'error', id: 'alerts-off' }, `${t('al.off')}${e.message}`));
      return;
    }
    const list = (active.alerts || []).slice().sort((a, b) => newest(b) - newest(a));
    // A refresh (a live event) keeps what duty staff were typing and the duration they chose.
    const typed = new Map();
    for (const li of activeBox.querySelectorAll('li.alert')) {
      const comment = li.querySelector('input.comment');
      const duration = li.querySelector('select.duration');
      if (comment) typed.set(keyOf(li.dataset), { comment: comment.value, duration: duration ? duration.value : null, focused: document.activeElement === comment });
    }
    clearNode(activeBox);
    activeBox.appendChild(el('h2', null, `${t('al.active')} (${list.length})`));
    activeBox.appendChild(list.length ? el('ul', { class: 'alert-list', id: 'active-list' }, list.map((a) => card(a, true)))
      : el('p', { class: 'muted' }, t('al.none')));
    for (const li of activeBox.querySelectorAll('li.alert')) {
      const before = typed.get(keyOf(li.dataset));
      const comment = li.querySelector('input.comment');
      if (!before || !comment) continue;
      comment.value = before.comment;
      if (before.duration) li.querySelector('select.duration').value = before.duration;
      if (before.focused) comment.focus();
    }

    clearNode(silencesBox);
    silencesBox.appendChild(el('h2', null, t('al.silences')));
    const ss = silences.silences || [];
    silencesBox.appendChild(ss.length ? el('table', null, el('tbody', null, ss.map(silenceRow))) : el('p', { class: 'muted' }, t('al.noSilences')));

    clearNode(historyBox);
    historyBox.appendChild(el('h2', null, t('al.history')));
    const hs = closed.alerts || [];
    historyBox.appendChild(hs.length ? el('ul', { class: 'alert-list', id: 'history-list' }, hs.map((a) => card(a, false)))
      : el('p', { class: 'muted' }, t('al.noHistory')));
  }

  await refresh();

  let timer = null;
  const off = ctx.live.on('alert', (e) => {
    fresh.add(keyOf(e));
    clearTimeout(timer);
    timer = setTimeout(() => refresh().catch(() => {}), 200);
  });
  return () => { off(); clearTimeout(timer); };
}
