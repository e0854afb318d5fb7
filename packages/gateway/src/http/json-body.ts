import { LakegateError } from '@lakegate/engine-api';
import type { z } from 'zod';

/** Describes zod issues as one line a user can act on. */
export function describeIssues(error: z.ZodError): string {
  return error.issues
    .map((issue) => `${issue.path.length ? `${issue.path.join('.')}: ` : ''}${issue.message}`)
    .join('; ');
}

/** Reads a JSON body, refusing anything that is not JSON with a clear INVALID_REQUEST. */
export async function readJsonBody(request: Request): Promise<unknown> {
  const text = await request.text();
  if (text.trim() === '') throw new LakegateError('INVALID_REQUEST', 'The request body is empty: send a JSON object.');
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new LakegateError('INVALID_REQUEST', `The request body is not valid JSON: ${(error as Error).message}`);
  }
}

/** Reads a JSON body and checks it against `schema`; a mismatch is INVALID_REQUEST naming each field at fault. */
export async function readValidBody<T>(request: Request, schema: z.ZodType<T>): Promise<T> {
  const parsed = schema.safeParse(await readJsonBody(request));
  if (!parsed.success) throw new LakegateError('INVALID_REQUEST', describeIssues(parsed.error));
  return parsed.data;
}
