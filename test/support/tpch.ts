/**
 * A self-contained, TPC-H-shaped data generator written in plain DuckDB SQL (the `tpch` extension is not needed),
 * and the 22 TPC-H queries with the specification's validation substitution parameters.
 *
 * The data follows the dbgen rules where they matter to the queries: table cardinalities scale like dbgen
 * (scale 1 = 1.5M orders, about 6M line items), vocabularies are the specification's, keys are consistent
 * (every line item's part/supplier pair exists in partsupp, one customer in three has no orders), dates and
 * statuses are derived as the specification describes, and o_totalprice / o_orderstatus are computed from the
 * order's line items. Pseudo-randomness is `hash(hash(key, seed))` (no random()), so the data is deterministic for
 * a given DuckDB version.
 * Deviation: one order in 2000 is a "bulk" order (7 lines of 40..50 units), so that Q18 finds orders at small scales.
 */

const START_DATE = "DATE '1992-01-01'";
/** dbgen's CURRENTDATE, which decides l_returnflag and l_linestatus. */
const CURRENT_DATE = "DATE '1995-06-17'";
/** Days from 1992-01-01 to 1998-08-02 (the last order date, ENDDATE - 151 days), inclusive. */
const ORDER_DATE_SPAN = 2406;

/** A comma-separated list of words (which may contain spaces). */
function wordList(list: string): readonly string[] {
  return list.split(',').map((word) => word.trim());
}

const REGIONS = ['AFRICA', 'AMERICA', 'ASIA', 'EUROPE', 'MIDDLE EAST'] as const;
/** [name, region key], indexed by nation key. */
const NATIONS: readonly (readonly [string, number])[] = [
  ['ALGERIA', 0],
  ['ARGENTINA', 1],
  ['BRAZIL', 1],
  ['CANADA', 1],
  ['EGYPT', 4],
  ['ETHIOPIA', 0],
  ['FRANCE', 3],
  ['GERMANY', 3],
  ['INDIA', 2],
  ['INDONESIA', 2],
  ['IRAN', 4],
  ['IRAQ', 4],
  ['JAPAN', 2],
  ['JORDAN', 4],
  ['KENYA', 0],
  ['MOROCCO', 0],
  ['MOZAMBIQUE', 0],
  ['PERU', 1],
  ['CHINA', 2],
  ['ROMANIA', 3],
  ['SAUDI ARABIA', 4],
  ['VIETNAM', 2],
  ['RUSSIA', 3],
  ['UNITED KINGDOM', 3],
  ['UNITED STATES', 1],
];

const SEGMENTS = ['AUTOMOBILE', 'BUILDING', 'FURNITURE', 'MACHINERY', 'HOUSEHOLD'];
const PRIORITIES = ['1-URGENT', '2-HIGH', '3-MEDIUM', '4-NOT SPECIFIED', '5-LOW'];
const SHIP_MODES = ['REG AIR', 'AIR', 'RAIL', 'SHIP', 'TRUCK', 'MAIL', 'FOB'];
const SHIP_INSTRUCTS = ['DELIVER IN PERSON', 'COLLECT COD', 'NONE', 'TAKE BACK RETURN'];
const TYPE_SIZES = ['STANDARD', 'SMALL', 'MEDIUM', 'LARGE', 'ECONOMY', 'PROMO'];
const TYPE_FINISHES = ['ANODIZED', 'BURNISHED', 'PLATED', 'POLISHED', 'BRUSHED'];
const TYPE_METALS = ['TIN', 'NICKEL', 'BRASS', 'STEEL', 'COPPER'];
const CONTAINER_SIZES = ['SM', 'LG', 'MED', 'JUMBO', 'WRAP'];
const CONTAINER_KINDS = ['CASE', 'BOX', 'BAG', 'JAR', 'PKG', 'PACK', 'CAN', 'DRUM'];
/** The 92 colour words p_name is made of. */
const COLORS = wordList(`
  almond, antique, aquamarine, azure, beige, bisque, black, blanched, blue, blush, brown, burlywood, burnished,
  chartreuse, chiffon, chocolate, coral, cornflower, cornsilk, cream, cyan, dark, deep, dim, dodger, drab, firebrick,
  floral, forest, frosted, gainsboro, ghost, goldenrod, green, grey, honeydew, hot, indian, ivory, khaki, lace,
  lavender, lawn, lemon, light, lime, linen, magenta, maroon, medium, metallic, midnight, mint, misty, moccasin,
  navajo, navy, olive, orange, orchid, pale, papaya, peach, peru, pink, plum, powder, puff, purple, red, rose, rosy,
  royal, saddle, salmon, sandy, seashell, sienna, sky, slate, smoke, snow, spring, steel, tan, thistle, tomato,
  turquoise, violet, wheat, white, yellow
`);

// Word classes of the specification's text grammar (comments); the commonest nouns are listed twice, as weights.
const NOUNS = wordList(`
  foxes, ideas, theodolites, pinto beans, instructions, dependencies, excuses, platelets, asymptotes, courts,
  dolphins, multipliers, sauternes, warthogs, frets, dinos, attainments, somas, patterns, forges, braids,
  hockey players, frays, warhorses, dugouts, notornis, epitaphs, pearls, tithes, waters, orbits, gifts, sheaves,
  depths, sentiments, decoys, realms, pains, grouches, escapades, packages, requests, accounts, deposits, ideas,
  requests, packages, accounts
`);
const VERBS = wordList(`
  sleep, wake, are, cajole, haggle, nag, use, boost, affix, detect, integrate, maintain, nod, was, lose, sublate,
  solve, thrash, promise, engage, hinder, print, x-ray, breach, eat, grow, impress, mold, poach, serve, run, dazzle,
  snooze, doze, unwind, kindle, play, hang, believe, doubt
`);
const ADJECTIVES = wordList(`
  special, pending, unusual, express, furious, sly, careful, blithe, quick, fluffy, slow, quiet, ruthless, thin,
  close, dogged, daring, brave, stealthy, permanent, enticing, idle, busy, regular, final, ironic, even, bold, silent
`);
const ADVERBS = wordList(`
  sometimes, always, never, furiously, slyly, carefully, blithely, quickly, fluffily, slowly, quietly, ruthlessly,
  thinly, closely, doggedly, daringly, bravely, stealthily, permanently, enticingly, idly, busily, regularly, finally,
  ironically, evenly, boldly, silently
`);
const PREPOSITIONS = wordList(`
  about, above, according to, across, after, against, along, alongside of, among, around, at, atop, before, behind,
  beneath, beside, besides, between, beyond, by, despite, during, except, for, from, in place of, inside, instead of,
  into, near, of, on, outside, over, past, since, through, throughout, to, toward, under, until, up, upon, without,
  with, within
`);
const TERMINATORS = ['.', ';', ':', '?', '!', '--'];

function quote(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

function sqlList(words: readonly string[]): string {
  return `[${words.map(quote).join(', ')}]`;
}

/** A deterministic pseudo-random INTEGER in [0, n) from the key expression(s) and a seed. */
function rnd(key: string, seed: number, n: number): string {
  return `CAST(hash(hash(${key}, ${seed})) % ${n} AS INTEGER)`;
}

/** A deterministic pseudo-random INTEGER in [lo, hi]. */
function between(key: string, seed: number, lo: number, hi: number): string {
  return `(${lo} + ${rnd(key, seed, hi - lo + 1)})`;
}

/** A deterministic pseudo-random pick from a word list. */
function pick(words: readonly string[], key: string, seed: number): string {
  return `${sqlList(words)}[1 + ${rnd(key, seed, words.length)}]`;
}

/** A pseudo-random amount of cents in [lo, hi] as DECIMAL(15,2). */
function money(key: string, seed: number, lo: number, hi: number): string {
  return `CAST(${between(key, seed, lo, hi)} / 100 AS DECIMAL(15,2))`;
}

/** Text in the style of dbgen's comments (sentences of the spec's grammar), cut to a length in [minLen, maxLen]. */
function text(key: string, seed: number, minLen: number, maxLen: number): string {
  const w = (words: readonly string[], offset: number): string => pick(words, key, seed + offset);
  const sentences = [
    `concat_ws(' ', ${w(ADVERBS, 1)}, ${w(ADJECTIVES, 2)}, ${w(NOUNS, 3)}, ${w(VERBS, 4)}, ${w(PREPOSITIONS, 5)}, ` +
      `'the', ${w(ADJECTIVES, 6)}, ${w(NOUNS, 7)}) || ${w(TERMINATORS, 8)}`,
    `concat_ws(' ', ${w(ADJECTIVES, 9)}, ${w(NOUNS, 10)}, ${w(VERBS, 11)}, ${w(ADVERBS, 12)}) || ${w(TERMINATORS, 13)}`,
    `concat_ws(' ', 'the', ${w(NOUNS, 14)}, ${w(VERBS, 15)}, ${w(PREPOSITIONS, 16)}, 'the', ${w(ADJECTIVES, 17)}, ` +
      `${w(NOUNS, 18)}) || ${w(TERMINATORS, 19)}`,
  ];
  return `rtrim(left(${sentences.join(" || ' ' || ")}, ${between(key, seed + 20, minLen, maxLen)}))`;
}

/** A phone number whose country code is the nation key + 10, as in the specification. */
function phone(key: string, nationKey: string, seed: number): string {
  return (
    `concat(${nationKey} + 10, '-', ${between(key, seed, 100, 999)}, '-', ${between(key, seed + 1, 100, 999)}, ` +
    `'-', ${between(key, seed + 2, 1000, 9999)})`
  );
}

/** A random-looking address of 10..40 characters. */
function address(key: string, seed: number): string {
  const bytes = `unhex(md5(concat(${key}, '-', ${seed})) || md5(concat(${key}, '+', ${seed})))`;
  return `left(replace(to_base64(${bytes}), '=', ''), ${between(key, seed, 10, 40)})`;
}

/**
 * A nation key for the i-th supplier or customer: each run of 25 consecutive keys covers every nation once, in a
 * shuffled order, so that even small scales have suppliers and customers in every nation (dbgen draws uniformly).
 */
function balancedNation(key: string, seed: number): string {
  return `CAST(((${key} - 1) % 25 * 7 + ${rnd(`(${key} - 1) // 25`, seed, 25)}) % 25 AS INTEGER)`;
}

/** p_retailprice in cents, the specification's formula. */
function retailCents(partKey: string): string {
  return `(90000 + ((${partKey} // 10) % 20001) + 100 * (${partKey} % 1000))`;
}

interface Counts {
  readonly suppliers: number;
  readonly customers: number;
  readonly parts: number;
  readonly orders: number;
  readonly clerks: number;
}

function counts(scale: number): Counts {
  if (!(scale > 0)) throw new Error(`TPC-H scale must be positive, got ${scale}`);
  const rows = (base: number): number => Math.max(1, Math.round(base * scale));
  return {
    suppliers: Math.max(4, rows(10_000)),
    customers: Math.max(3, rows(150_000)),
    parts: rows(200_000),
    orders: rows(1_500_000),
    clerks: rows(1_000),
  };
}

/** The supplier of a part's j-th partsupp row (j in 0..3), the specification's formula. */
function supplierOf(partKey: string, j: string, suppliers: number): string {
  return `((${partKey} + ${j} * (${Math.floor(suppliers / 4)} + (${partKey} - 1) // ${suppliers})) % ${suppliers} + 1)`;
}

/**
 * Orders (`o`) and their line items (`l`) as CTEs. Both the orders and the lineitem table are computed from it,
 * so that o_totalprice and o_orderstatus agree with the line items.
 */
function orderLinesCte(c: Counts): string {
  return `WITH o AS (
  SELECT
    oi,
    ((oi - 1) // 8) * 32 + (oi - 1) % 8 + 1 AS orderkey,
    ${START_DATE} + ${rnd('oi', 301, ORDER_DATE_SPAN)} AS orderdate,
    ${rnd('oi', 302, 2000)} = 0 AS bulk
  FROM range(1, ${c.orders + 1}) AS t(oi)
), l AS (
  SELECT
    oi,
    orderkey,
    orderdate,
    bulk,
    ln,
    partkey,
    ${supplierOf('partkey', rnd('oi, ln', 312, 4), c.suppliers)} AS suppkey,
    quantity,
    CAST(quantity * ${retailCents('partkey')} / 100 AS DECIMAL(15,2)) AS extendedprice,
    CAST(${rnd('oi, ln', 314, 11)} / 100 AS DECIMAL(15,2)) AS discount,
    CAST(${rnd('oi, ln', 315, 9)} / 100 AS DECIMAL(15,2)) AS tax,
    shipdate,
    orderdate + ${between('oi, ln', 317, 30, 90)} AS commitdate,
    receiptdate,
    CASE WHEN receiptdate <= ${CURRENT_DATE} THEN (CASE WHEN ${rnd('oi, ln', 318, 2)} = 0 THEN 'R' ELSE 'A' END)
      ELSE 'N' END AS returnflag,
    CASE WHEN shipdate > ${CURRENT_DATE} THEN 'O' ELSE 'F' END AS linestatus
  FROM (
    SELECT
      *,
      shipdate + ${between('oi, ln', 316, 1, 30)} AS receiptdate
    FROM (
      SELECT
        oi,
        orderkey,
        orderdate,
        bulk,
        ln,
        CAST(${between('oi, ln', 311, 1, c.parts)} AS INTEGER) AS partkey,
        CASE WHEN bulk THEN ${between('oi, ln', 313, 40, 50)} ELSE ${between('oi, ln', 313, 1, 50)} END AS quantity,
        orderdate + ${between('oi, ln', 319, 1, 121)} AS shipdate
      FROM o, range(1, 8) AS r(ln)
      WHERE bulk OR ln <= ${between('oi', 303, 1, 7)}
    )
  )
)`;
}

/** Table name -> a DuckDB SELECT producing that table's rows (columns named and typed as in the TPC-H spec). */
export function tpchTables(scale: number): Readonly<Record<string, string>> {
  const c = counts(scale);
  const region = REGIONS.map(
    (name, key) => `(${key}, ${quote(name)}, ${quote(`${name.toLowerCase()} deposits haggle fluffily`)})`,
  );
  const nation = NATIONS.map(([name, regionKey], key) => `(${key}, ${quote(name)}, ${regionKey})`);
  const oddStep = rnd('i', 205, 46);
  const colorStep = `CASE WHEN 2 * ${oddStep} + 1 IN (23, 69) THEN 2 * ${oddStep} + 3 ELSE 2 * ${oddStep} + 1 END`;
  const colorWords = [0, 1, 2, 3, 4].map(
    (k) => `${sqlList(COLORS)}[1 + (colorStart + ${k} * colorStep) % ${COLORS.length}]`,
  );

  return Object.freeze({
    region: `SELECT
  CAST(k AS INTEGER) AS r_regionkey,
  CAST(name AS VARCHAR) AS r_name,
  CAST(comment AS VARCHAR) AS r_comment
FROM (VALUES ${region.join(', ')}) AS t(k, name, comment)`,

    nation: `SELECT
  CAST(k AS INTEGER) AS n_nationkey,
  CAST(name AS VARCHAR) AS n_name,
  CAST(regionkey AS INTEGER) AS n_regionkey,
  CAST(${text('k', 100, 31, 114)} AS VARCHAR) AS n_comment
FROM (VALUES ${nation.join(', ')}) AS t(k, name, regionkey)`,

    supplier: `SELECT
  CAST(i AS INTEGER) AS s_suppkey,
  'Supplier#' || lpad(CAST(i AS VARCHAR), 9, '0') AS s_name,
  ${address('i', 110)} AS s_address,
  CAST(nationkey AS INTEGER) AS s_nationkey,
  ${phone('i', 'nationkey', 112)} AS s_phone,
  ${money('i', 115, -99_999, 999_999)} AS s_acctbal,
  CASE
    WHEN i % 40 = 13 THEN ${text('i', 140, 5, 30)} || ' Customer ' || ${text('i', 170, 5, 30)} || ' Complaints'
    WHEN i % 40 = 27 THEN ${text('i', 140, 5, 30)} || ' Customer ' || ${text('i', 170, 5, 30)} || ' Recommends'
    ELSE ${text('i', 116, 25, 100)}
  END AS s_comment
FROM (SELECT i, ${balancedNation('i', 111)} AS nationkey FROM range(1, ${c.suppliers + 1}) AS t(i))`,

    customer: `SELECT
  CAST(i AS INTEGER) AS c_custkey,
  'Customer#' || lpad(CAST(i AS VARCHAR), 9, '0') AS c_name,
  ${address('i', 120)} AS c_address,
  CAST(nationkey AS INTEGER) AS c_nationkey,
  ${phone('i', 'nationkey', 122)} AS c_phone,
  ${money('i', 125, -99_999, 999_999)} AS c_acctbal,
  ${pick(SEGMENTS, 'i', 126)} AS c_mktsegment,
  ${text('i', 127, 29, 116)} AS c_comment
FROM (SELECT i, ${balancedNation('i', 121)} AS nationkey FROM range(1, ${c.customers + 1}) AS t(i))`,

    part: `SELECT
  CAST(i AS INTEGER) AS p_partkey,
  concat_ws(' ', ${colorWords.join(', ')}) AS p_name,
  'Manufacturer#' || mfgr AS p_mfgr,
  'Brand#' || mfgr || ${between('i', 202, 1, 5)} AS p_brand,
  concat_ws(' ', ${pick(TYPE_SIZES, 'i', 206)}, ${pick(TYPE_FINISHES, 'i', 207)}, ${pick(TYPE_METALS, 'i', 208)})
    AS p_type,
  CAST(${between('i', 209, 1, 50)} AS INTEGER) AS p_size,
  ${pick(CONTAINER_SIZES, 'i', 210)} || ' ' || ${pick(CONTAINER_KINDS, 'i', 211)} AS p_container,
  CAST(${retailCents('i')} / 100 AS DECIMAL(15,2)) AS p_retailprice,
  ${text('i', 212, 5, 22)} AS p_comment
FROM (
  SELECT
    i,
    ${between('i', 201, 1, 5)} AS mfgr,
    ${rnd('i', 204, COLORS.length)} AS colorStart,
    ${colorStep} AS colorStep
  FROM range(1, ${c.parts + 1}) AS t(i)
)`,

    partsupp: `SELECT
  CAST(i AS INTEGER) AS ps_partkey,
  CAST(${supplierOf('i', 'j', c.suppliers)} AS INTEGER) AS ps_suppkey,
  CAST(${between('i, j', 220, 1, 9999)} AS INTEGER) AS ps_availqty,
  ${money('i, j', 221, 100, 100_000)} AS ps_supplycost,
  ${text('i, j', 222, 49, 198)} AS ps_comment
FROM range(1, ${c.parts + 1}) AS t(i), range(0, 4) AS s(j)`,

    orders: `${orderLinesCte(c)}
SELECT
  CAST(o.orderkey AS BIGINT) AS o_orderkey,
  CAST(custkey - CASE WHEN custkey % 3 = 0 THEN 1 ELSE 0 END AS INTEGER) AS o_custkey,
  CAST(CASE WHEN all_f THEN 'F' WHEN all_o THEN 'O' ELSE 'P' END AS VARCHAR) AS o_orderstatus,
  totalprice AS o_totalprice,
  o.orderdate AS o_orderdate,
  ${pick(PRIORITIES, 'o.oi', 304)} AS o_orderpriority,
  'Clerk#' || lpad(CAST(${between('o.oi', 305, 1, c.clerks)} AS VARCHAR), 9, '0') AS o_clerk,
  CAST(0 AS INTEGER) AS o_shippriority,
  ${text('o.oi', 330, 19, 78)} AS o_comment
FROM (SELECT *, ${between('oi', 307, 1, c.customers)} AS custkey FROM o) AS o
JOIN (
  SELECT
    oi,
    bool_and(linestatus = 'F') AS all_f,
    bool_and(linestatus = 'O') AS all_o,
    CAST(sum(extendedprice * (1 + tax) * (1 - discount)) AS DECIMAL(15,2)) AS totalprice
  FROM l
  GROUP BY oi
) AS agg ON agg.oi = o.oi
ORDER BY o.oi`,

    lineitem: `${orderLinesCte(c)}
SELECT
  CAST(orderkey AS BIGINT) AS l_orderkey,
  CAST(partkey AS INTEGER) AS l_partkey,
  CAST(suppkey AS INTEGER) AS l_suppkey,
  CAST(ln AS INTEGER) AS l_linenumber,
  CAST(quantity AS DECIMAL(15,2)) AS l_quantity,
  extendedprice AS l_extendedprice,
  discount AS l_discount,
  tax AS l_tax,
  CAST(returnflag AS VARCHAR) AS l_returnflag,
  CAST(linestatus AS VARCHAR) AS l_linestatus,
  shipdate AS l_shipdate,
  commitdate AS l_commitdate,
  receiptdate AS l_receiptdate,
  ${pick(SHIP_INSTRUCTS, 'oi, ln', 320)} AS l_shipinstruct,
  ${pick(SHIP_MODES, 'oi, ln', 321)} AS l_shipmode,
  ${text('oi, ln', 322, 10, 43)} AS l_comment
FROM l
ORDER BY oi, ln`,
  });
}

/** The 22 TPC-H queries, written from the TPC-H specification with its validation substitution parameters. */
export const TPCH_QUERIES: Readonly<Record<string, string>> = Object.freeze({
  q01: `SELECT
  l_returnflag,
  l_linestatus,
  sum(l_quantity) AS sum_qty,
  sum(l_extendedprice) AS sum_base_price,
  sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price,
  sum(l_extendedprice * (1 - l_discount) * (1 + l_tax)) AS sum_charge,
  avg(l_quantity) AS avg_qty,
  avg(l_extendedprice) AS avg_price,
  avg(l_discount) AS avg_disc,
  count(*) AS count_order
FROM lineitem
WHERE l_shipdate <= DATE '1998-12-01' - INTERVAL '90' DAY
GROUP BY l_returnflag, l_linestatus
ORDER BY l_returnflag, l_linestatus`,

  q02: `SELECT s_acctbal, s_name, n_name, p_partkey, p_mfgr, s_address, s_phone, s_comment
FROM part, supplier, partsupp, nation, region
WHERE p_partkey = ps_partkey
  AND s_suppkey = ps_suppkey
  AND p_size = 15
  AND p_type LIKE '%BRASS'
  AND s_nationkey = n_nationkey
  AND n_regionkey = r_regionkey
  AND r_name = 'EUROPE'
  AND ps_supplycost = (
    SELECT min(ps_supplycost)
    FROM partsupp, supplier, nation, region
    WHERE p_partkey = ps_partkey
      AND s_suppkey = ps_suppkey
      AND s_nationkey = n_nationkey
      AND n_regionkey = r_regionkey
      AND r_name = 'EUROPE'
  )
ORDER BY s_acctbal DESC, n_name, s_name, p_partkey
LIMIT 100`,

  q03: `SELECT l_orderkey, sum(l_extendedprice * (1 - l_discount)) AS revenue, o_orderdate, o_shippriority
FROM customer, orders, lineitem
WHERE c_mktsegment = 'BUILDING'
  AND c_custkey = o_custkey
  AND l_orderkey = o_orderkey
  AND o_orderdate < DATE '1995-03-15'
  AND l_shipdate > DATE '1995-03-15'
GROUP BY l_orderkey, o_orderdate, o_shippriority
ORDER BY revenue DESC, o_orderdate
LIMIT 10`,

  q04: `SELECT o_orderpriority, count(*) AS order_count
FROM orders
WHERE o_orderdate >= DATE '1993-07-01'
  AND o_orderdate < DATE '1993-07-01' + INTERVAL '3' MONTH
  AND EXISTS (SELECT * FROM lineitem WHERE l_orderkey = o_orderkey AND l_commitdate < l_receiptdate)
GROUP BY o_orderpriority
ORDER BY o_orderpriority`,

  q05: `SELECT n_name, sum(l_extendedprice * (1 - l_discount)) AS revenue
FROM customer, orders, lineitem, supplier, nation, region
WHERE c_custkey = o_custkey
  AND l_orderkey = o_orderkey
  AND l_suppkey = s_suppkey
  AND c_nationkey = s_nationkey
  AND s_nationkey = n_nationkey
  AND n_regionkey = r_regionkey
  AND r_name = 'ASIA'
  AND o_orderdate >= DATE '1994-01-01'
  AND o_orderdate < DATE '1994-01-01' + INTERVAL '1' YEAR
GROUP BY n_name
ORDER BY revenue DESC`,

  q06: `SELECT sum(l_extendedprice * l_discount) AS revenue
FROM lineitem
WHERE l_shipdate >= DATE '1994-01-01'
  AND l_shipdate < DATE '1994-01-01' + INTERVAL '1' YEAR
  AND l_discount BETWEEN 0.06 - 0.01 AND 0.06 + 0.01
  AND l_quantity < 24`,

  q07: `SELECT supp_nation, cust_nation, l_year, sum(volume) AS revenue
FROM (
  SELECT
    n1.n_name AS supp_nation,
    n2.n_name AS cust_nation,
    extract(year FROM l_shipdate) AS l_year,
    l_extendedprice * (1 - l_discount) AS volume
  FROM supplier, lineitem, orders, customer, nation n1, nation n2
  WHERE s_suppkey = l_suppkey
    AND o_orderkey = l_orderkey
    AND c_custkey = o_custkey
    AND s_nationkey = n1.n_nationkey
    AND c_nationkey = n2.n_nationkey
    AND (
      (n1.n_name = 'FRANCE' AND n2.n_name = 'GERMANY')
      OR (n1.n_name = 'GERMANY' AND n2.n_name = 'FRANCE')
    )
    AND l_shipdate BETWEEN DATE '1995-01-01' AND DATE '1996-12-31'
) AS shipping
GROUP BY supp_nation, cust_nation, l_year
ORDER BY supp_nation, cust_nation, l_year`,

  q08: `SELECT o_year, sum(CASE WHEN nation = 'BRAZIL' THEN volume ELSE 0 END) / sum(volume) AS mkt_share
FROM (
  SELECT
    extract(year FROM o_orderdate) AS o_year,
    l_extendedprice * (1 - l_discount) AS volume,
    n2.n_name AS nation
  FROM part, supplier, lineitem, orders, customer, nation n1, nation n2, region
  WHERE p_partkey = l_partkey
    AND s_suppkey = l_suppkey
    AND l_orderkey = o_orderkey
    AND o_custkey = c_custkey
    AND c_nationkey = n1.n_nationkey
    AND n1.n_regionkey = r_regionkey
    AND r_name = 'AMERICA'
    AND s_nationkey = n2.n_nationkey
    AND o_orderdate BETWEEN DATE '1995-01-01' AND DATE '1996-12-31'
    AND p_type = 'ECONOMY ANODIZED STEEL'
) AS all_nations
GROUP BY o_year
ORDER BY o_year`,

  q09: `SELECT nation, o_year, sum(amount) AS sum_profit
FROM (
  SELECT
    n_name AS nation,
    extract(year FROM o_orderdate) AS o_year,
    l_extendedprice * (1 - l_discount) - ps_supplycost * l_quantity AS amount
  FROM part, supplier, lineitem, partsupp, orders, nation
  WHERE s_suppkey = l_suppkey
    AND ps_suppkey = l_suppkey
    AND ps_partkey = l_partkey
    AND p_partkey = l_partkey
    AND o_orderkey = l_orderkey
    AND s_nationkey = n_nationkey
    AND p_name LIKE '%green%'
) AS profit
GROUP BY nation, o_year
ORDER BY nation, o_year DESC`,

  q10: `SELECT
  c_custkey,
  c_name,
  sum(l_extendedprice * (1 - l_discount)) AS revenue,
  c_acctbal,
  n_name,
  c_address,
  c_phone,
  c_comment
FROM customer, orders, lineitem, nation
WHERE c_custkey = o_custkey
  AND l_orderkey = o_orderkey
  AND o_orderdate >= DATE '1993-10-01'
  AND o_orderdate < DATE '1993-10-01' + INTERVAL '3' MONTH
  AND l_returnflag = 'R'
  AND c_nationkey = n_nationkey
GROUP BY c_custkey, c_name, c_acctbal, c_phone, n_name, c_address, c_comment
ORDER BY revenue DESC
LIMIT 20`,

  q11: `SELECT ps_partkey, sum(ps_supplycost * ps_availqty) AS value
FROM partsupp, supplier, nation
WHERE ps_suppkey = s_suppkey
  AND s_nationkey = n_nationkey
  AND n_name = 'GERMANY'
GROUP BY ps_partkey
HAVING sum(ps_supplycost * ps_availqty) > (
  SELECT sum(ps_supplycost * ps_availqty) * 0.0001
  FROM partsupp, supplier, nation
  WHERE ps_suppkey = s_suppkey
    AND s_nationkey = n_nationkey
    AND n_name = 'GERMANY'
)
ORDER BY value DESC`,

  q12: `SELECT
  l_shipmode,
  sum(CASE WHEN o_orderpriority = '1-URGENT' OR o_orderpriority = '2-HIGH' THEN 1 ELSE 0 END) AS high_line_count,
  sum(CASE WHEN o_orderpriority <> '1-URGENT' AND o_orderpriority <> '2-HIGH' THEN 1 ELSE 0 END) AS low_line_count
FROM orders, lineitem
WHERE o_orderkey = l_orderkey
  AND l_shipmode IN ('MAIL', 'SHIP')
  AND l_commitdate < l_receiptdate
  AND l_shipdate < l_commitdate
  AND l_receiptdate >= DATE '1994-01-01'
  AND l_receiptdate < DATE '1994-01-01' + INTERVAL '1' YEAR
GROUP BY l_shipmode
ORDER BY l_shipmode`,

  q13: `SELECT c_count, count(*) AS custdist
FROM (
  SELECT c_custkey, count(o_orderkey)
  FROM customer LEFT OUTER JOIN orders ON c_custkey = o_custkey AND o_comment NOT LIKE '%special%requests%'
  GROUP BY c_custkey
) AS c_orders (c_custkey, c_count)
GROUP BY c_count
ORDER BY custdist DESC, c_count DESC`,

  q14: `SELECT
  100.00 * sum(CASE WHEN p_type LIKE 'PROMO%' THEN l_extendedprice * (1 - l_discount) ELSE 0 END)
    / sum(l_extendedprice * (1 - l_discount)) AS promo_revenue
FROM lineitem, part
WHERE l_partkey = p_partkey
  AND l_shipdate >= DATE '1995-09-01'
  AND l_shipdate < DATE '1995-09-01' + INTERVAL '1' MONTH`,

  q15: `WITH revenue0 (supplier_no, total_revenue) AS (
  SELECT l_suppkey, sum(l_extendedprice * (1 - l_discount))
  FROM lineitem
  WHERE l_shipdate >= DATE '1996-01-01'
    AND l_shipdate < DATE '1996-01-01' + INTERVAL '3' MONTH
  GROUP BY l_suppkey
)
SELECT s_suppkey, s_name, s_address, s_phone, total_revenue
FROM supplier, revenue0
WHERE s_suppkey = supplier_no
  AND total_revenue = (SELECT max(total_revenue) FROM revenue0)
ORDER BY s_suppkey`,

  q16: `SELECT p_brand, p_type, p_size, count(DISTINCT ps_suppkey) AS supplier_cnt
FROM partsupp, part
WHERE p_partkey = ps_partkey
  AND p_brand <> 'Brand#45'
  AND p_type NOT LIKE 'MEDIUM POLISHED%'
  AND p_size IN (49, 14, 23, 45, 19, 3, 36, 9)
  AND ps_suppkey NOT IN (SELECT s_suppkey FROM supplier WHERE s_comment LIKE '%Customer%Complaints%')
GROUP BY p_brand, p_type, p_size
ORDER BY supplier_cnt DESC, p_brand, p_type, p_size`,

  q17: `SELECT sum(l_extendedprice) / 7.0 AS avg_yearly
FROM lineitem, part
WHERE p_partkey = l_partkey
  AND p_brand = 'Brand#23'
  AND p_container = 'MED BOX'
  AND l_quantity < (SELECT 0.2 * avg(l_quantity) FROM lineitem WHERE l_partkey = p_partkey)`,

  q18: `SELECT c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice, sum(l_quantity) AS sum_quantity
FROM customer, orders, lineitem
WHERE o_orderkey IN (SELECT l_orderkey FROM lineitem GROUP BY l_orderkey HAVING sum(l_quantity) > 300)
  AND c_custkey = o_custkey
  AND o_orderkey = l_orderkey
GROUP BY c_name, c_custkey, o_orderkey, o_orderdate, o_totalprice
ORDER BY o_totalprice DESC, o_orderdate
LIMIT 100`,

  q19: `SELECT sum(l_extendedprice * (1 - l_discount)) AS revenue
FROM lineitem, part
WHERE (
    p_partkey = l_partkey
    AND p_brand = 'Brand#12'
    AND p_container IN ('SM CASE', 'SM BOX', 'SM PACK', 'SM PKG')
    AND l_quantity >= 1 AND l_quantity <= 1 + 10
    AND p_size BETWEEN 1 AND 5
    AND l_shipmode IN ('AIR', 'AIR REG')
    AND l_shipinstruct = 'DELIVER IN PERSON'
  )
  OR (
    p_partkey = l_partkey
    AND p_brand = 'Brand#23'
    AND p_container IN ('MED BAG', 'MED BOX', 'MED PKG', 'MED PACK')
    AND l_quantity >= 10 AND l_quantity <= 10 + 10
    AND p_size BETWEEN 1 AND 10
    AND l_shipmode IN ('AIR', 'AIR REG')
    AND l_shipinstruct = 'DELIVER IN PERSON'
  )
  OR (
    p_partkey = l_partkey
    AND p_brand = 'Brand#34'
    AND p_container IN ('LG CASE', 'LG BOX', 'LG PACK', 'LG PKG')
    AND l_quantity >= 20 AND l_quantity <= 20 + 10
    AND p_size BETWEEN 1 AND 15
    AND l_shipmode IN ('AIR', 'AIR REG')
    AND l_shipinstruct = 'DELIVER IN PERSON'
  )`,

  q20: `SELECT s_name, s_address
FROM supplier, nation
WHERE s_suppkey IN (
    SELECT ps_suppkey
    FROM partsupp
    WHERE ps_partkey IN (SELECT p_partkey FROM part WHERE p_name LIKE 'forest%')
      AND ps_availqty > (
        SELECT 0.5 * sum(l_quantity)
        FROM lineitem
        WHERE l_partkey = ps_partkey
          AND l_suppkey = ps_suppkey
          AND l_shipdate >= DATE '1994-01-01'
          AND l_shipdate < DATE '1994-01-01' + INTERVAL '1' YEAR
      )
  )
  AND s_nationkey = n_nationkey
  AND n_name = 'CANADA'
ORDER BY s_name`,

  q21: `SELECT s_name, count(*) AS numwait
FROM supplier, lineitem l1, orders, nation
WHERE s_suppkey = l1.l_suppkey
  AND o_orderkey = l1.l_orderkey
  AND o_orderstatus = 'F'
  AND l1.l_receiptdate > l1.l_commitdate
  AND EXISTS (
    SELECT * FROM lineitem l2 WHERE l2.l_orderkey = l1.l_orderkey AND l2.l_suppkey <> l1.l_suppkey
  )
  AND NOT EXISTS (
    SELECT *
    FROM lineitem l3
    WHERE l3.l_orderkey = l1.l_orderkey
      AND l3.l_suppkey <> l1.l_suppkey
      AND l3.l_receiptdate > l3.l_commitdate
  )
  AND s_nationkey = n_nationkey
  AND n_name = 'SAUDI ARABIA'
GROUP BY s_name
ORDER BY numwait DESC, s_name
LIMIT 100`,

  q22: `SELECT cntrycode, count(*) AS numcust, sum(c_acctbal) AS totacctbal
FROM (
  SELECT substring(c_phone, 1, 2) AS cntrycode, c_acctbal
  FROM customer
  WHERE substring(c_phone, 1, 2) IN ('13', '31', '23', '29', '30', '18', '17')
    AND c_acctbal > (
      SELECT avg(c_acctbal)
      FROM customer
      WHERE c_acctbal > 0.00
        AND substring(c_phone, 1, 2) IN ('13', '31', '23', '29', '30', '18', '17')
    )
    AND NOT EXISTS (SELECT * FROM orders WHERE o_custkey = c_custkey)
) AS custsale
GROUP BY cntrycode
ORDER BY cntrycode`,
});
