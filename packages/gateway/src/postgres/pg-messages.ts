import type { PgErrorFields } from './pg-errors.js';
import type { PgColumnType } from './pg-types.js';
import type { MessageBuilder } from './pg-wire.js';

/** The server's messages of protocol v3, written into a {@link MessageBuilder}. */

/** Request codes of the untyped startup-phase packets. */
export const SSL_REQUEST = 80_877_103;
export const GSSENC_REQUEST = 80_877_104;
export const CANCEL_REQUEST = 80_877_102;
export const PROTOCOL_3 = 3 << 16;

export type TransactionStatus = 'I' | 'T' | 'E';

export interface DescribedColumn {
  readonly name: string;
  readonly type: PgColumnType;
}

export function authentication(out: MessageBuilder, code: number, data?: string): void {
  out.begin('R').int32(code);
  if (data !== undefined) out.text(data);
  out.end();
}

export function parameterStatus(out: MessageBuilder, name: string, value: string): void {
  out.begin('S').cstring(name).cstring(value).end();
}

export function backendKeyData(out: MessageBuilder, pid: number, secret: number): void {
  out.begin('K').int32(pid).int32(secret).end();
}

export function readyForQuery(out: MessageBuilder, status: TransactionStatus): void {
  out.begin('Z').byte(status.charCodeAt(0)).end();
}

/** RowDescription; `formats` holds one format for all columns, one per column, or none (text). */
export function rowDescription(
  out: MessageBuilder,
  columns: readonly DescribedColumn[],
  formats: readonly number[],
): void {
  out.begin('T').int16(columns.length);
  columns.forEach((column, i) => {
    out
      .cstring(column.name)
      .int32(0)
      .int16(0)
      .int32(column.type.oid)
      .int16(column.type.size)
      .int32(column.type.modifier)
      .int16(formatOf(formats, i));
  });
  out.end();
}

/** The format of column `i` under a Bind's result formats (none: text; one: all columns; else one each). */
export function formatOf(formats: readonly number[], i: number): number {
  if (formats.length === 0) return 0;
  return (formats.length === 1 ? formats[0] : formats[i]) ?? 0;
}

export function parameterDescription(out: MessageBuilder, types: readonly number[]): void {
  out.begin('t').int16(types.length);
  for (const oid of types) out.int32(oid);
  out.end();
}

export function commandComplete(out: MessageBuilder, tag: string): void {
  out.begin('C').cstring(tag).end();
}

/** A message with no fields: ParseComplete (`1`), BindComplete (`2`), CloseComplete (`3`), NoData (`n`), ... */
export function empty(out: MessageBuilder, type: '1' | '2' | '3' | 'n' | 's' | 'I' | 'c'): void {
  out.begin(type).end();
}

function fields(out: MessageBuilder, type: 'E' | 'N', error: PgErrorFields): void {
  out.begin(type);
  out.byte(0x53).cstring(error.severity); // S
  out.byte(0x56).cstring(error.severity); // V: the severity, never localised
  out.byte(0x43).cstring(error.code); // C
  out.byte(0x4d).cstring(error.message); // M
  if (error.detail) out.byte(0x44).cstring(error.detail); // D
  if (error.hint) out.byte(0x48).cstring(error.hint); // H
  if (error.position !== undefined) out.byte(0x50).cstring(String(error.position)); // P
  out.byte(0).end();
}

export function errorResponse(out: MessageBuilder, error: PgErrorFields): void {
  fields(out, 'E', error);
}

export function noticeResponse(out: MessageBuilder, code: string, message: string): void {
  out.begin('N');
  out.byte(0x53).cstring('WARNING');
  out.byte(0x56).cstring('WARNING');
  out.byte(0x43).cstring(code);
  out.byte(0x4d).cstring(message);
  out.byte(0).end();
}

/** NegotiateProtocolVersion: the newest minor version served (3.0) and the `_pq_` options not understood. */
export function negotiateProtocolVersion(out: MessageBuilder, unknownOptions: readonly string[]): void {
  out.begin('v').int32(PROTOCOL_3).int32(unknownOptions.length);
  for (const name of unknownOptions) out.cstring(name);
  out.end();
}
