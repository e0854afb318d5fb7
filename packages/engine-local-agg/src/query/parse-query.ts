/**
 * Parses the DuckDB-dialect subset local-agg runs into a {@link LocalQuery}: a hand-written tokenizer and a
 * recursive-descent parser, no dependencies.
 *
 * Two errors come out, and they mean different things to the caller:
 * - `INVALID_SQL` (with `{ line, column }` details) when the text is not SQL at all: empty, an unknown first
 *   keyword, an unterminated string, quoted identifier or comment, unbalanced parentheses;
 * - `UNSUPPORTED_QUERY` for everything else we do not parse, including most syntax errors inside a SELECT: the
 *   gateway then routes the query to DuckDB, which reports its own, more precise error if the SQL is wrong.
 *
 * Unaliased output names follow DuckDB's naming where it is easy (`count_star()`, `sum(bytes)`); elsewhere they
 * are the lower-cased expression as written, with keywords upper-cased (best effort: DuckDB itself spells string
 * intervals as casts and parenthesises FILTER predicates).
 */
import { LakegateError } from '@lakegate/engine-api';
import type {
  Aggregate,
  AggregateFn,
  AggregateQuery,
  BucketExpr,
  CompareOp,
  Dimension,
  Literal,
  LocalQuery,
  Operand,
  OrderItem,
  Predicate,
  ScanQuery,
  SelectItem,
} from './aggregate-query.js';

type TokenType = 'word' | 'quoted' | 'string' | 'number' | 'symbol' | 'end';

interface Token {
  readonly type: TokenType;
  /** Words and quoted identifiers lower-cased, strings unescaped, numbers and symbols as written. */
  readonly text: string;
  /** Offsets of the token's first character and of the one after it. */
  readonly start: number;
  readonly end: number;
}

type SelectList = '*' | readonly SelectItem[];

/** Where an operand appears: decides whether aggregates are allowed and how a refusal is worded. */
type Clause = 'SELECT' | 'WHERE' | 'FILTER' | 'GROUP BY' | 'HAVING' | 'ORDER BY' | 'argument';

const DAY_MICROS = 86_400_000_000;
/** Deep enough for any real predicate, shallow enough that the parser never overflows the stack. */
const MAX_NESTING = 200;

const words = (list: string): ReadonlySet<string> => new Set(list.split(' '));

/** First words of statements that are SQL but not a SELECT: declined rather than called invalid. */
const STATEMENT_WORDS = words(
  'with insert update delete create drop alter pragma set copy explain describe show attach detach install load call ' +
    'values from summarize pivot unpivot use begin commit rollback checkpoint vacuum export import prepare execute ' +
    'deallocate reset analyze truncate comment merge table',
);
/** Words that cannot be a bare column name or alias (DuckDB's reserved words, plus join and clause words). */
const RESERVED = words(
  'all and any array as asc between both by case cast check collate constraint create default desc distinct do else ' +
    'end except exists false fetch filter for from grant group having in intersect interval into is join inner left ' +
    'right full outer cross natural positional asof anti semi lateral like ilike limit not null nulls offset on only ' +
    'or order over qualify returning select sample tablesample some table then to true union unique using when where ' +
    'window with within',
);
const JOIN_WORDS = words('join inner left right full outer cross natural positional asof anti semi lateral');
const OPERATOR_SYMBOLS = words('+ - * / % || :: [ -> ** // ^ & |');
const COMPARE_OPS = words('= <> < <= > >=');
const FLIPPED: Record<CompareOp, CompareOp> = { '=': '=', '<>': '<>', '<': '>', '<=': '>=', '>': '<', '>=': '<=' };
/** One-column aggregates, by function name (`mean` is DuckDB's alias of `avg`). */
const SIMPLE_AGGREGATES = new Map<string, AggregateFn>(
  Object.entries({ sum: 'sum', min: 'min', max: 'max', avg: 'avg', mean: 'avg' } as const),
);
const AGGREGATE_NAMES = words('count sum min max avg mean median quantile_cont approx_quantile percentile_cont');
const UNIT_MICROS = new Map(
  Object.entries({ second: 1e6, sec: 1e6, minute: 6e7, min: 6e7, hour: 3.6e9, hr: 3.6e9, day: DAY_MICROS }),
);

const AGGREGATE_CLAUSES: ReadonlySet<Clause> = new Set(['SELECT', 'HAVING', 'ORDER BY']);

function trailingRefusal(word: string): string | undefined {
  if (['union', 'except', 'intersect'].includes(word)) return 'UNION, EXCEPT or INTERSECT';
  if (word === 'qualify' || word === 'window') return 'window functions';
  return word === 'offset' ? 'OFFSET' : undefined;
}

function decline(what: string): never {
  throw new LakegateError('UNSUPPORTED_QUERY', `local-agg does not run ${what}`);
}

/** 1-based line and column of an offset. */
function position(sql: string, offset: number): { line: number; column: number } {
  const before = sql.slice(0, offset);
  return { line: before.split('\n').length, column: offset - before.lastIndexOf('\n') };
}

function invalid(sql: string, message: string, offset: number): never {
  const { line, column } = position(sql, offset);
  throw new LakegateError('INVALID_SQL', `${message} (line ${line}, column ${column})`, { details: { line, column } });
}

function describeToken(sql: string, token: Token): string {
  if (token.type === 'end') return 'end of query';
  const { line, column } = position(sql, token.start);
  return `"${sql.slice(token.start, token.end)}" at line ${line}, column ${column}`;
}

function unitMicros(word: string): number | undefined {
  const unit = word.toLowerCase();
  return UNIT_MICROS.get(unit) ?? UNIT_MICROS.get(unit.replace(/s$/, ''));
}

/** Unquoted token patterns, tried in order. (Quotes and comments are read by loops: regular expressions with
 * repeated alternatives overflow the stack on megabytes of input.) */
const TOKEN_PATTERNS: readonly (readonly ['number' | 'word' | 'symbol', RegExp])[] = [
  ['number', /(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?/y],
  ['word', /[\p{L}_][\p{L}\p{N}_$]*/uy],
  ['symbol', /<>|!=|<=|>=|::|\|\||->|\*\*|\/\/|[\s\S]/uy],
];
const SPACE = /\s*/y;

/** Splits SQL into tokens, dropping whitespace and comments; refuses unterminated strings and comments. */
function tokenize(sql: string): Token[] {
  const tokens: Token[] = [];
  for (let at = skipTrivia(sql, 0); at < sql.length; at = skipTrivia(sql, at)) {
    const token = readToken(sql, at);
    tokens.push(token);
    at = token.end;
  }
  tokens.push({ type: 'end', text: '', start: sql.length, end: sql.length });
  return tokens;
}

function skipTrivia(sql: string, from: number): number {
  for (let at = from; ; ) {
    SPACE.lastIndex = at;
    SPACE.exec(sql);
    at = SPACE.lastIndex;
    if (sql.startsWith('--', at)) {
      const newline = sql.indexOf('\n', at);
      at = newline < 0 ? sql.length : newline;
    } else if (sql.startsWith('/*', at)) {
      const close = sql.indexOf('*/', at + 2);
      if (close < 0) invalid(sql, 'Unterminated comment', at);
      at = close + 2;
    } else {
      return at;
    }
  }
}

function readToken(sql: string, start: number): Token {
  const quote = sql[start];
  if (quote === "'" || quote === '"') {
    const end = closingQuote(sql, start);
    if (end < 0) invalid(sql, quote === "'" ? 'Unterminated string' : 'Unterminated quoted identifier', start);
    const text = sql.slice(start + 1, end - 1).replaceAll(quote + quote, quote);
    return quote === "'"
      ? { type: 'string', text, start, end }
      : { type: 'quoted', text: text.toLowerCase(), start, end };
  }
  for (const [type, pattern] of TOKEN_PATTERNS) {
    pattern.lastIndex = start;
    const raw = pattern.exec(sql)?.[0];
    const end = pattern.lastIndex;
    if (raw !== undefined) return { type, text: type === 'word' ? raw.toLowerCase() : raw, start, end };
  }
  return invalid(sql, 'Unreadable character', start); // unreachable: the symbol pattern matches any character
}

/** The offset just after the quote that closes the one at `start` (a doubled quote stands for one), or -1. */
function closingQuote(sql: string, start: number): number {
  const quote = sql[start] ?? '';
  for (let from = start + 1; ; from += 2) {
    from = sql.indexOf(quote, from);
    if (from < 0 || sql[from + 1] !== quote) return from < 0 ? -1 : from + 1;
  }
}

function checkParentheses(sql: string, tokens: readonly Token[]): void {
  const open: Token[] = [];
  for (const token of tokens) {
    if (token.type !== 'symbol') continue;
    if (token.text === '(') open.push(token);
    if (token.text === ')' && !open.pop()) invalid(sql, 'Unbalanced parentheses: ")" without "("', token.start);
  }
  const unclosed = open.pop();
  if (unclosed) invalid(sql, 'Unbalanced parentheses: "(" is never closed', unclosed.start);
}

function checkStatementStart(sql: string, first: Token): void {
  if (first.type === 'end' || (first.type === 'symbol' && first.text === ';')) invalid(sql, 'Empty query', first.start);
  if (first.type === 'word' && first.text === 'select') return;
  if (first.type === 'word' && first.text === 'with') decline('CTEs (WITH)');
  if (first.type === 'word' && STATEMENT_WORDS.has(first.text)) decline(`${first.text.toUpperCase()} statements`);
  if (first.type === 'symbol' && first.text === '(') decline('parenthesised queries');
  invalid(sql, `Not a SQL statement: ${describeToken(sql, first)}`, first.start);
}

const isCompareOp = (text: string): text is CompareOp => COMPARE_OPS.has(text);
const isInteger = (token: Token): boolean => token.type === 'number' && /^\d+$/.test(token.text);

const dimensionKey = (d: Operand): string =>
  d.kind === 'column' ? `column:${d.name}` : d.kind === 'bucket' ? `bucket:${d.column}:${d.widthMicros}` : 'aggregate';

class Parser {
  readonly #sql: string;
  readonly #tokens: readonly Token[];
  /** Indices of words read as keywords: output names spell them upper-case. */
  readonly #keywords = new Set<number>();
  /** Qualifiers (`x.col`), checked against the table and its alias once the whole statement is read. */
  readonly #qualifiers: string[] = [];
  /** Names GROUP BY took for aliases of other expressions (see AggregateQuery.groupedAliases). */
  readonly #groupedAliases = new Set<string>();
  #pos = 0;
  #depth = 0;

  constructor(sql: string, tokens: readonly Token[]) {
    this.#sql = sql;
    this.#tokens = tokens;
  }

  // ---- token helpers: words and symbols are matched by text, quoted identifiers never are ----

  #peek(ahead = 0): Token {
    const last = this.#tokens.length - 1;
    return this.#tokens[Math.min(this.#pos + ahead, last)] ?? { type: 'end', text: '', start: 0, end: 0 };
  }

  #next(): Token {
    const token = this.#peek();
    if (token.type !== 'end') this.#pos++;
    return token;
  }

  #is(text: string, ahead = 0): boolean {
    const token = this.#peek(ahead);
    return (token.type === 'word' || token.type === 'symbol') && token.text === text;
  }

  #accept(text: string): boolean {
    if (!this.#is(text)) return false;
    this.#keywords.add(this.#pos++);
    return true;
  }

  #expect(...texts: string[]): void {
    for (const text of texts) if (!this.#accept(text)) this.#unexpected();
  }

  #unexpected(): never {
    return decline(`this query: unexpected ${describeToken(this.#sql, this.#peek())}`);
  }

  #list<T>(item: () => T): T[] {
    const items = [item()];
    while (this.#accept(',')) items.push(item());
    return items;
  }

  #isName(ahead = 0): boolean {
    const token = this.#peek(ahead);
    return token.type === 'quoted' || (token.type === 'word' && !RESERVED.has(token.text));
  }

  #name(): string {
    if (!this.#isName()) this.#unexpected();
    return this.#next().text;
  }

  /** `col` or `qualifier.col`. */
  #column(): string {
    const first = this.#name();
    if (!this.#accept('.')) return first;
    const second = this.#name();
    if (this.#is('.')) decline('column references qualified by a schema');
    this.#qualifiers.push(first);
    return second;
  }

  /** Refuses what may follow an operand but is outside the subset: arithmetic, casts, subscripts. */
  #rejectOperators(): void {
    const token = this.#peek();
    if (token.type === 'symbol' && OPERATOR_SYMBOLS.has(token.text)) {
      decline(token.text === '::' ? 'casts' : 'arithmetic or other operators in expressions');
    }
    if (this.#is('collate')) decline('COLLATE');
  }

  /** Renders tokens [from, to) as an output name: lower-case, keywords upper-case, DuckDB's spacing. */
  #render(from: number, to: number): string {
    let out = '';
    let prev: Token | undefined;
    for (let i = from; i < to; i++) {
      const token = this.#tokens[i];
      if (!token) break;
      const tight =
        prev === undefined ||
        (token.type === 'symbol' && [')', ',', '.'].includes(token.text)) ||
        (prev.type === 'symbol' && ['(', '.', '-'].includes(prev.text)) ||
        (token.text === '(' && prev.type !== 'symbol' && !this.#keywords.has(i - 1));
      const keyword = this.#keywords.has(i);
      const text = token.type === 'string' ? this.#sql.slice(token.start, token.end) : token.text;
      out += (tight ? '' : ' ') + (keyword ? text.toUpperCase() : text);
      prev = token;
    }
    return out.replace(/^count\(\*\)/, 'count_star()');
  }

  // ---- statement ----

  parse(): LocalQuery {
    this.#expect('select');
    if (this.#is('distinct')) decline('SELECT DISTINCT');
    const select = this.#selectList();
    const { table, qualifiers, alias } = this.#from();
    const where = this.#accept('where') ? this.#predicate('WHERE') : undefined;
    const grouped = this.#accept('group');
    const groupBy = grouped ? this.#groupBy(select) : [];
    const having = this.#accept('having') ? this.#predicate('HAVING') : undefined;
    const orderBy = this.#accept('order') ? this.#orderBy(select) : [];
    const limit = this.#accept('limit') ? this.#limit() : undefined;
    this.#end();
    const unknown = this.#qualifiers.find((q) => q !== table && q !== alias);
    if (unknown !== undefined) decline(`columns qualified by "${unknown}", which is not the FROM table`);
    const common = { table, qualifiers, ...(where && { where }), ...(limit !== undefined && { limit }) };
    const aggregated = select !== '*' && select.some((item) => item.expr.kind === 'aggregate');
    if (!grouped && !having && !aggregated) return scanQuery(select, orderBy, common);
    const groupedAliases = [...this.#groupedAliases];
    return aggregateQuery(select, orderBy, {
      ...common,
      groupBy,
      ...(having && { having }),
      ...(groupedAliases.length > 0 && { groupedAliases }),
    });
  }

  #end(): void {
    if (this.#accept(';') && this.#peek().type !== 'end') decline('several statements');
    const token = this.#peek();
    if (token.type === 'end') return;
    const refusal = token.type === 'word' ? trailingRefusal(token.text) : undefined;
    if (refusal) decline(refusal);
    this.#unexpected();
  }

  #selectList(): SelectList {
    if (!this.#accept('*')) return this.#list(() => this.#selectItem());
    if (this.#is(',')) decline('SELECT * with other select items');
    if (!this.#is('from')) decline('SELECT * modifiers (EXCLUDE, REPLACE, ...)');
    return '*';
  }

  #selectItem(): SelectItem {
    if (this.#is('*')) decline('SELECT * with other select items');
    const start = this.#pos;
    const expr = this.#operand('SELECT');
    const end = this.#pos;
    if (this.#accept('as') || this.#isName()) return { expr, name: this.#name(), aliased: true };
    return { expr, name: expr.kind === 'column' ? expr.name : this.#render(start, end), aliased: false };
  }

  /** `FROM [catalog.][schema.]table [[AS] alias]`. */
  #from(): { table: string; qualifiers: string[]; alias: string | undefined } {
    this.#expect('from');
    if (this.#is('(')) decline(this.#is('select', 1) ? 'subqueries' : 'FROM anything but one table');
    if (!this.#isName()) decline('FROM anything but one table');
    const qualifiers: string[] = [];
    let table = this.#name();
    while (this.#accept('.')) {
      qualifiers.push(table);
      table = this.#name();
    }
    if (this.#is('(')) decline('table functions');
    const alias = this.#accept('as') || this.#isName() ? this.#name() : undefined;
    const token = this.#peek();
    if (this.#is(',') || (token.type === 'word' && JOIN_WORDS.has(token.text))) decline('JOINs');
    return { table, qualifiers, alias };
  }

  // ---- operands: columns, buckets, aggregates ----

  #operand(clause: Clause): Operand {
    const token = this.#peek();
    if (this.#is('case')) decline('CASE expressions');
    if (this.#is('cast')) decline('casts');
    if (this.#is('exists')) decline('subqueries');
    if (this.#is('(')) decline(this.#is('select', 1) ? 'subqueries' : 'parenthesised expressions');
    if (token.type === 'string' || token.type === 'number') decline('constant expressions');
    const operand: Operand =
      this.#isName() && this.#is('(', 1) ? this.#call(clause) : { kind: 'column', name: this.#column() };
    this.#rejectOperators();
    return operand;
  }

  #call(clause: Clause): Operand {
    const fn = this.#next().text;
    this.#expect('(');
    if (fn === 'time_bucket' || fn === 'date_trunc') return this.#bucket(fn);
    if (!AGGREGATE_NAMES.has(fn)) decline(`the function ${fn}()`);
    const refusal = clause === 'argument' ? 'nested aggregates' : `aggregates in ${clause}`;
    if (!AGGREGATE_CLAUSES.has(clause)) decline(refusal);
    return this.#aggregate(fn);
  }

  /** An aggregate's or bucket's argument: a plain column. */
  #columnArgument(): string {
    const operand = this.#operand('argument');
    if (operand.kind !== 'column') decline('aggregate or bucket arguments other than plain columns');
    return operand.name;
  }

  #bucket(fn: string): BucketExpr {
    let widthMicros: number;
    if (fn === 'time_bucket') {
      this.#expect('interval');
      widthMicros = this.#interval();
    } else {
      const unit = this.#next();
      const micros = unit.type === 'string' ? unitMicros(unit.text) : undefined;
      if (micros === undefined) {
        decline(`date_trunc by ${describeToken(this.#sql, unit)}: only second, minute, hour and day`);
      }
      widthMicros = micros;
    }
    this.#expect(',');
    const column = this.#columnArgument();
    if (this.#is(',')) decline('time_bucket with an offset or origin');
    this.#expect(')');
    return { kind: 'bucket', column, widthMicros };
  }

  /** `'5 minutes'`, `'5' MINUTE` or `5 MINUTE` after INTERVAL, as microseconds that divide a day. */
  #interval(): number {
    const amount = this.#next();
    if (amount.type !== 'string' && amount.type !== 'number') decline('interval expressions');
    const unit = this.#peek();
    const unitWord = unit.type === 'word' && unitMicros(unit.text) !== undefined ? unit.text : '';
    if (unitWord) this.#keywords.add(this.#pos++);
    const text = unitWord ? `${amount.text} ${unitWord}` : amount.text;
    const match = /^\s*(\d+)\s*(\p{L}*)\s*$/u.exec(text);
    const micros = match?.[2] ? unitMicros(match[2]) : undefined;
    if (!match || micros === undefined) decline(`the interval "${text}": use seconds, minutes, hours or 1 day`);
    const width = Number(match[1]) * micros;
    if (width <= 0 || DAY_MICROS % width !== 0) decline(`time buckets of "${text}": buckets must divide a day`);
    return width;
  }

  #aggregate(fn: string): Aggregate {
    if (fn !== 'count' && this.#is('distinct')) decline('DISTINCT in aggregates other than count()');
    let parts = this.#aggregateArguments(fn);
    this.#expect(')');
    if (fn === 'percentile_cont') parts = this.#withinGroup(parts.fraction ?? 0);
    const filter = this.#accept('filter') ? this.#filter() : undefined;
    if (this.#is('over')) decline('window functions');
    return { kind: 'aggregate', ...parts, ...(filter && { filter }) };
  }

  #aggregateArguments(fn: string): Pick<Aggregate, 'fn' | 'column' | 'fraction'> {
    const simple = SIMPLE_AGGREGATES.get(fn);
    if (simple) return { fn: simple, column: this.#columnArgument() };
    if (fn === 'median') return { fn: 'quantile_cont', column: this.#columnArgument(), fraction: 0.5 };
    if (fn === 'percentile_cont') return { fn: 'quantile_cont', fraction: this.#fraction() };
    if (fn === 'count') {
      if (this.#accept('*')) return { fn: 'count' };
      const distinct = this.#accept('distinct');
      return { fn: distinct ? 'count_distinct' : 'count', column: this.#columnArgument() };
    }
    const column = this.#columnArgument();
    this.#expect(',');
    return { fn: fn === 'approx_quantile' ? 'approx_quantile' : 'quantile_cont', column, fraction: this.#fraction() };
  }

  /** `WITHIN GROUP (ORDER BY col [ASC|DESC])`: descending order reads the fraction from the other end. */
  #withinGroup(fraction: number): Pick<Aggregate, 'fn' | 'column' | 'fraction'> {
    this.#expect('within', 'group', '(', 'order', 'by');
    const column = this.#columnArgument();
    const descending = this.#descending();
    this.#expect(')');
    return { fn: 'quantile_cont', column, fraction: descending ? 1 - fraction : fraction };
  }

  #fraction(): number {
    if (this.#is('[')) decline('list-valued quantile fractions');
    const value = this.#literal().value;
    if (typeof value !== 'number' || value < 0 || value > 1) decline('quantile fractions outside 0..1');
    return value;
  }

  /** After FILTER: `(WHERE predicate)`. */
  #filter(): Predicate {
    this.#expect('(', 'where');
    const predicate = this.#predicate('FILTER');
    this.#expect(')');
    return predicate;
  }

  // ---- literals and predicates ----

  #isLiteralStart(): boolean {
    const token = this.#peek();
    if (token.type === 'string' || token.type === 'number') return true;
    if (this.#is('-')) return this.#peek(1).type === 'number';
    if (this.#is('true') || this.#is('false') || this.#is('null')) return true;
    return (this.#is('timestamp') || this.#is('date')) && this.#peek(1).type === 'string';
  }

  #literal(): Literal {
    if (!this.#isLiteralStart()) this.#unexpected();
    const negative = this.#accept('-');
    const token = this.#next();
    let result: Literal;
    if (token.type === 'string') result = { kind: 'literal', value: token.text };
    else if (token.type === 'number') result = { kind: 'literal', value: numberValue(token, negative) };
    else {
      this.#keywords.add(this.#pos - 1);
      const typed = token.text === 'date' ? 'date' : token.text === 'timestamp' ? 'timestamp' : undefined;
      if (typed) result = { kind: 'literal', value: this.#next().text, typed };
      else result = { kind: 'literal', value: token.text === 'null' ? null : token.text === 'true' };
    }
    this.#rejectOperators();
    return result;
  }

  /** `x OR y`, where each side is `x AND y`, where each side is `[NOT] condition`: the usual precedence. */
  #predicate(clause: Clause, kind: 'or' | 'and' = 'or'): Predicate {
    const side = (): Predicate => (kind === 'or' ? this.#predicate(clause, 'and') : this.#negation(clause));
    let left = side();
    while (this.#accept(kind)) left = { kind, left, right: side() };
    return left;
  }

  #negation(clause: Clause): Predicate {
    if (++this.#depth > MAX_NESTING) decline(`predicates nested deeper than ${MAX_NESTING} levels`);
    try {
      if (this.#accept('not')) return { kind: 'not', operand: this.#negation(clause) };
      return this.#condition(clause);
    } finally {
      this.#depth--;
    }
  }

  #condition(clause: Clause): Predicate {
    if (this.#is('(') && !this.#is('select', 1)) {
      this.#expect('(');
      const inner = this.#predicate(clause);
      this.#expect(')');
      return inner;
    }
    if (!this.#isLiteralStart()) return this.#test(this.#operand(clause));
    const value = this.#literal();
    const op = this.#compareOp();
    if (op === undefined) decline('predicates that do not start with a column');
    return { kind: 'compare', operand: this.#operand(clause), op: FLIPPED[op], value };
  }

  #compareOp(): CompareOp | undefined {
    const token = this.#peek();
    const op = token.text === '!=' ? '<>' : token.text;
    if (token.type !== 'symbol' || !isCompareOp(op)) return undefined;
    this.#pos++;
    return op;
  }

  /** What follows an operand: a comparison, [NOT] IN / BETWEEN / LIKE, IS [NOT] NULL, or nothing (a boolean). */
  #test(operand: Operand): Predicate {
    const op = this.#compareOp();
    if (op) {
      if (!this.#isLiteralStart()) decline(this.#is('(') ? 'subqueries' : 'comparisons between two columns');
      return { kind: 'compare', operand, op, value: this.#literal() };
    }
    if (this.#accept('is')) {
      const negated = this.#accept('not');
      this.#expect('null');
      return { kind: 'is-null', operand, negated };
    }
    const negated = this.#accept('not');
    if (this.#accept('in')) {
      this.#expect('(');
      if (this.#is('select')) decline('subqueries');
      const values = this.#list(() => this.#literal());
      this.#expect(')');
      return { kind: 'in', operand, values, negated };
    }
    if (this.#accept('between')) {
      const low = this.#literal();
      this.#expect('and');
      return { kind: 'between', operand, low, high: this.#literal(), negated };
    }
    if (!this.#accept('like')) {
      // A bare column is a boolean test, `WHERE cached`: true exactly where `cached = TRUE` is.
      if (negated || operand.kind !== 'column') this.#unexpected();
      return { kind: 'compare', operand, op: '=', value: { kind: 'literal', value: true } };
    }
    const pattern = this.#next();
    if (pattern.type !== 'string') decline('LIKE with anything but a constant pattern');
    return { kind: 'like', operand, pattern: pattern.text, negated };
  }

  // ---- GROUP BY, ORDER BY, LIMIT ----

  #groupBy(select: SelectList): Dimension[] {
    this.#expect('by');
    const items = select === '*' ? [] : select;
    if (this.#accept('all')) return items.flatMap((item) => (item.expr.kind === 'aggregate' ? [] : [item.expr]));
    return this.#list(() => this.#groupItem(items));
  }

  /** A column, a bucket, an alias of a select item or an ordinal; never an aggregate. */
  #groupItem(items: readonly SelectItem[]): Dimension {
    if (['grouping', 'cube', 'rollup'].some((word) => this.#is(word))) decline('GROUPING SETS, CUBE or ROLLUP');
    let expr: Operand;
    if (this.#peek().type === 'number') expr = items[this.#ordinal(items.length) - 1]?.expr ?? this.#unexpected();
    else expr = this.#operand('GROUP BY');
    if (expr.kind === 'column') {
      const name = expr.name;
      const aliased = items.find((item) => item.aliased && item.name === name)?.expr;
      if (aliased && !(aliased.kind === 'column' && aliased.name === name)) {
        this.#groupedAliases.add(name);
        expr = aliased;
      }
    }
    if (expr.kind === 'aggregate') decline('GROUP BY an aggregate');
    return expr;
  }

  /** A 1-based position in the select list. */
  #ordinal(count: number): number {
    const token = this.#next();
    const index = Number(token.text);
    if (!isInteger(token) || index < 1 || index > count) decline(`the ordinal ${describeToken(this.#sql, token)}`);
    this.#rejectOperators();
    return index;
  }

  #orderBy(select: SelectList): OrderItem[] {
    this.#expect('by');
    const count = select === '*' ? 0 : select.length;
    return this.#list(() => {
      const target =
        this.#peek().type === 'number'
          ? { kind: 'ordinal' as const, index: this.#ordinal(count) }
          : this.#operand('ORDER BY');
      return { target, descending: this.#descending(), nullsFirst: this.#nullsFirst() };
    });
  }

  /** `[ASC | DESC]`: whether descending. */
  #descending(): boolean {
    if (this.#accept('desc')) return true;
    this.#accept('asc');
    return false;
  }

  /** `[NULLS FIRST | NULLS LAST]`: DuckDB sorts NULLs last in both directions unless told otherwise. */
  #nullsFirst(): boolean {
    if (!this.#accept('nulls')) return false;
    if (this.#accept('first')) return true;
    this.#expect('last');
    return false;
  }

  #limit(): number {
    const token = this.#next();
    if (!isInteger(token)) decline('LIMIT with anything but a non-negative integer');
    const limit = numberValue(token, false);
    if (this.#is('offset') || this.#is(',')) decline('OFFSET');
    return limit;
  }
}

function numberValue(token: Token, negative: boolean): number {
  const value = Number(token.text) * (negative ? -1 : 1);
  // Beyond 2^53 a JavaScript number no longer equals the integer DuckDB would compare with.
  if (isInteger(token) && !Number.isSafeInteger(value)) decline('integers beyond 2^53');
  return value;
}

type CommonClauses = Pick<ScanQuery, 'table' | 'qualifiers' | 'where' | 'limit'>;
type AggregateClauses = CommonClauses & Pick<AggregateQuery, 'groupBy' | 'having' | 'groupedAliases'>;

function scanQuery(select: SelectList, orderBy: readonly OrderItem[], common: CommonClauses): ScanQuery {
  if (orderBy.length > 0) decline('ORDER BY on a plain scan');
  if (select !== '*' && select.some((item) => item.expr.kind === 'bucket')) decline('time buckets in a plain scan');
  return { shape: 'scan', columns: select, ...common };
}

/** Deduplicates the dimensions and checks that every other output is an aggregate, as DuckDB's binder would. */
function aggregateQuery(select: SelectList, orderBy: readonly OrderItem[], rest: AggregateClauses): AggregateQuery {
  if (select === '*') decline('SELECT * with GROUP BY');
  const groupBy = [...new Map(rest.groupBy.map((d) => [dimensionKey(d), d])).values()];
  const keys = new Set(groupBy.map(dimensionKey));
  const loose = select.find((item) => item.expr.kind !== 'aggregate' && !keys.has(dimensionKey(item.expr)));
  if (loose) decline(`"${loose.name}" in SELECT: it is neither aggregated nor in GROUP BY`);
  return { shape: 'aggregate', select, orderBy, ...rest, groupBy };
}

/**
 * Parses one SELECT of the local-agg subset.
 *
 * @example parseLocalQuery('SELECT verb, count(*) FROM events GROUP BY verb')
 * @throws LakegateError `INVALID_SQL` for text that is not SQL, `UNSUPPORTED_QUERY` for SQL outside the subset.
 */
export function parseLocalQuery(sql: string): LocalQuery {
  const tokens = tokenize(sql);
  checkParentheses(sql, tokens);
  checkStatementStart(sql, tokens[0] ?? { type: 'end', text: '', start: 0, end: 0 });
  return new Parser(sql, tokens).parse();
}
