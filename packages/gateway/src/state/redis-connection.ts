import { LakegateError } from '@lakegate/engine-api';
import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from '../logging/logger.js';
import { type RedisKeys, redisKeys } from './redis-keys.js';

export interface RedisConnectionOptions {
  readonly url: string;
  /** Prefix of every key and channel. */
  readonly prefix: string;
  readonly logger: Logger;
}

const unavailable = (cause: unknown): LakegateError =>
  new LakegateError('STATE_UNAVAILABLE', 'The session store (Redis) is unavailable; retry shortly.', {
    cause,
    retryAfterSeconds: 2,
  });

/**
 * Commands never queue while Redis is away: they fail at once, and the client reconnects by itself in the
 * background. A request that waited for Redis would hold its HTTP client longer than a 503 and a retry would.
 */
const COMMAND_OPTIONS: RedisOptions = {
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  connectTimeout: 2000,
  commandTimeout: 2000,
  retryStrategy: (times: number) => Math.min(100 * times, 2000),
};

/** A subscriber sends nothing but SUBSCRIBE, which may wait for the connection; and it waits for messages. */
const SUBSCRIBER_OPTIONS: RedisOptions = { ...COMMAND_OPTIONS, enableOfflineQueue: true, commandTimeout: undefined };

const READY_POLL_MS = 20;

/**
 * The Redis connections that the session store, the replica bus and the rollup ledger share: one for commands,
 * and one for subscriptions, opened on the first. It owns their lifecycle (`ready`, `close`) and turns every
 * failure into STATE_UNAVAILABLE.
 */
export class RedisConnection {
  readonly keys: RedisKeys;
  readonly #options: RedisConnectionOptions;
  readonly #commands: Redis;
  #subscriber: Redis | undefined;
  readonly #channels = new Map<string, (message: string) => void>();
  /** Channels whose SUBSCRIBE Redis has confirmed. */
  readonly #subscribed = new Set<string>();
  /** The clients' last reported trouble, so that a Redis that stays away is logged once, not at every retry. */
  #lastState = '';

  constructor(options: RedisConnectionOptions) {
    this.#options = options;
    this.keys = redisKeys(options.prefix);
    this.#commands = this.#track(new Redis(options.url, COMMAND_OPTIONS), 'commands');
  }

  /** Runs Redis commands; STATE_UNAVAILABLE at once while Redis is not ready, or when a command fails. */
  async run<T>(fn: (redis: Redis) => Promise<T>): Promise<T> {
    if (this.#commands.status !== 'ready') throw unavailable(new Error(`redis is ${this.#commands.status}`));
    try {
      return await fn(this.#commands);
    } catch (error) {
      throw unavailable(error);
    }
  }

  /** Calls `onMessage` with every message on `channel` (one listener per channel). */
  subscribe(channel: string, onMessage: (message: string) => void): void {
    this.#channels.set(channel, onMessage);
    this.#subscriber ??= this.#openSubscriber();
    if (this.#subscriber.status === 'ready') this.#subscribeAll(this.#subscriber);
  }

  #openSubscriber(): Redis {
    const subscriber = this.#track(new Redis(this.#options.url, SUBSCRIBER_OPTIONS), 'subscriber');
    subscriber.on('message', (channel: string, message: string) => this.#channels.get(channel)?.(message));
    // Subscribes on every (re)connection: a SUBSCRIBE that failed while Redis was away is never retried by the
    // client, and a replica that started before Redis would otherwise never hear a cancel.
    subscriber.on('ready', () => this.#subscribeAll(subscriber));
    return subscriber;
  }

  #subscribeAll(subscriber: Redis): void {
    const channels = [...this.#channels.keys()];
    if (channels.length === 0) return;
    subscriber.subscribe(...channels).then(
      () => {
        for (const channel of channels) this.#subscribed.add(channel);
      },
      () => undefined,
    );
  }

  /**
   * Resolves true once Redis answers commands and every subscription is in place (so that no cancel published
   * from then on is missed), or false after `timeoutMs`. It polls: it waits for two clients and is asked once, at
   * start.
   */
  async ready(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.#isReady()) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise((resolve) => setTimeout(resolve, Math.min(READY_POLL_MS, left)));
    }
    return true;
  }

  #isReady(): boolean {
    return this.#commands.status === 'ready' && [...this.#channels.keys()].every((c) => this.#subscribed.has(c));
  }

  async close(): Promise<void> {
    this.#commands.disconnect();
    this.#subscriber?.disconnect();
  }

  #track(client: Redis, name: string): Redis {
    client.on('error', (error: Error) => {
      if (this.#lastState !== `${name}:error`)
        this.#options.logger.warn('state.redis_error', { client: name, error: error.message });
      this.#lastState = `${name}:error`;
    });
    client.on('ready', () => {
      if (this.#lastState !== '') this.#options.logger.info('state.redis_ready', { client: name });
      this.#lastState = '';
    });
    return client;
  }
}
