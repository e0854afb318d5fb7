/**
 * ClickBench test data. The real `hits` data set (100M rows) is not shipped, so this builds synthetic rows shaped to
 * the public ClickBench schema (`create.sql`): every column, in order, with its type. The values are deterministic
 * (hashes of the row number, never random()) and skewed so that the 43 benchmark queries find rows: CounterID 62,
 * July 2013 dates, search phrases and URLs mentioning google, the RefererHash and URLHash constants of queries 41-42,
 * and enough distinct URLs, minutes and window sizes for the OFFSETs of queries 39-43 at 20000 rows.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** RefererHash that query 41 filters on. */
const QUERY_REFERER_HASH = '3594120000172545465';
/** URLHash that query 42 filters on. */
const QUERY_URL_HASH = '2868770270353813622';
/** The UserID that query 20 looks up. */
const QUERY_USER_ID = '435090932899640449';

/** `i` is the row number, `u` the index of the row's user (user-level attributes hash `u`). */
type Key = 'i' | 'u';

function literal(value: string | number): string {
  return typeof value === 'number' ? String(value) : `'${value.replaceAll("'", "''")}'`;
}

/** An INTEGER in [0, n) from the hash of `key` and `seed`. */
function mod(key: Key, seed: number, n: number): string {
  return `(hash(${key}, ${seed}) % ${n})::INTEGER`;
}

/** An INTEGER in [0, 100) from the hash of the row number and `seed`: a percentile to share rows out by. */
function pct(seed: number): string {
  return mod('i', seed, 100);
}

/** An INTEGER in [0, n), skewed towards 0 (the larger `power`, the more). */
function skew(key: Key, seed: number, n: number, power = 2): string {
  return `least(${n - 1}, floor(pow((hash(${key}, ${seed}) % 1000003) / 1000003.0, ${power}) * ${n}))::INTEGER`;
}

/** The element of `values` at the 0-based INTEGER expression `index`. */
function pick(values: readonly (string | number)[], index: string): string {
  return `[${values.map(literal).join(', ')}][1 + ${index}]`;
}

/** A non-negative BIGINT hash of a SQL expression. */
function hash64(expr: string): string {
  return `(hash(${expr}) >> 1)::BIGINT`;
}

const PHRASES = [
  'google',
  'weather moscow',
  'google maps',
  'cheap flights',
  'buy iphone 5',
  'football results',
  'ok google',
  'pancake recipe',
  'train tickets',
  'currency rates',
  'news today',
  'google translate',
  'online movies',
  'car rental',
  'hotel booking',
  'summer dresses',
  'learn typescript',
  'duckdb tutorial',
  'used cars',
  'wedding photos',
  'google chrome download',
  'ski resorts',
  'tax return',
  'pizza delivery',
];

const POPULAR_URLS = [
  'http://shop.example.ru/',
  'http://news.example.ru/',
  'http://shop.example.ru/catalog/phones/',
  'http://video.example.com/watch?v=intro',
  'http://news.example.ru/politics/',
  'http://forum.example.org/index.php',
  'http://mail.example.ru/inbox',
  'http://auto.example.ru/cars/used/',
  'http://weather.example.com/moscow',
  'http://travel.example.com/tickets/',
  'http://shop.example.ru/cart',
  'http://blog.example.org/',
];

const GOOGLE_URLS = [
  'http://www.google.ru/search?q=',
  'https://maps.google.com/maps?ll=55.75,37.6&z=',
  'http://translate.google.com/#en/ru/',
  'http://googleblog.example.org/post/',
  'http://search.example.com/google-results/',
];

const SITES = ['shop.example.ru', 'news.example.ru', 'forum.example.org', 'auto.example.ru', 'video.example.com'];
const SECTIONS = ['item', 'article', 'thread', 'ad', 'clip', 'page'];

const TITLES = [
  'Online shop - catalog',
  'News of the day',
  'Google Maps - directions',
  'Weather forecast for Moscow',
  'Used cars for sale',
  'Forum - main page',
  'Google',
  'Video: watch online',
  'Cheap flights and train tickets',
  'Mailbox - inbox',
  'Search results - Google Search',
  'Recipes: pancakes',
  'Hotels and booking',
  'Blog - latest posts',
];

/** Index 0 is the page whose hash query 41 filters on; no referer at all is `rf = -1`. */
const REFERERS = [
  'https://www.yandex.ru/',
  'http://www.google.ru/search?q=',
  'https://news.example.ru/top/',
  'http://go.mail.ru/search?q=',
  'https://vk.com/feed?section=',
  'http://www.facebook.com/l.php?u=',
  'http://forum.example.org/thread/',
  'https://auto.example.ru/cars/',
];

const PHONE_MODELS = ['iPad', 'iPhone', 'Galaxy S4', 'Lumia 920', 'HTC One', 'Nexus 4', 'Xperia Z', 'Galaxy Note II'];
const RESOLUTION_WIDTHS = [1366, 1920, 1280, 1024, 1440, 1600, 1680, 2560, 768, 360];
const RESOLUTION_HEIGHTS = [768, 1080, 1024, 768, 900, 900, 1050, 1440, 1024, 640];

/** Hours east of Moscow, picked per user; repeats make 0 the most common. */
const TIME_ZONES = [0, 0, 0, 1, 2, 3, -1, 4, 6, 7];

const URL_EXPR = `CASE
    WHEN ${pct(30)} < 2 THEN ''
    WHEN ${pct(30)} < 27 THEN ${pick(POPULAR_URLS, skew('i', 31, POPULAR_URLS.length))}
    WHEN ${pct(30)} < 37 THEN ${pick(GOOGLE_URLS, mod('i', 32, GOOGLE_URLS.length))} || ${mod('i', 33, 5000)}
    ELSE 'http://' || ${pick(SITES, mod('i', 34, SITES.length))}
      || '/' || ${pick(SECTIONS, mod('i', 35, SECTIONS.length))} || '/' || ${mod('i', 36, 1000000)} || '.html'
  END`;

const REFERER_EXPR = `CASE
    WHEN rf < 0 THEN ''
    WHEN rf = 0 THEN ${literal(REFERERS[0] ?? '')}
    ELSE ${pick(REFERERS, 'rf')} || ${mod('i', 41, 300)}
  END`;

/** Row-level indices the columns share (`u`, the user, comes from the level below). */
const DERIVED = [
  // Day of July 2013 (0-based): a fifth of the rows on the 14th and 15th, which query 43 looks at minute by minute.
  `(CASE WHEN ${pct(20)} < 20 THEN 13 + ${mod('i', 21, 2)} ELSE ${mod('i', 22, 31)} END) AS d`,
  `${mod('i', 23, 86400)} AS s`,
  // Search phrase: 0 for none (three rows out of four).
  `(CASE WHEN ${pct(24)} < 25 THEN 1 + ${skew('i', 25, PHRASES.length, 1.6)} ELSE 0 END) AS ph`,
  // Referer: -1 for none, 0 for the one with query 41's RefererHash.
  `(CASE WHEN ${pct(26)} < 20 THEN -1 ELSE ${skew('i', 27, REFERERS.length, 1.5)} END) AS rf`,
  // Phone model (per user): 0 for none.
  `(CASE WHEN ${mod('u', 28, 100)} < 15 THEN 1 + ${skew('u', 29, PHONE_MODELS.length)} ELSE 0 END) AS mob`,
  `${mod('u', 37, RESOLUTION_WIDTHS.length)} AS res`,
  `${pick(TIME_ZONES, mod('u', 38, TIME_ZONES.length))} AS tz`,
  `(CASE WHEN ${pct(39)} < 12 THEN ${pick([2, 3, 4, 12, 13, 27, 30], skew('i', 40, 7))} ELSE 0 END) AS adv`,
];

const EVENT_TIME = `(TIMESTAMP '2013-07-01 00:00:00' + to_seconds((d * 86400 + s)::BIGINT))`;

/** [name, type as create.sql spells it, expression] in create.sql's column order. */
const COLUMNS: readonly (readonly [string, string, string])[] = [
  ['WatchID', 'BIGINT', hash64('i, 100')],
  ['JavaEnable', 'SMALLINT', `(${mod('u', 101, 100)} < 70)::INTEGER`],
  ['Title', 'TEXT', `CASE WHEN ${pct(102)} < 3 THEN '' ELSE ${pick(TITLES, skew('i', 103, TITLES.length))} END`],
  ['GoodEvent', 'SMALLINT', '1'],
  ['EventTime', 'TIMESTAMP', EVENT_TIME],
  ['EventDate', 'Date', `DATE '2013-07-01' + d`],
  ['CounterID', 'INTEGER', `CASE WHEN ${pct(104)} < 80 THEN 62 ELSE 100 + ${skew('i', 105, 40)} END`],
  // Mostly one address per user, so queries 31 and 36 find repeated addresses.
  ['ClientIP', 'INTEGER', `CASE WHEN ${pct(106)} < 5 THEN ${mod('i', 107, 2e9)} ELSE ${mod('u', 107, 2e9)} END`],
  ['RegionID', 'INTEGER', `1 + ${skew('u', 108, 250, 2.5)}`],
  ['UserID', 'BIGINT', `CASE WHEN u = 3 THEN ${QUERY_USER_ID} ELSE ${hash64('u, 109')} END`],
  ['CounterClass', 'SMALLINT', mod('i', 110, 3)],
  ['OS', 'SMALLINT', pick([2, 44, 56, 38, 3, 106, 1, 121], mod('u', 111, 8))],
  ['UserAgent', 'SMALLINT', pick([7, 2, 4, 3, 59, 12, 5], mod('u', 112, 7))],
  ['URL', 'TEXT', URL_EXPR],
  ['Referer', 'TEXT', REFERER_EXPR],
  ['IsRefresh', 'SMALLINT', `(${pct(113)} < 3)::INTEGER`],
  ['RefererCategoryID', 'SMALLINT', `CASE WHEN rf < 0 THEN 0 ELSE 1 + rf END`],
  ['RefererRegionID', 'INTEGER', `CASE WHEN rf < 0 THEN 0 ELSE 1 + ${skew('i', 114, 250, 2.5)} END`],
  ['URLCategoryID', 'SMALLINT', mod('i', 115, 20)],
  ['URLRegionID', 'INTEGER', `1 + ${skew('i', 116, 250, 2.5)}`],
  ['ResolutionWidth', 'SMALLINT', pick(RESOLUTION_WIDTHS, 'res')],
  ['ResolutionHeight', 'SMALLINT', pick(RESOLUTION_HEIGHTS, 'res')],
  ['ResolutionDepth', 'SMALLINT', pick([24, 32, 16], mod('u', 117, 3))],
  ['FlashMajor', 'SMALLINT', mod('u', 118, 12)],
  ['FlashMinor', 'SMALLINT', mod('u', 119, 10)],
  ['FlashMinor2', 'TEXT', `CASE WHEN ${mod('u', 120, 2)} = 0 THEN '' ELSE ${mod('u', 121, 200)}::VARCHAR END`],
  ['NetMajor', 'SMALLINT', mod('u', 122, 5)],
  ['NetMinor', 'SMALLINT', mod('u', 123, 10)],
  ['UserAgentMajor', 'SMALLINT', mod('u', 124, 30)],
  ['UserAgentMinor', 'VARCHAR(255)', pick(['0', '1', '2', '5', 'a', 'b1'], mod('u', 125, 6))],
  ['CookieEnable', 'SMALLINT', `(${mod('u', 126, 100)} < 97)::INTEGER`],
  ['JavascriptEnable', 'SMALLINT', `(${mod('u', 127, 100)} < 95)::INTEGER`],
  ['IsMobile', 'SMALLINT', '(mob > 0)::INTEGER'],
  ['MobilePhone', 'SMALLINT', 'CASE WHEN mob > 0 THEN 1 + mob % 5 ELSE 0 END'],
  ['MobilePhoneModel', 'TEXT', `CASE WHEN mob > 0 THEN ${pick(PHONE_MODELS, 'mob - 1')} ELSE '' END`],
  ['Params', 'TEXT', `CASE WHEN ${pct(128)} < 5 THEN 'utm=' || ${mod('i', 129, 50)} ELSE '' END`],
  ['IPNetworkID', 'INTEGER', mod('u', 130, 100000)],
  ['TraficSourceID', 'SMALLINT', pick([-1, 6, 0, 1, 2, -1, 6, 3, 4, 6], mod('i', 131, 10))],
  ['SearchEngineID', 'SMALLINT', `CASE WHEN ph > 0 THEN ${pick([2, 3, 13, 5, 17], skew('i', 132, 5))} ELSE 0 END`],
  ['SearchPhrase', 'TEXT', `CASE WHEN ph > 0 THEN ${pick(PHRASES, 'ph - 1')} ELSE '' END`],
  ['AdvEngineID', 'SMALLINT', 'adv'],
  ['IsArtifical', 'SMALLINT', `(${pct(133)} < 1)::INTEGER`],
  // Unique (width, height) pairs per row for i < 1601 * 1000, so query 42's OFFSET 10000 still reaches rows.
  ['WindowClientWidth', 'SMALLINT', '320 + i % 1601'],
  ['WindowClientHeight', 'SMALLINT', '200 + ((i // 1601) * 379 + (i % 1601) * 13) % 1000'],
  ['ClientTimeZone', 'SMALLINT', 'tz'],
  ['ClientEventTime', 'TIMESTAMP', `${EVENT_TIME} + to_seconds((tz * 3600 + ${mod('i', 134, 30)} - 15)::BIGINT)`],
  ['SilverlightVersion1', 'SMALLINT', mod('u', 135, 6)],
  ['SilverlightVersion2', 'SMALLINT', mod('u', 136, 2)],
  ['SilverlightVersion3', 'INTEGER', mod('u', 137, 60000)],
  ['SilverlightVersion4', 'SMALLINT', mod('u', 138, 2)],
  ['PageCharset', 'TEXT', pick(['utf-8', 'windows-1251', ''], mod('i', 139, 3))],
  ['CodeVersion', 'INTEGER', pick([3, 107, 158, 183, 243], mod('i', 140, 5))],
  ['IsLink', 'SMALLINT', `(${pct(141)} < 20)::INTEGER`],
  ['IsDownload', 'SMALLINT', `(${pct(142)} < 5)::INTEGER`],
  ['IsNotBounce', 'SMALLINT', mod('i', 143, 2)],
  ['FUniqID', 'BIGINT', `CASE WHEN ${mod('u', 144, 2)} = 0 THEN 0 ELSE ${hash64('u, 145')} END`],
  ['OriginalURL', 'TEXT', `CASE WHEN ${pct(146)} < 3 THEN 'http://mirror.example.net/' || ${pct(147)} ELSE '' END`],
  ['HID', 'INTEGER', mod('i', 148, 2000000000)],
  ['IsOldCounter', 'SMALLINT', '0'],
  ['IsEvent', 'SMALLINT', `(${pct(149)} < 2)::INTEGER`],
  ['IsParameter', 'SMALLINT', `(${pct(150)} < 2)::INTEGER`],
  ['DontCountHits', 'SMALLINT', `(${pct(151)} < 3)::INTEGER`],
  ['WithHash', 'SMALLINT', `(${pct(152)} < 4)::INTEGER`],
  ['HitColor', 'CHAR', pick(['F', 'D', 'E', 'C'], skew('i', 153, 4))],
  ['LocalEventTime', 'TIMESTAMP', `${EVENT_TIME} + to_seconds((tz * 3600)::BIGINT)`],
  ['Age', 'SMALLINT', pick([0, 18, 25, 35, 45, 55], mod('u', 154, 6))],
  ['Sex', 'SMALLINT', mod('u', 155, 3)],
  ['Income', 'SMALLINT', mod('u', 156, 5)],
  ['Interests', 'SMALLINT', mod('u', 157, 32000)],
  ['Robotness', 'SMALLINT', `(${mod('u', 158, 100)} < 2)::INTEGER`],
  ['RemoteIP', 'INTEGER', mod('u', 159, 2000000000)],
  ['WindowName', 'INTEGER', `${mod('i', 160, 100000)} - 1`],
  ['OpenerName', 'INTEGER', `${mod('i', 161, 100000)} - 1`],
  ['HistoryLength', 'SMALLINT', mod('i', 162, 50)],
  ['BrowserLanguage', 'TEXT', pick(['ru', 'en', 'uk', 'de', 'tr'], skew('u', 163, 5))],
  ['BrowserCountry', 'TEXT', pick(['ru', 'us', 'ua', 'de', 'tr'], skew('u', 164, 5))],
  ['SocialNetwork', 'TEXT', `CASE WHEN rf = 4 THEN 'vkontakte' WHEN rf = 5 THEN 'facebook' ELSE '' END`],
  ['SocialAction', 'TEXT', `CASE WHEN rf IN (4, 5) AND ${mod('i', 165, 4)} = 0 THEN 'like' ELSE '' END`],
  ['HTTPError', 'SMALLINT', `CASE WHEN ${pct(166)} < 1 THEN 404 ELSE 0 END`],
  ['SendTiming', 'INTEGER', mod('i', 167, 2000)],
  ['DNSTiming', 'INTEGER', mod('i', 168, 200)],
  ['ConnectTiming', 'INTEGER', mod('i', 169, 500)],
  ['ResponseStartTiming', 'INTEGER', mod('i', 170, 1500)],
  ['ResponseEndTiming', 'INTEGER', mod('i', 171, 3000)],
  ['FetchTiming', 'INTEGER', mod('i', 172, 5000)],
  ['SocialSourceNetworkID', 'SMALLINT', 'CASE WHEN rf IN (4, 5) THEN rf - 3 ELSE 0 END'],
  ['SocialSourcePage', 'TEXT', `CASE WHEN rf IN (4, 5) THEN ${REFERER_EXPR} ELSE '' END`],
  ['ParamPrice', 'BIGINT', `CASE WHEN ${pct(173)} < 4 THEN 100 * ${mod('i', 174, 100000)} ELSE 0 END`],
  ['ParamOrderID', 'TEXT', `CASE WHEN ${pct(173)} < 4 THEN 'order-' || ${mod('i', 175, 100000)} ELSE '' END`],
  ['ParamCurrency', 'TEXT', `CASE WHEN ${pct(173)} < 4 THEN 'RUB' ELSE '' END`],
  ['ParamCurrencyID', 'SMALLINT', `CASE WHEN ${pct(173)} < 4 THEN 643 ELSE 0 END`],
  ['OpenstatServiceName', 'TEXT', `CASE WHEN ${pct(176)} < 2 THEN 'direct.example.ru' ELSE '' END`],
  ['OpenstatCampaignID', 'TEXT', `CASE WHEN ${pct(176)} < 2 THEN ${mod('i', 177, 1000)}::VARCHAR ELSE '' END`],
  ['OpenstatAdID', 'TEXT', `CASE WHEN ${pct(176)} < 2 THEN ${mod('i', 178, 10000)}::VARCHAR ELSE '' END`],
  ['OpenstatSourceID', 'TEXT', `CASE WHEN ${pct(176)} < 2 THEN ${pct(179)}::VARCHAR ELSE '' END`],
  ['UTMSource', 'TEXT', `CASE WHEN adv > 0 THEN ${pick(['yandex', 'google', 'vk'], mod('i', 180, 3))} ELSE '' END`],
  ['UTMMedium', 'TEXT', `CASE WHEN adv > 0 THEN 'cpc' ELSE '' END`],
  ['UTMCampaign', 'TEXT', `CASE WHEN adv > 0 THEN 'summer-' || ${mod('i', 181, 20)} ELSE '' END`],
  ['UTMContent', 'TEXT', `CASE WHEN adv > 0 THEN 'banner-' || ${mod('i', 182, 5)} ELSE '' END`],
  ['UTMTerm', 'TEXT', `CASE WHEN adv > 0 AND ph > 0 THEN ${pick(PHRASES, 'ph - 1')} ELSE '' END`],
  ['FromTag', 'TEXT', `CASE WHEN ${pct(183)} < 2 THEN 'from-' || ${mod('i', 184, 10)} ELSE '' END`],
  ['HasGCLID', 'SMALLINT', `(adv = 27)::INTEGER`],
  ['RefererHash', 'BIGINT', `CASE WHEN rf = 0 THEN ${QUERY_REFERER_HASH} ELSE ${hash64(REFERER_EXPR)} END`],
  // Three rows out of four share query 42's URLHash; the rest hash their URL.
  ['URLHash', 'BIGINT', `CASE WHEN ${pct(185)} < 75 THEN ${QUERY_URL_HASH} ELSE ${hash64(URL_EXPR)} END`],
  ['CLID', 'INTEGER', `CASE WHEN ${pct(186)} < 10 THEN ${mod('i', 187, 1000000)} ELSE 0 END`],
];

/**
 * A DuckDB SELECT producing `rows` synthetic rows with exactly the columns and types of ClickBench's hits table,
 * in create.sql's column order.
 */
export function hitsSelect(rows: number): string {
  if (!Number.isSafeInteger(rows) || rows < 0) throw new RangeError(`rows must be a non-negative integer: ${rows}`);
  // About eight hits per user, skewed to a few heavy ones (at 20000 rows, about 2% of them are user 0's).
  const users = Math.max(1, Math.ceil(rows / 8));
  const base = `SELECT i, ${skew('i', 1, users)} AS u FROM range(${rows}) AS t(i)`;
  const derived = `SELECT i, u, ${DERIVED.join(', ')} FROM (${base})`;
  const columns = COLUMNS.map(([name, type, expr]) => `CAST(${expr} AS ${type}) AS "${name}"`);
  return `SELECT ${columns.join(',\n  ')}\nFROM (${derived})`;
}

/**
 * Reads the corpus: the 43 queries (one per line, trimmed, empty lines dropped, trailing semicolons removed).
 * Returns undefined when the folder is absent.
 */
export function readClickBenchQueries(corpusDir: string): string[] | undefined {
  if (!existsSync(corpusDir)) return undefined;
  return readFileSync(join(corpusDir, 'queries.sql'), 'utf8')
    .split(/\r?\n/)
    .map((line) => line.trim().replace(/;+$/, '').trimEnd())
    .filter((line) => line !== '');
}
