import type { IncomingMessage } from 'node:http';
import { LakegateError } from '@lakegate/engine-api';
import type { z } from 'zod';

/** Describes zod issues as one line a user can act on. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`)
    .join('; ');
}

/**
 * The body of a request Node has already received whole, read at once; undefined when it must be awaited. Only a
 * body sent with a Content-Length qualifies: its size was judged by `limitBody` before anything read it, while a
 * chunked one is counted as `limitBody` reads it through the request.
 */
function receivedBody(incoming: IncomingMessage | undefined): string | undefined {
  const length = incoming?.headers['content-length'];
  if (
    incoming === undefined ||
    length === undefined ||
    incoming.headers['transfer-encoding'] !== undefined ||
    incoming.readableDidRead ||
    incoming.readableLength !== Number(length)
  ) {
    return undefined;
  }
  // Without a size, read() returns everything buffered: the whole body. The request's end may not have been
  // parsed yet; flowing, the stream ends by itself when it is, as a request read through its events does.
  const body: Buffer | null = incoming.read();
  incoming.resume();
  return body === null ? '' : body.toString('utf8');
}

/**
 * Reads a JSON body, refusing anything that is not JSON with a clear INVALID_REQUEST. Given the Node request it
 * came by (`incoming`), a body already received whole is read from it directly: a dashboard's small query then
 * costs no wait for the body stream's events.
 */
export async function readJsonBody(request: Request, incoming?: IncomingMessage): Promise<unknown> {
  const text = receivedBody(incoming) ?? (await request.text());
  if (text.trim() === '') throw new LakegateError('INVALID_REQUEST', 'The request body is empty: send a JSON object.');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new LakegateError('INVALID_REQUEST', `The request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Reads a JSON body and checks it against `schema`; a mismatch is INVALID_REQUEST naming each field at fault. */
export async function readValidBody<T>(request: Request, schema: z.ZodType<T>, incoming?: IncomingMessage): Promise<T> {
  const parsed = schema.safeParse(await readJsonBody(request, incoming));
  if (!parsed.success) throw new LakegateError('INVALID_REQUEST', describeIssues(parsed.error));
  return parsed.data;
}
