// Shared helpers for pages: parameter labels and units (as the service's Parameters catalogue), number formatting,
// station kinds, and which stations are silent now.

export const PARAMETERS = {
  pm25: { label: 'PM2.5', unit: 'µg/m³' }, pm10: { label: 'PM10', unit: 'µg/m³' },
  so2: { label: 'SO₂', unit: 'µg/m³' }, no2: { label: 'NO₂', unit: 'µg/m³' }, co: { label: 'CO', unit: 'mg/m³' },
  o3: { label: 'O₃', unit: 'µg/m³' }, nmhc: { label: 'NMHC', unit: 'mg/m³' }, tvoc: { label: 'TVOC', unit: 'mg/m³' },
  ph: { label: 'pH', unit: '' }, do: { label: 'DO', unit: 'mg/L' }, codmn: { label: 'CODMn', unit: 'mg/L' },
  cod: { label: 'COD', unit: 'mg/L' }, bod5: { label: 'BOD₅', unit: 'mg/L' }, nh3n: { label: 'NH₃-N', unit: 'mg/L' },
  tp: { label: 'TP', unit: 'mg/L' }, tn: { label: 'TN', unit: 'mg/L' }, wtemp: { label: 'T(水)', unit: '°C' },
  cond: { label: 'EC', unit: 'µS/cm' }, turb: { label: 'Turb', unit: 'NTU' },
  temp: { label: 'T', unit: '°C' }, rh: { label: 'RH', unit: '%' }, pressure: { label: 'P', unit: 'kPa' },
  wspd: { label: 'WS', unit: 'm/s' }, wdir: { label: 'WD', unit: '°' },
};

/** AQI items of the API (so2, no2, co, pm10, pm25, o3_1h, o3_8h) as shown. */
export const AQI_ITEMS = { so2: 'SO₂', no2: 'NO₂', co: 'CO', pm10: 'PM10', pm25: 'PM2.5', o3_1h: 'O₃-1h', o3_8h: 'O₃-8h' };

/** HJ 633 colours the API names; anything else is shown without a colour. */
export const AQI_COLOURS = ['green', 'yellow', 'orange', 'red', 'purple', 'maroon'];

export const KIND_CODES = { STATION_KIND_AIR: 'air', STATION_KIND_VOC: 'voc', STATION_KIND_WATER: 'water' };

export const COMMON_STRINGS = {
  zh: { 'kind.air': '空气', 'kind.voc': 'VOCs', 'kind.water': '水质', 'kind.unknown': '未知' },
  en: { 'kind.air': 'air', 'kind.voc': 'VOCs', 'kind.water': 'water', 'kind.unknown': 'unknown' },
};

export const kindOf = (station) => KIND_CODES[station.kind] || 'unknown';

/** A number with the given decimals, '—' when absent. */
export function num(value, decimals = 1) {
  return typeof value === 'number' && Number.isFinite(value) ? value.toFixed(decimals) : '—';
}

/** A signed percentage ("-2.9%"), '—' when absent. */
export function pct(value, decimals = 1) {
  return typeof value === 'number' && Number.isFinite(value) ? `${value > 0 ? '+' : ''}${value.toFixed(decimals)}%` : '—';
}

/** A reading's value as shown: enough decimals for its size. */
export function readingValue(parameter, value) {
  if (typeof value !== 'number') return '—';
  const a = Math.abs(value);
  return a >= 100 ? value.toFixed(0) : a >= 10 ? value.toFixed(1) : a >= 1 ? value.toFixed(2) : value.toFixed(3);
}

/** Latest readings grouped by station: Map id -> { time (newest ISO), readings: [Reading] }. */
export function latestByStation(readings) {
  const map = new Map();
  for (const r of readings || []) {
    let entry = map.get(r.stationId);
    if (!entry) { entry = { time: '', readings: [] }; map.set(r.stationId, entry); }
    entry.readings.push(r);
    if (!entry.time || Date.parse(r.time) > Date.parse(entry.time)) entry.time = r.time;
  }
  for (const e of map.values()) e.readings.sort((a, b) => a.parameter.localeCompare(b.parameter));
  return map;
}

/** Stations silent now: the subjects of the service's own silent rule alerts (pending or firing), and stations
 *  with no reading at all in the latest window (24 h). `latest` is a Map (or a promise of one) of latestByStation,
 *  or a function giving one: then it is asked only when no silent rule answers (alerting off, or no such rule), so
 *  that a page which does not show values spares the service the /v1/latest query. */
export async function silentStations(ctx, latest) {
  const asked = Promise.all([ctx.api('/v1/alerts/rules'), ctx.api('/v1/alerts')]); // at once, with the caller's requests
  asked.catch(() => {});
  const stations = await ctx.stations();
  const silent = new Map(); // id -> reason
  let alertsKnown = true;
  let silentRules = new Set();
  try {
    const [rules, alerts] = await asked;
    silentRules = new Set((rules.rules || []).filter((r) => r.kind === 'silent').map((r) => r.name));
    for (const a of alerts.alerts || []) if (silentRules.has(a.rule)) silent.set(a.subject, 'alert');
  } catch (e) {
    if (e.status === 401) throw e;
    alertsKnown = false;
  }
  if (typeof latest === 'function' && alertsKnown && silentRules.size > 0) return { silent, alertsKnown };
  const latestMap = await (typeof latest === 'function' ? latest() : latest);
  for (const s of stations) if (!latestMap.has(s.id) && !silent.has(s.id)) silent.set(s.id, 'no-data');
  return { silent, alertsKnown };
}
