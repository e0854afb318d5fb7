import type { IncomingMessage } from 'node:http';
import { LakegateError } from '@lakegate/engine-api';
import type { z } from 'zod';

/** Describes zod issues as one line a user can act on. */
function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`)
    .join('; ');
}

/**
 * The body of a request with a Content-Length whose bytes Node's parser already holds, all of them, read at once:
 * waiting for the stream's `data` and `end` events, as the request's own reader does, costs a dashboard's small
 * query more than parsing its body. Undefined when they are not all there yet, or the body is chunked (counted as
 * it is read, see `limitBody`).
 */
function bufferedBody(incoming: IncomingMessage | undefined): string | undefined {
  if (!incoming || incoming.readableDidRead || incoming.headers['transfer-encoding'] !== undefined) return undefined;
  const length = Number(incoming.headers['content-length']);
  if (!(length > 0) || incoming.readableLength !== length) return undefined;
  const chunk: unknown = incoming.read();
  // Flowing, the emptied stream ends as soon as the parser sees the message's end: a request left unended would
  // be drained after its response, behind two timers and a listener of its own.
  incoming.resume();
  return Buffer.isBuffer(chunk) ? chunk.toString('utf8') : undefined;
}

/**
 * Reads a JSON body, refusing anything that is not JSON with a clear INVALID_REQUEST. Under Node's server,
 * `incoming` (the request's message) lets a body already received be read without waiting for its stream.
 */
export async function readJsonBody(request: Request, incoming?: IncomingMessage): Promise<unknown> {
  const text = bufferedBody(incoming) ?? (await request.text());
  if (text.trim() === '') throw new LakegateError('INVALID_REQUEST', 'The request body is empty: send a JSON object.');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new LakegateError('INVALID_REQUEST', `The request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Checks a request's `value` against `schema`; a mismatch is INVALID_REQUEST naming each field at fault. */
export function validBody<T>(value: unknown, schema: z.ZodType<T>): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new LakegateError('INVALID_REQUEST', describeIssues(parsed.error));
  return parsed.data;
}
