const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;

interface DatasetUsage {
  /** Per hour of the week: in how many distinct weeks the dataset was queried in that hour. */
  readonly weekHours: number[];
  /** The week index each hour of the week was last counted in, so that a week counts once. */
  readonly weekHourSeen: number[];
  /** Per hour of the day: on how many distinct days the dataset was queried in that hour. */
  readonly dayHours: number[];
  readonly dayHourSeen: number[];
  firstSeen: number;
  lastSeen: number;
}

export interface UsageSnapshot {
  readonly version: 1;
  readonly datasets: Readonly<Record<string, DatasetUsage>>;
}

const keyOf = (tenant: string, dataset: string): string => `${tenant}/${dataset}`;

/**
 * When each tenant queries each dataset, as the likelihood of activity by hour of the week and hour of the
 * day. Counting active weeks and days (not queries) makes a dashboard refreshed every minute weigh the same as
 * one opened once: what the warming policy needs is whether the dataset will be used, not how much.
 */
export class UsageHistory {
  readonly #datasets = new Map<string, DatasetUsage>();

  record(tenant: string, dataset: string, time: number): void {
    const key = keyOf(tenant, dataset);
    let usage = this.#datasets.get(key);
    if (!usage) {
      usage = {
        weekHours: new Array(168).fill(0),
        weekHourSeen: new Array(168).fill(-1),
        dayHours: new Array(24).fill(0),
        dayHourSeen: new Array(24).fill(-1),
        firstSeen: time,
        lastSeen: time,
      };
      this.#datasets.set(key, usage);
    }
    usage.lastSeen = Math.max(usage.lastSeen, time);
    const hour = Math.floor(time / HOUR);
    const week = Math.floor(time / WEEK);
    const day = Math.floor(time / DAY);
    const weekHour = hour % 168;
    const dayHour = hour % 24;
    if (usage.weekHourSeen[weekHour] !== week) {
      usage.weekHourSeen[weekHour] = week;
      usage.weekHours[weekHour] = (usage.weekHours[weekHour] ?? 0) + 1;
    }
    if (usage.dayHourSeen[dayHour] !== day) {
      usage.dayHourSeen[dayHour] = day;
      usage.dayHours[dayHour] = (usage.dayHours[dayHour] ?? 0) + 1;
    }
  }

  lastSeen(tenant: string, dataset: string): number | undefined {
    return this.#datasets.get(keyOf(tenant, dataset))?.lastSeen;
  }

  /**
   * The estimated probability that the dataset is queried in `[from, to)`: the highest, over the hours of the
   * window, of the share of observed weeks (same hour of the week) or days (same hour of the day) in which it was.
   */
  likelihood(tenant: string, dataset: string, from: number, to: number): number {
    const usage = this.#datasets.get(keyOf(tenant, dataset));
    if (!usage) return 0;
    const weeks = Math.max(1, Math.ceil((from - usage.firstSeen) / WEEK));
    const days = Math.max(1, Math.ceil((from - usage.firstSeen) / DAY));
    let best = 0;
    for (let t = Math.floor(from / HOUR) * HOUR; t < to; t += HOUR) {
      const hour = Math.floor(t / HOUR);
      const byWeek = (usage.weekHours[hour % 168] ?? 0) / weeks;
      const byDay = (usage.dayHours[hour % 24] ?? 0) / days;
      best = Math.max(best, Math.min(1, byWeek), Math.min(1, byDay));
    }
    return best;
  }

  toJSON(): UsageSnapshot {
    return { version: 1, datasets: Object.fromEntries(this.#datasets) };
  }

  static fromJSON(value: unknown): UsageHistory {
    const history = new UsageHistory();
    const snapshot = value as Partial<UsageSnapshot> | undefined;
    if (snapshot?.version !== 1 || typeof snapshot.datasets !== 'object') return history;
    for (const [key, usage] of Object.entries(snapshot.datasets ?? {})) {
      if (Array.isArray(usage?.weekHours) && usage.weekHours.length === 168) history.#datasets.set(key, usage);
    }
    return history;
  }
}

export interface WarmingCandidate {
  readonly tenant: string;
  readonly dataset: string;
  /** Bytes of the dataset's current snapshot (an estimate before its first load). */
  readonly bytes: number;
}

export interface WarmingPlan {
  /** Datasets to prefetch, most likely first. */
  readonly warm: readonly WarmingCandidate[];
  /** Datasets unlikely to be used soon: their files go first when room is needed. */
  readonly letGo: readonly WarmingCandidate[];
}

export interface WarmingPolicyOptions {
  /** How far ahead the policy looks. */
  readonly lookaheadMs: number;
  /** Warm datasets at least this likely to be queried within the lookahead. */
  readonly warmThreshold: number;
  /** Let go of datasets less likely than this, not queried for `idleMs`. */
  readonly coldThreshold: number;
  readonly idleMs: number;
}

export const DEFAULT_WARMING: WarmingPolicyOptions = {
  lookaheadMs: HOUR,
  warmThreshold: 0.2,
  coldThreshold: 0.05,
  idleMs: HOUR,
};

/** Plans warming: the likeliest datasets that fit in `capacity` bytes, and the cold ones to let go. */
export function planWarming(
  history: UsageHistory,
  candidates: readonly WarmingCandidate[],
  now: number,
  capacity: number,
  options: WarmingPolicyOptions = DEFAULT_WARMING,
): WarmingPlan {
  const scored = candidates.map((c) => ({
    candidate: c,
    score: history.likelihood(c.tenant, c.dataset, now, now + options.lookaheadMs),
    idle: now - (history.lastSeen(c.tenant, c.dataset) ?? 0) >= options.idleMs,
  }));
  scored.sort((a, b) => b.score - a.score);
  const warm: WarmingCandidate[] = [];
  let planned = 0;
  for (const { candidate, score } of scored) {
    if (score < options.warmThreshold) break;
    if (planned + candidate.bytes > capacity) continue;
    planned += candidate.bytes;
    warm.push(candidate);
  }
  const letGo = scored.filter((s) => s.score < options.coldThreshold && s.idle).map((s) => s.candidate);
  return { warm, letGo };
}
