import { h } from './dom.js';

const KEYWORDS = new Set(
  'select from where group by order having limit offset join left right inner outer full cross on using as and or not in is null like between case when then else end with union all distinct over partition asc desc count sum avg min max interval exists true false'.split(
    ' ',
  ),
);

/** SQL as highlighted nodes: keywords, strings, numbers and comments, the rest as text. */
export function highlight(sql: string): Node[] {
  const out: Node[] = [];
  const pattern = /(--[^\n]*|\/\*[\s\S]*?(?:\*\/|$))|('(?:[^']|'')*'?)|(\b\d+(?:\.\d+)?\b)|([A-Za-z_][A-Za-z0-9_]*)/g;
  let last = 0;
  for (const match of sql.matchAll(pattern)) {
    const at = match.index ?? 0;
    if (at > last) out.push(document.createTextNode(sql.slice(last, at)));
    const [text, comment, string, number, word] = match;
    if (comment) out.push(h('span', { className: 'tok-cmt' }, comment));
    else if (string) out.push(h('span', { className: 'tok-str' }, string));
    else if (number) out.push(h('span', { className: 'tok-num' }, number));
    else if (word && KEYWORDS.has(word.toLowerCase())) out.push(h('span', { className: 'tok-kw' }, word));
    else out.push(document.createTextNode(text));
    last = at + text.length;
  }
  if (last < sql.length) out.push(document.createTextNode(sql.slice(last)));
  // A final line break needs a character after it to take up its line, as the textarea's does.
  out.push(document.createTextNode('\n'));
  return out;
}
