/** A small Livy-style client for tests: JSON calls with an API key, and polling until a state is reached. */
export interface Call {
  readonly status: number;
  readonly headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are checked by the assertions
  readonly body: any;
}

export function livyClient(baseUrl: () => string, key: string) {
  const call = async (
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<Call> => {
    const response = await fetch(`${baseUrl()}${path}`, {
      method,
      headers: { Authorization: `Bearer ${key}`, ...headers },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // NDJSON and CSV stay text.
    }
    return { status: response.status, headers: response.headers, body: parsed };
  };
  /** Polls a statement until `done(state)`; returns the statement. */
  const waitFor = async (
    session: number,
    statement: number,
    done: (state: string) => boolean = (s) => ['available', 'error', 'cancelled'].includes(s),
    timeoutMs = 20_000,
  ) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { body } = await call('GET', `/sessions/${session}/statements/${statement}`);
      if (done(body.state)) return body;
      if (Date.now() > deadline) throw new Error(`statement ${session}/${statement} stuck in ${body.state}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  };
  return { call, waitFor };
}

export const LONG_SQL = 'SELECT count(*) FROM range(10000000000) t(i) WHERE i % 7 = 3';
