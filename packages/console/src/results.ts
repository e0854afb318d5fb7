import { h } from './dom.js';

const ROW_HEIGHT = 24;

/** A result as the gateway's JSON format answers it. */
export interface Result {
  readonly columns: readonly { readonly name: string; readonly type: string }[];
  readonly rows: readonly (readonly unknown[])[];
  readonly rowCount: number;
  readonly truncated: boolean;
  readonly stats?: Readonly<Record<string, unknown>>;
}

const cellText = (value: unknown): string =>
  value === null ? 'NULL' : typeof value === 'object' ? JSON.stringify(value) : String(value);

/**
 * A virtualised table: only the rows in view (and a few around them) are in the page, as text, so that 100,000
 * rows scroll as smoothly as 100.
 */
export function resultGrid(result: Result): HTMLElement {
  const grid = h('div', {
    className: 'grid',
    role: 'table',
    'aria-label': 'Result',
    'aria-rowcount': result.rows.length + 1,
    tabindex: 0,
  });
  const head = h(
    'div',
    { className: 'head', role: 'row' },
    ...result.columns.map((c) => h('div', { className: 'c', role: 'columnheader', title: c.type }, c.name)),
  );
  const body = h('div', { style: `position:relative;height:${result.rows.length * ROW_HEIGHT}px` });
  grid.append(head, body);
  let drawn = '';
  const draw = (): void => {
    const first = Math.max(0, Math.floor(grid.scrollTop / ROW_HEIGHT) - 10);
    const last = Math.min(result.rows.length, first + Math.ceil((grid.clientHeight || 420) / ROW_HEIGHT) + 20);
    if (drawn === `${first}:${last}`) return;
    drawn = `${first}:${last}`;
    const rows: HTMLElement[] = [];
    for (let i = first; i < last; i++) {
      const row = result.rows[i] ?? [];
      rows.push(
        h(
          'div',
          { className: 'r', role: 'row', 'aria-rowindex': i + 2, style: `top:${i * ROW_HEIGHT}px` },
          ...row.map((value) => h('div', { className: 'c', role: 'cell' }, cellText(value))),
        ),
      );
    }
    body.replaceChildren(...rows);
  };
  grid.addEventListener('scroll', () => requestAnimationFrame(draw));
  requestAnimationFrame(draw);
  draw();
  return grid;
}

/** The result as CSV (RFC 4180 quoting), for download. */
export function toCsv(result: Result): string {
  const quote = (value: unknown): string => {
    if (value === null || value === undefined) return '';
    const text = cellText(value);
    return /[",\n\r]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
  };
  const lines = [result.columns.map((c) => quote(c.name)).join(',')];
  for (const row of result.rows) lines.push(row.map(quote).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

const SVG = 'http://www.w3.org/2000/svg';

function svg(tag: string, attributes: Record<string, string | number>, text?: string): SVGElement {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  if (text !== undefined) element.textContent = text;
  return element;
}

/**
 * A quick chart of a result: the first column as labels, the first numeric column after it as values, as bars or a
 * line (at most 200 points); undefined when the result has no numeric column to draw.
 */
export function quickChart(result: Result, kind: 'bar' | 'line'): SVGElement | undefined {
  const valueColumn = result.columns.findIndex(
    (_, i) =>
      i > 0 &&
      result.rows.some(
        (row) =>
          typeof row[i] === 'number' || (typeof row[i] === 'string' && row[i] !== '' && !Number.isNaN(Number(row[i]))),
      ),
  );
  if (valueColumn < 0 || result.rows.length === 0) return undefined;
  const points = result.rows
    .slice(0, 200)
    .map((row) => ({ label: cellText(row[0]), value: Number(row[valueColumn]) || 0 }));
  const width = 800;
  const height = 220;
  const max = Math.max(...points.map((p) => p.value), 0) || 1;
  const chart = svg('svg', {
    viewBox: `0 0 ${width} ${height}`,
    role: 'img',
    'aria-label': `${result.columns[valueColumn]?.name} by ${result.columns[0]?.name}`,
  });
  const step = width / points.length;
  const y = (value: number): number => height - 20 - (value / max) * (height - 30);
  if (kind === 'bar') {
    points.forEach((p, i) => {
      const bar = svg('rect', {
        x: i * step + step * 0.1,
        y: y(p.value),
        width: step * 0.8,
        height: height - 20 - y(p.value),
        fill: '#1f5f8b',
      });
      bar.append(svg('title', {}, `${p.label}: ${p.value}`));
      chart.append(bar);
    });
  } else {
    const path = points.map((p, i) => `${i === 0 ? 'M' : 'L'}${i * step + step / 2},${y(p.value)}`).join(' ');
    chart.append(svg('path', { d: path, fill: 'none', stroke: '#1f5f8b', 'stroke-width': 2 }));
  }
  const labelEvery = Math.ceil(points.length / 10);
  points.forEach((p, i) => {
    if (i % labelEvery === 0)
      chart.append(
        svg(
          'text',
          { x: i * step + step / 2, y: height - 4, 'font-size': 11, 'text-anchor': 'middle' },
          p.label.slice(0, 14),
        ),
      );
  });
  return chart;
}
