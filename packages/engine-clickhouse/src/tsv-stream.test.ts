import { describe, expect, it } from 'vitest';
import { TsvStream } from './tsv-stream.js';

const fail = (text: string): never => {
  throw new Error(text);
};

describe('TabSeparatedWithNamesAndTypes, as it arrives', () => {
  it('reads the header, then rows split anywhere across chunks, into batches by column', () => {
    const stream = new TsvStream(fail);
    for (const chunk of ['id\tna', 'me\nUInt64\tNullable(String)\n1\ta\\tb\n', '2\t\\N\n3\tc', '\n'])
      stream.push(chunk);
    stream.finish();
    expect(stream.header?.schema.map((c) => [c.name, c.type.kind])).toEqual([
      ['id', 'bigint'],
      ['name', 'string'],
    ]);
    expect(stream.takeBatch()).toEqual({
      rowCount: 3,
      columns: [
        [1n, 2n, 3n],
        ['a\tb', null, 'c'],
      ],
    });
    expect(stream.takeBatch()).toBeUndefined();
  });

  it('reads the header’s names and types escaped as fields are, a time zone included', () => {
    const stream = new TsvStream(fail);
    stream.push("a\\tb\nDateTime(\\'Asia/Tokyo\\')\n2024-01-02 12:04:05\n");
    stream.finish();
    expect(stream.header?.schema.map((c) => c.name)).toEqual(['a\tb']);
    expect(stream.takeBatch()?.columns).toEqual([[1704164645000000n]]);
  });

  it('turns an exception written into a begun response into an error, also in a one-column result', () => {
    const stream = new TsvStream(fail);
    stream.push('n\nUInt64\n1\n');
    expect(() =>
      stream.push(
        'Code: 241, e.displayText() = DB::Exception: Memory limit (for query) exceeded, e.what() = DB::Exception\n',
      ),
    ).toThrow(/Memory limit/);
    // A shard lost mid-result is a DB::NetException, in both spellings: an error, never a row of a String column.
    for (const line of [
      'Code: 209, e.displayText() = DB::NetException: Timeout exceeded while reading from socket (10.0.0.7:9000), e.what() = DB::NetException\n',
      'Code: 210. DB::NetException: Connection reset by peer, while reading from socket (10.0.0.7:9000). (NETWORK_ERROR)\n',
    ]) {
      const text = new TsvStream(fail);
      text.push('api\nString\napi-1\n');
      expect(() => text.push(line), line).toThrow(/NetException/);
    }
  });

  it('refuses a response in another format (a FORMAT clause) and one cut off before its header', () => {
    const json = new TsvStream(fail);
    expect(() => json.push('{\n\t"meta":\n')).toThrow(/FORMAT clauses are not allowed/);
    const cut = new TsvStream(fail);
    cut.push('n\n');
    expect(() => cut.finish()).toThrow(/before its header/);
  });
});
